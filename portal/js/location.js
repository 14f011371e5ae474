// "Alerts where you are": sharing the browser's position with the relay for alert targeting
// (device.location), only while this page is open and only after the citizen has read what
// is kept: the relay keeps the latest fix alone and forgets it LOCATION_TTL_S after it was
// sent. Nothing here is stored in the browser but the choice itself ("on" or not).
//
// Throttled well inside the citizen frame limits (docs/protocol.md, 10.1): at most one fix
// every MIN_GAP_MS, only when the position moved MOVE_M or more, and once every REFRESH_MS
// while standing still so the relay's fix never lapses while the page is open.

import { byId, say } from "./dom.js";
import { problem } from "./errors.js";
import { locale, onLanguageChange, plural, t } from "./i18n.js";
import { LOCATION_TTL_S } from "./protocol.js";

const KEY = "lookout.location-sharing";
const MIN_GAP_MS = 5000;
const MOVE_M = 50;
const REFRESH_MS = 30 * 60 * 1000;

/** Great-circle distance in metres (the relay's sphere, docs/protocol.md 5.6). */
export function metresBetween(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function setupLocation({ link }) {
  const toggle = byId("share-toggle");
  const status = byId("share-state");
  const hours = LOCATION_TTL_S / 3600;
  let watch = null;
  let latest = null; // the newest fix the browser gave: {lat, lon, accuracy}
  let sent = null; // the last fix the relay acknowledged, and when: {lat, lon, at}
  let timer = null;
  let online = false;

  const wanted = () => localStorage.getItem(KEY) === "on";

  function render() {
    toggle.textContent = wanted() ? t("share.stop") : t("share.start");
    toggle.setAttribute("aria-pressed", String(wanted()));
    byId("share-why").textContent = plural("share.why", hours);
  }

  function due(now) {
    if (latest === null) return false;
    if (sent === null) return true;
    return metresBetween(sent, latest) >= MOVE_M || now - sent.at >= REFRESH_MS;
  }

  /** Send the newest fix if it is worth sending and the gap allows; else come back later. */
  async function pump() {
    clearTimeout(timer);
    timer = null;
    if (!wanted() || !online || latest === null) return;
    const now = Date.now();
    if (sent !== null && now - sent.at < MIN_GAP_MS) {
      timer = setTimeout(pump, MIN_GAP_MS - (now - sent.at));
      return;
    }
    if (!due(now)) {
      timer = setTimeout(pump, REFRESH_MS - (now - sent.at));
      return;
    }
    const fix = latest;
    sent = { lat: fix.lat, lon: fix.lon, at: now }; // claimed before the await: one in flight
    try {
      await link.request({ type: "device.location", lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy });
      if (!wanted()) return; // stopped while it was on its way
      const time = new Intl.DateTimeFormat(locale(), { timeStyle: "short" }).format(new Date(now));
      say(status, plural("share.sent", hours, { time }), "ok");
    } catch (err) {
      sent = null; // try again with the next fix or reconnect
      if (wanted()) say(status, problem(err), "bad");
      return;
    }
    timer = setTimeout(pump, REFRESH_MS);
  }

  function begin() {
    if (watch !== null || !wanted()) return;
    if (!("geolocation" in navigator)) {
      say(status, t("share.unavailable"), "bad");
      return;
    }
    say(status, t("share.finding"));
    watch = navigator.geolocation.watchPosition(
      (pos) => {
        const { latitude, longitude, accuracy } = pos.coords;
        latest = { lat: latitude, lon: longitude, accuracy: Number.isFinite(accuracy) ? Math.max(0, accuracy) : 0 };
        pump();
      },
      (err) => {
        if (err.code === err.PERMISSION_DENIED) {
          end();
          localStorage.removeItem(KEY);
          render();
          say(status, t("share.denied"), "bad");
        } else {
          say(status, t("share.failed"), "bad");
        }
      },
      { enableHighAccuracy: false, maximumAge: 60000, timeout: 30000 },
    );
  }

  function end() {
    if (watch !== null) navigator.geolocation.clearWatch(watch);
    watch = null;
    clearTimeout(timer);
    timer = null;
    latest = null;
  }

  toggle.addEventListener("click", () => {
    if (wanted()) {
      localStorage.removeItem(KEY);
      end();
      sent = null;
      render();
      say(status, plural("share.stopped", hours), "ok");
    } else {
      localStorage.setItem(KEY, "on");
      render();
      begin();
    }
  });

  onLanguageChange(render);
  render();
  if (wanted()) say(status, t("share.finding"));

  return {
    /** After each (re)authentication: the relay may have missed a fix while the link was
     * down, so the next one goes at once. */
    online() {
      online = true;
      sent = null;
      begin();
      pump();
    },
    /** The device is being forgotten: stop, and forget the choice. */
    forget() {
      online = false;
      end();
      sent = null;
      localStorage.removeItem(KEY);
      render();
      say(status, "");
    },
  };
}
