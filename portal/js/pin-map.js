// "Choose on a map": a small map with one pin, in a modal dialog, for a report's position
// and for the email sign-up's place. Drag the pin, tap the map, or (with the map focused)
// move it with the arrow keys; or type the coordinates. "Use this place" hands them back,
// "Cancel" (or Escape) hands back nothing; focus goes back where it was either way.
//
// Leaflet (the console's own 1.9.3, which the relay serves from folium-offline) is loaded
// only when the map is first opened, so the portal's first load stays small. The base map
// comes from the relay's tile pack (/tiles/...), never from another host; with no pack the
// map is a plain background with a scale, a crosshair and the pin's coordinates as text.
// Under the strict CSP nothing here writes a style attribute or parses HTML: Leaflet sets
// its positions through the CSSOM (element.style), which CSP allows, and the pin is a DOM
// node (L.divIcon with an element, not a string).

import { el } from "./dom.js";
import { t } from "./i18n.js";

const STEP_PX = 10; // one arrow key press moves the pin this far on screen; Shift: 5x
const DIGITS = 5; // about a metre: what a hand on a map can choose
let config = null; // /portal-config.json's map, fetched once
let leaflet = null; // the promise of window.L

async function mapConfig() {
  if (config === null) {
    const answer = await fetch("/portal-config.json", { credentials: "same-origin", cache: "no-store" });
    if (!answer.ok) throw new Error(`portal-config: HTTP ${answer.status}`);
    config = (await answer.json()).map ?? {};
  }
  return config;
}

function loadLeaflet(files) {
  if (window.L) return Promise.resolve(window.L);
  leaflet ??= new Promise((resolve, reject) => {
    const css = el("link", { rel: "stylesheet", href: files.css });
    const script = el("script", { src: files.js });
    let waiting = 2;
    const done = () => {
      waiting -= 1;
      if (waiting === 0) resolve(window.L);
    };
    const failed = () => {
      leaflet = null; // a later try may work (the link came back)
      css.remove();
      script.remove();
      reject(new Error("leaflet did not load"));
    };
    css.addEventListener("load", done);
    script.addEventListener("load", done);
    css.addEventListener("error", failed);
    script.addEventListener("error", failed);
    document.head.append(css, script);
  });
  return leaflet;
}

/** A typed coordinate: { value } or { error } (a catalogue key), checked like the relay. */
export function readCoordinate(text, kind) {
  const limit = kind === "lat" ? 90 : 180;
  const trimmed = String(text).trim();
  if (trimmed === "") return { error: `pin.need_${kind}` };
  const value = Number(trimmed.replace(",", "."));
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(trimmed.replace(",", ".")) || !Number.isFinite(value)) {
    return { error: `pin.not_number_${kind}` };
  }
  if (Math.abs(value) > limit) return { error: `pin.range_${kind}` };
  return { value };
}

const round = (v) => Math.round(v * 10 ** DIGITS) / 10 ** DIGITS;

/** Coordinates for people: 4 decimals (about 10 m). */
export function showPlace(place) {
  return t("pin.coordinates", { lat: place.lat.toFixed(4), lon: place.lon.toFixed(4) });
}

/** Where the browser is, if it already may say (no prompt is raised for this). */
async function knownPosition() {
  try {
    const state = await navigator.permissions?.query({ name: "geolocation" });
    if (state?.state !== "granted") return null;
    return await new Promise((resolve) => {
      navigator.geolocation.getCurrentPosition(
        (pos) => resolve({ lat: pos.coords.latitude, lon: pos.coords.longitude }),
        () => resolve(null),
        { enableHighAccuracy: false, timeout: 3000, maximumAge: 600000 },
      );
    });
  } catch {
    return null;
  }
}

function buildDialog() {
  const ids = (name) => `pin-${name}`;
  const field = (kind) => {
    const input = el("input", { id: ids(kind), inputmode: "decimal", autocomplete: "off", "aria-describedby": ids("typed-msg") });
    return el("div", { className: "pin-field" }, el("label", { for: ids(kind), text: t(`pin.${kind}`) }), input);
  };
  const parts = {
    heading: el("h2", { id: ids("heading"), text: t("pin.heading") }),
    hint: el("p", { id: ids("hint"), className: "hint", text: t("pin.hint") }),
    nobase: el("p", { className: "pin-nobase notice", text: t("pin.no_base_map") }),
    frame: el("div", { className: "pin-frame" }),
    map: el("div", {
      id: ids("map"),
      className: "pin-map",
      tabindex: "0",
      role: "application",
      "aria-roledescription": t("pin.map_role"),
      "aria-label": t("pin.map_label"),
      "aria-describedby": ids("hint"),
    }),
    cross: el("div", { className: "pin-crosshair", "aria-hidden": "true" }),
    coords: el("p", { id: ids("coords"), className: "pin-coords", role: "status", "aria-live": "polite" }),
    attribution: el("p", { className: "pin-attribution" }),
    typed: el("details", { className: "pin-typed" }),
    go: el("button", { type: "button", className: "pin-go", text: t("pin.go") }),
    typedMsg: el("p", { id: ids("typed-msg"), className: "msg", role: "alert" }),
    use: el("button", { type: "button", className: "primary pin-use", text: t("pin.use") }),
    cancel: el("button", { type: "button", className: "pin-cancel", text: t("pin.cancel") }),
  };
  parts.lat = field("lat");
  parts.lon = field("lon");
  parts.frame.append(parts.map, parts.cross);
  parts.typed.append(
    el("summary", { text: t("pin.type") }),
    el("div", { className: "pin-fields" }, parts.lat, parts.lon),
    parts.go,
    parts.typedMsg,
  );
  const dialog = el("dialog", { className: "pin-dialog", "aria-labelledby": ids("heading") });
  dialog.append(
    parts.heading,
    parts.hint,
    parts.nobase,
    parts.frame,
    parts.coords,
    parts.attribution,
    parts.typed,
    el("div", { className: "pin-actions" }, parts.cancel, parts.use),
  );
  parts.latInput = parts.lat.querySelector("input");
  parts.lonInput = parts.lon.querySelector("input");
  return { dialog, parts };
}

/** Open the picker. `start`: a place to begin at (else the device's, else the relay's
 * default). Resolves to { lat, lon } ("Use this place") or null (Cancel, Escape). */
export async function choosePlace({ start = null } = {}) {
  const opener = document.activeElement;
  const settings = await mapConfig().catch(() => ({}));
  const fallback = Array.isArray(settings.centre) ? { lat: settings.centre[0], lon: settings.centre[1] } : { lat: 53.759, lon: -2.699 };
  const near = start ?? (await knownPosition()); // a street to show, not a whole town
  let place = near ?? fallback;
  place = { lat: round(place.lat), lon: round(place.lon) };
  const { dialog, parts } = buildDialog();
  const tiles = settings.tiles ?? null;
  parts.nobase.hidden = tiles !== null;
  parts.attribution.textContent = tiles?.attribution ?? "";
  parts.attribution.hidden = !tiles?.attribution;
  parts.typed.open = tiles === null;
  if (start !== null) {
    parts.latInput.value = place.lat.toFixed(DIGITS);
    parts.lonInput.value = place.lon.toFixed(DIGITS);
  }
  document.body.append(dialog);
  dialog.showModal();

  let answer = null;
  const closed = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      map?.remove();
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(answer);
    });
  });
  parts.cancel.addEventListener("click", () => dialog.close());

  let map = null;
  let marker = null;
  const show = () => {
    parts.coords.textContent = t("pin.at", { place: showPlace(place) });
    dialog.dataset.lat = String(place.lat); // for tests and assistive tools: the exact pin
    dialog.dataset.lon = String(place.lon);
  };
  const move = (latlng, { keepInView = false, fromMap = true } = {}) => {
    const wrapped = window.L.latLng(latlng).wrap();
    place = { lat: round(Math.max(-90, Math.min(90, wrapped.lat))), lon: round(wrapped.lng) };
    marker.setLatLng([place.lat, place.lon]);
    // the whole pin stays in sight (it stands 40 px above its point); no animation, so
    // each key press lands where the last one left the map
    if (keepInView) map.panInside(marker.getLatLng(), { paddingTopLeft: [24, 52], paddingBottomRight: [24, 16], animate: false });
    if (fromMap) {
      parts.latInput.value = "";
      parts.lonInput.value = "";
    }
    show();
  };
  show();

  try {
    if (!settings.leaflet) throw new Error("no leaflet on this relay");
    const L = await loadLeaflet(settings.leaflet);
    if (!dialog.open) return closed; // closed while Leaflet was on its way
    const native = tiles === null ? {} : { min: tiles.minzoom ?? 0, max: tiles.maxzoom ?? 19 };
    map = L.map(parts.map, {
      center: [place.lat, place.lon],
      zoom: near === null ? (settings.zoom ?? 14) : 16,
      minZoom: tiles === null ? 3 : Math.max(0, (native.min ?? 0) - 2),
      maxZoom: 19,
      keyboard: false, // the arrow keys move the pin (below), not the map
      attributionControl: false, // the pack's attribution is shown as text, below the map
      zoomControl: false,
    });
    L.control.zoom({ zoomInTitle: t("pin.zoom_in"), zoomOutTitle: t("pin.zoom_out") }).addTo(map);
    L.control.scale({ maxWidth: 120 }).addTo(map);
    if (tiles !== null) {
      const b = tiles.bounds;
      L.tileLayer(tiles.url, {
        minNativeZoom: native.min,
        maxNativeZoom: native.max,
        maxZoom: 19,
        bounds: Array.isArray(b) ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : undefined,
        keepBuffer: 1,
      }).addTo(map);
    }
    const pin = el("span", { className: "pin-shape" });
    marker = L.marker([place.lat, place.lon], {
      icon: L.divIcon({ className: "pin-marker", html: pin, iconSize: [30, 42], iconAnchor: [15, 42] }),
      draggable: true,
      keyboard: false,
      autoPan: true,
    }).addTo(map);
    marker.on("dragend", () => move(marker.getLatLng()));
    map.on("click", (event) => {
      move(event.latlng);
      parts.map.focus({ preventScroll: true }); // then the arrow keys carry on from there
    });
    parts.map.addEventListener("keydown", (event) => {
      const step = event.shiftKey ? STEP_PX * 5 : STEP_PX;
      const delta = { ArrowUp: [0, -step], ArrowDown: [0, step], ArrowLeft: [-step, 0], ArrowRight: [step, 0] }[event.key];
      if (delta) {
        event.preventDefault();
        const point = map.latLngToContainerPoint(marker.getLatLng()).add(delta);
        move(map.containerPointToLatLng(point), { keepInView: true });
      } else if (event.key === "+" || event.key === "=") {
        event.preventDefault();
        map.zoomIn();
      } else if (event.key === "-" || event.key === "_") {
        event.preventDefault();
        map.zoomOut();
      }
    });
  } catch {
    parts.frame.hidden = true;
    parts.nobase.textContent = t("pin.no_map");
    parts.nobase.hidden = false;
    parts.typed.open = true;
    parts.hint.textContent = t("pin.hint_typed");
  }

  parts.go.addEventListener("click", () => {
    const lat = readCoordinate(parts.latInput.value, "lat");
    const lon = readCoordinate(parts.lonInput.value, "lon");
    for (const [input, got] of [[parts.latInput, lat], [parts.lonInput, lon]]) {
      if (got.error) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    const bad = lat.error ? [parts.latInput, lat.error] : lon.error ? [parts.lonInput, lon.error] : null;
    if (bad !== null) {
      parts.typedMsg.textContent = t(bad[1]);
      parts.typedMsg.className = "msg bad";
      bad[0].focus();
      return;
    }
    parts.typedMsg.textContent = "";
    parts.typedMsg.className = "msg";
    if (map !== null) {
      move([lat.value, lon.value], { fromMap: false });
      map.setView(marker.getLatLng(), Math.max(map.getZoom(), 14));
    } else {
      place = { lat: round(lat.value), lon: round(lon.value) };
      show();
    }
  });

  parts.use.addEventListener("click", () => {
    const typedSomething = parts.latInput.value.trim() !== "" || parts.lonInput.value.trim() !== "";
    if (map === null || typedSomething) {
      parts.go.click(); // typed coordinates count only when they are valid
      if (parts.typedMsg.textContent) return;
    }
    answer = { ...place };
    dialog.close();
  });
  // Leaflet measures its box when made; the dialog had only just been laid out
  map?.invalidateSize();
  (map === null ? parts.latInput : parts.map).focus();
  return closed;
}

/** Wire a "Choose on a map" button to a pair of latitude/longitude inputs: the map starts
 * at what they hold (when valid) and fills them on "Use this place". */
export function attachPicker({ button, lat, lon, digits = DIGITS, onChosen = () => {} }) {
  button.addEventListener("click", async () => {
    const y = readCoordinate(lat.value, "lat");
    const x = readCoordinate(lon.value, "lon");
    const start = y.error || x.error ? null : { lat: y.value, lon: x.value };
    const place = await choosePlace({ start });
    if (place === null) return;
    lat.value = place.lat.toFixed(digits);
    lon.value = place.lon.toFixed(digits);
    for (const input of [lat, lon]) input.removeAttribute("aria-invalid");
    onChosen(place);
  });
}
