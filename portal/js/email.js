// "Alerts by email": a resident gives an address, a place and a radius, and the kinds of
// alert; the relay emails a link to confirm (double opt-in) and nothing else until it is
// opened (docs/email.md). Shown only when the relay says it sends email
// (/portal-config.json); sent as email.subscribe over the citizen link.

import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { locale, onLanguageChange, t } from "./i18n.js";
import { attachPicker } from "./pin-map.js"; // pin map
import { CATEGORIES } from "./protocol.js";

//: the radius choices (metres), kept to the relay's bounds from /portal-config.json
const RADII = [250, 500, 1000, 2000, 5000, 10000];
const DEFAULT_RADIUS = 1000;
// a line break or control character: never part of an address (header injection)
const CONTROL = /[\u0000-\u001f\u007f\u0085\u2028\u2029]/;

export async function emailEnabled() {
  try {
    const answer = await fetch("/portal-config.json", { credentials: "same-origin", cache: "no-store" });
    if (!answer.ok) return null;
    const config = await answer.json();
    return config && config.email === true ? config : null;
  } catch {
    return null;
  }
}

function coordinate(text, limit) {
  const value = Number(String(text).trim().replace(",", "."));
  return String(text).trim() !== "" && Number.isFinite(value) && Math.abs(value) <= limit ? value : null;
}

function distance(metres) {
  const km = metres >= 1000;
  const value = new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(km ? metres / 1000 : metres);
  return t(km ? "email.radius_km" : "email.radius_m", { value });
}

export function setupEmail({ link, config }) {
  const section = byId("email-signup");
  const form = byId("email-form");
  const address = byId("email-address");
  const lat = byId("email-lat");
  const lon = byId("email-lon");
  const radius = byId("email-radius");
  const where = byId("email-where-state");
  const choices = byId("email-choices");
  const msg = byId("email-msg");
  const send = byId("email-send");
  const [low, high] = Array.isArray(config.email_radius_m) ? config.email_radius_m : [100, 10000];
  const radii = RADII.filter((r) => r >= low && r <= high);

  function render() {
    const chosen = radius.value || String(DEFAULT_RADIUS);
    radius.replaceChildren(...radii.map((r) => el("option", { value: String(r), text: distance(r) })));
    radius.value = radii.includes(Number(chosen)) ? chosen : String(radii[0]);
    const ticked = new Set([...choices.querySelectorAll("input:checked")].map((i) => i.value));
    choices.replaceChildren(
      ...CATEGORIES.map((name) => {
        const input = el("input", { type: "checkbox", name: "email-category", value: name });
        input.checked = ticked.has(name);
        return el("label", {}, input, el("span", { text: t(`category.${name}`) }));
      }),
    );
  }

  byId("email-use-location").addEventListener("click", () => {
    if (!("geolocation" in navigator)) {
      say(where, t("email.location_unavailable"), "bad");
      return;
    }
    say(where, t("email.location_finding"));
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        lat.value = pos.coords.latitude.toFixed(4); // a place, not a doorstep: ~10 m
        lon.value = pos.coords.longitude.toFixed(4);
        say(where, t("email.location_found"), "ok");
      },
      () => say(where, t("email.location_failed"), "bad"),
      { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 },
    );
  });

  // pin map: the same picker as a report's; a place, so 4 decimals as above
  attachPicker({
    button: byId("email-pick-on-map"),
    lat,
    lon,
    digits: 4,
    onChosen: () => say(where, t("pin.email_chosen"), "ok"),
  });

  function invalid(field, key) {
    say(msg, t(key), "bad");
    if (field !== null) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
      field.addEventListener("input", () => field.removeAttribute("aria-invalid"), { once: true });
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = address.value.trim();
    const y = coordinate(lat.value, 90);
    const x = coordinate(lon.value, 180);
    const categories = [...choices.querySelectorAll("input:checked")].map((i) => i.value);
    // the relay checks the address (relay/mail/signup.py); this only catches the obvious
    if (!to || CONTROL.test(address.value)) return invalid(address, "email.need_address");
    if (y === null) return invalid(lat, "email.need_place");
    if (x === null) return invalid(lon, "email.need_place");
    if (categories.length === 0) return invalid(null, "email.need_category");
    send.disabled = true;
    say(msg, t("email.sending"));
    try {
      await link.request({ type: "email.subscribe", email: to, lat: y, lon: x, radius_m: Number(radius.value), categories });
      say(msg, t("email.check_inbox", { address: to }), "ok");
    } catch (err) {
      const key = { invalid: "email.refused", malformed: "email.refused", forbidden: "email.off" }[err.code];
      say(msg, key ? t(key) : problem(err), "bad");
    } finally {
      send.disabled = false;
    }
  });

  render();
  onLanguageChange(render);
  section.hidden = false;
}
