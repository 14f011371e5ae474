// "Send a report": a category, what was seen and where. The position comes from the
// browser's geolocation after the page has said what it is for ("Where I am"), from a pin
// on a map ("Choose on a map", pin-map.js), or is typed in; the form says which, and where.

import { pendingReport, setPendingReport } from "./device.js";
import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { onLanguageChange, t } from "./i18n.js";
import { choosePlace, showPlace } from "./pin-map.js"; // pin map
import { CATEGORIES } from "./protocol.js";

function fillCategories(select) {
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: t("report.category_choose") }));
  for (const name of CATEGORIES) select.append(el("option", { value: name, text: t(`category.${name}`) }));
  select.value = chosen;
}

function parseCoordinate(text, limit) {
  const value = Number(String(text).trim().replace(",", "."));
  return text.trim() !== "" && Number.isFinite(value) && Math.abs(value) <= limit ? value : null;
}

export function setupReport({ link, upload }) {
  const form = byId("report-form");
  const category = byId("report-category");
  const text = byId("report-text");
  const lat = byId("report-lat");
  const lon = byId("report-lon");
  const typed = byId("typed");
  const where = byId("where-state");
  const msg = byId("report-msg");
  const send = byId("report-send");
  // pin map: where the position in lat/lon came from ("device", "map", "typed"), and the
  // device's last fix (the map opens there)
  const whereSource = byId("where-source");
  let source = null;
  let device = null;

  function showSource() {
    const y = parseCoordinate(lat.value, 90);
    const x = parseCoordinate(lon.value, 180);
    const known = source !== null && y !== null && x !== null;
    whereSource.textContent = known ? t(`pin.source_${source}`, { place: showPlace({ lat: y, lon: x }) }) : "";
  }

  function positionFrom(kind) {
    source = kind;
    showSource();
  }

  for (const input of [lat, lon]) input.addEventListener("input", () => positionFrom("typed"));
  byId("pick-on-map").addEventListener("click", async () => {
    const y = parseCoordinate(lat.value, 90);
    const x = parseCoordinate(lon.value, 180);
    const place = await choosePlace({ start: y !== null && x !== null ? { lat: y, lon: x } : device });
    if (place === null) return; // cancelled: the position stays what it was
    lat.value = place.lat.toFixed(5);
    lon.value = place.lon.toFixed(5);
    for (const input of [lat, lon]) input.removeAttribute("aria-invalid");
    say(where, "");
    positionFrom("map");
  });
  // end pin map

  fillCategories(category);
  onLanguageChange(() => {
    fillCategories(category);
    showSource(); // pin map
  });

  byId("use-location").addEventListener("click", () => {
    if (!("geolocation" in navigator)) {
      say(where, t("report.location_unavailable"), "bad");
      typed.open = true;
      return;
    }
    say(where, t("report.location_finding"));
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        lat.value = pos.coords.latitude.toFixed(5);
        lon.value = pos.coords.longitude.toFixed(5);
        device = { lat: pos.coords.latitude, lon: pos.coords.longitude }; // pin map
        positionFrom("device"); // pin map
        typed.open = true; // the numbers that will be sent, shown and editable
        say(where, t("report.location_found", { metres: Math.round(pos.coords.accuracy) }), "ok");
      },
      (err) => {
        const key = err.code === err.PERMISSION_DENIED ? "report.location_denied" : "report.location_failed";
        say(where, t(key), "bad");
        typed.open = true;
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  });

  async function submit(report) {
    send.disabled = true;
    say(msg, t("report.sending"));
    try {
      const reply = await link.request(report);
      setPendingReport(null);
      say(msg, t("report.sent", { reference: reply.report_id }), "ok");
      await upload.accepted(report.client_ref, reply); // upload: its files follow
      return true;
    } catch (err) {
      if (err.code !== "offline") {
        setPendingReport(null); // refused: resending will not help
        await upload.refused(report.client_ref); // upload: nor will its files
      }
      say(msg, err.code === "offline" ? t("report.kept") : problem(err), "bad");
      return false;
    } finally {
      send.disabled = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const y = parseCoordinate(lat.value, 90);
    const x = parseCoordinate(lon.value, 180);
    if (!category.value) return invalid(category, "report.need_category");
    if (!text.value.trim()) return invalid(text, "report.need_text");
    if (y === null || x === null) {
      typed.open = true;
      return invalid(y === null ? lat : lon, "report.need_where");
    }
    const clientRef = crypto.randomUUID();
    let media;
    try {
      media = await upload.declare(clientRef); // upload: stored first, then declared
    } catch {
      return say(msg, t("upload.store_failed"), "bad"); // upload: the browser keeps no files
    }
    const report = {
      type: "report.submit",
      client_ref: clientRef,
      category: category.value,
      text: text.value,
      lat: y,
      lon: x,
      media,
    };
    setPendingReport(report); // before sending: a reload or a lost link resends it
    if (await submit(report)) {
      text.value = "";
      category.value = "";
      upload.clear(); // upload
    }
  });

  function invalid(field, key) {
    say(msg, t(key), "bad");
    field.setAttribute("aria-invalid", "true");
    field.focus();
    field.addEventListener("input", () => field.removeAttribute("aria-invalid"), { once: true });
  }

  return {
    /** After each (re)authentication: a report still waiting goes again, same client_ref. */
    async resume() {
      const waiting = pendingReport();
      if (waiting !== null) await submit(waiting);
      await upload.resume(pendingReport()?.client_ref ?? null); // upload: files carry on
    },
  };
}
