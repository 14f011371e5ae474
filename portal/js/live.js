// Alerts as they arrive (alert.deliver, docs/protocol.md 4.5) and the list of those still
// active for this device. Each alert is stored in this browser before it is acknowledged
// `delivered`, and acknowledged `read` when the citizen opens it; an Update replaces its
// original, a Cancel removes it, an expired one drops off. An alert whose CAP status is
// not Actual (a pilot's Exercise, a Test) is marked as a rehearsal everywhere it shows and
// never wears a real alert's colours or sound.
//
// Every word an officer wrote goes in through textContent (dom.js `el`), isolated for
// direction, so hostile text shows literally.

import { byId, el } from "./dom.js";
import { language, locale, onLanguageChange, plural, t } from "./i18n.js";

const KEY = "lookout.alerts";
const MAX_TIMER_MS = 2 ** 31 - 1;

/** "actual" | "exercise" | "test": how an alert must look, from its CAP status. */
export function kindOf(alert) {
  if (alert.status === undefined || alert.status === "Actual") return "actual";
  return alert.status === "Exercise" ? "exercise" : "test";
}

/** What makes one version of an alert differ from another (an Update changes it). */
function versionOf(a) {
  return JSON.stringify([a.msg_type, a.headline, a.description, a.instruction, a.contact, a.incident_ref, a.expires_at, a.area_desc, a.status, a.translations ?? []]);
}

function baseLanguage(tag) {
  return String(tag ?? "").toLowerCase().split("-")[0];
}

/** The alert's words in the language this page shows when the alert was sent in it (a
 * translation, e.g. Welsh), else as the officer wrote them: {language, headline,
 * description, instruction}. */
export function worded(alert) {
  const own = { language: alert.language ?? "en-GB", headline: alert.headline, description: alert.description, instruction: alert.instruction };
  const others = Array.isArray(alert.translations) ? alert.translations.filter((x) => x && typeof x === "object") : [];
  const want = language();
  return [own, ...others].find((b) => baseLanguage(b.language) === want) ?? own;
}

function load() {
  try {
    const found = JSON.parse(localStorage.getItem(KEY) ?? "null");
    if (found && typeof found.active === "object" && typeof found.cancelled === "object") return found;
  } catch {
    // unreadable: start empty
  }
  return { active: {}, cancelled: {} };
}

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

/** Officer text: as text, its direction its own (a right-to-left override stays inside),
 * in its language (`lang`, for screen readers and hyphenation). */
function said(tag, className, value, lang = null) {
  const props = { className, dir: "auto", text: text(value) };
  if (lang) props.lang = String(lang);
  return el(tag, props);
}

export function setupLive({ link }) {
  const list = byId("live-list");
  const summary = byId("live-summary");
  let store = load();
  let banner = null; // {id, withdrawn: headline|null}
  let expiryTimer = null;
  let audio = null;

  // ------------------------------------------------------------ the page's parts
  const bannerBox = el("div", { id: "alert-banner", className: "alert-banner", role: "alert", hidden: "" });
  const dialog = el("dialog", { id: "alert-dialog", className: "alert-dialog", "aria-labelledby": "alert-dialog-h" });
  document.querySelector("header").after(bannerBox); // above every screen, below the bar
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.replaceChildren());

  // Sound needs a user gesture first (browsers refuse audio before one): the first tap or
  // key on the page makes the audio context; from then on an alert can beep.
  function unlock() {
    const Ctx = window.AudioContext ?? window.webkitAudioContext;
    if (audio === null && Ctx !== undefined) {
      try {
        audio = new Ctx();
      } catch {
        audio = null;
      }
    }
    if (audio !== null && audio.state === "suspended") audio.resume().catch(() => {});
  }
  document.addEventListener("pointerdown", unlock, { capture: true });
  document.addEventListener("keydown", unlock, { capture: true });

  /** A real alert: three high beeps; a rehearsal: two low ones. Generated, no file. */
  function beep(kind) {
    if (audio === null || audio.state !== "running") return;
    const [count, hz] = kind === "actual" ? [3, 880] : [2, 520];
    const start = audio.currentTime + 0.05;
    for (let i = 0; i < count; i++) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = hz;
      const at = start + i * 0.3;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.22);
    }
  }

  function buzz(kind) {
    // browsers allow vibration only after the user has touched the page
    if (typeof navigator.vibrate !== "function") return;
    if (navigator.userActivation && !navigator.userActivation.hasBeenActive) return;
    navigator.vibrate(kind === "actual" ? [300, 150, 300, 150, 300] : [150]);
  }

  // ------------------------------------------------------------ storage and receipts
  function save() {
    localStorage.setItem(KEY, JSON.stringify(store));
  }

  function prune() {
    const now = Date.now() / 1000;
    let changed = false;
    for (const [id, entry] of Object.entries(store.active)) {
      if (!(Number(entry.alert.expires_at) > now)) {
        delete store.active[id];
        changed = true;
      }
    }
    for (const [id, until] of Object.entries(store.cancelled)) {
      if (!(Number(until) > now)) {
        delete store.cancelled[id];
        changed = true;
      }
    }
    if (changed) save();
    return changed;
  }

  async function ack(alertId, status) {
    try {
      await link.request({ type: "alert.ack", alert_id: alertId, status });
      return true;
    } catch {
      return false; // the relay pushes it again after the next authentication
    }
  }

  async function received(msg) {
    const a = msg.alert;
    if (typeof a !== "object" || a === null || typeof a.alert_id !== "string") return;
    const id = a.alert_id;
    prune();
    if (a.msg_type === "Cancel") {
      const known = store.active[id];
      if (known !== undefined) {
        delete store.active[id];
        if (banner !== null && banner.id === id) banner = { id, withdrawn: known.alert };
        else if (banner === null) banner = { id, withdrawn: known.alert };
      }
      store.cancelled[id] = Number(a.expires_at) || Date.now() / 1000 + 86400;
      save();
      render();
      await ack(id, "delivered"); // acknowledged even when unknown (protocol 4.1)
      return;
    }
    const version = versionOf(a);
    const known = store.active[id];
    const fresh = store.cancelled[id] === undefined && Number(a.expires_at) > Date.now() / 1000;
    if (fresh && (known === undefined || known.version !== version)) {
      store.active[id] = { alert: a, version, read: false, readAcked: false, at: Date.now() };
      save(); // stored before `delivered`
      banner = { id, withdrawn: null };
      render();
      beep(kindOf(a));
      buzz(kindOf(a));
    }
    await ack(id, "delivered");
  }

  /** The citizen opened it: the whole text, and `read` to the control room. */
  async function open(id) {
    const entry = store.active[id];
    if (entry === undefined) return;
    showDialog(entry.alert);
    if (banner !== null && banner.id === id) {
      banner = null;
      renderBanner();
    }
    if (!entry.read) {
      entry.read = true;
      save();
      renderList();
    }
    if (!entry.readAcked && (await ack(id, "read"))) {
      const still = store.active[id];
      if (still !== undefined && still.version === entry.version) {
        still.readAcked = true;
        save();
      }
    }
  }

  // ------------------------------------------------------------ rendering
  function when(seconds) {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(Number(seconds) * 1000));
  }

  function kindLabel(a) {
    const kind = kindOf(a);
    if (kind === "exercise") return t("live.kind_exercise");
    if (kind === "test") return t("live.kind_test");
    return a.msg_type === "Update" ? t("live.kind_update") : t("live.kind_alert");
  }

  /** Incident number, contact and expiry: the lines every view of an alert carries. */
  function facts(a) {
    const rows = [];
    if (text(a.incident_ref)) rows.push([t("live.incident"), said("span", "", a.incident_ref)]);
    if (text(a.contact)) rows.push([t("live.contact"), said("span", "", a.contact)]);
    if (text(a.area_desc)) rows.push([t("live.area"), said("span", "", a.area_desc)]);
    rows.push([t("live.expires"), el("span", { text: when(a.expires_at) })]);
    return el("dl", { className: "alert-facts" }, ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
  }

  function badge(a) {
    return el("p", { className: `alert-kind kind-${kindOf(a)}`, text: kindLabel(a) });
  }

  function renderBanner() {
    if (banner !== null && banner.withdrawn === null && store.active[banner.id] === undefined) banner = null;
    if (banner === null) {
      bannerBox.hidden = true;
      bannerBox.replaceChildren();
      return;
    }
    const dismiss = el("button", { type: "button", className: "alert-dismiss", text: t("live.dismiss") });
    dismiss.addEventListener("click", () => {
      banner = null;
      renderBanner();
    });
    if (banner.withdrawn !== null) {
      const a = banner.withdrawn;
      bannerBox.className = "alert-banner withdrawn";
      bannerBox.dataset.alert = banner.id;
      bannerBox.replaceChildren(
        el("p", { className: "alert-kind", text: t("live.withdrawn") }),
        said("p", "alert-headline", worded(a).headline, worded(a).language),
        el("div", { className: "alert-actions" }, dismiss),
      );
    } else {
      const a = store.active[banner.id].alert;
      const openIt = el("button", { type: "button", className: "alert-open", text: t("live.open") });
      const id = banner.id;
      openIt.addEventListener("click", () => open(id));
      bannerBox.className = `alert-banner kind-${kindOf(a)}`;
      bannerBox.dataset.alert = id;
      const w = worded(a);
      const parts = [badge(a), said("p", "alert-headline", w.headline, w.language)];
      if (kindOf(a) !== "actual") parts.push(el("p", { className: "alert-rehearsal", text: t("live.rehearsal") }));
      parts.push(el("p", { className: "alert-when", text: t("live.until", { time: when(a.expires_at) }) }));
      parts.push(el("div", { className: "alert-actions" }, openIt, dismiss));
      bannerBox.replaceChildren(...parts);
    }
    bannerBox.hidden = false;
  }

  function showDialog(a) {
    const close = el("button", { type: "button", className: "primary", text: t("live.close") });
    close.addEventListener("click", () => dialog.close());
    const parts = [badge(a)];
    if (kindOf(a) !== "actual") parts.push(el("p", { className: "alert-rehearsal", text: t("live.rehearsal") }));
    const w = worded(a);
    const heading = el("h2", { id: "alert-dialog-h", className: "alert-headline", dir: "auto", lang: String(w.language), tabindex: "-1", text: text(w.headline) });
    parts.push(heading);
    if (text(w.description)) parts.push(said("p", "alert-description", w.description, w.language));
    if (text(w.instruction)) {
      parts.push(el("h3", { text: t("live.what_to_do") }), said("p", "alert-instruction", w.instruction, w.language));
    }
    parts.push(facts(a), el("p", { className: "alert-when", text: t("live.sent", { time: when(a.sent_at) }) }));
    if (kindOf(a) !== "actual") parts.push(el("p", { className: "alert-rehearsal", text: t("live.rehearsal") }));
    parts.push(close);
    dialog.className = `alert-dialog kind-${kindOf(a)}`;
    dialog.dataset.alert = a.alert_id;
    dialog.replaceChildren(...parts);
    if (!dialog.open) dialog.showModal();
    dialog.scrollTop = 0;
    heading.focus(); // read from the top: the kind (EXERCISE) first, then the headline
  }

  function renderList() {
    const entries = Object.values(store.active).sort((x, y) => Number(y.alert.sent_at) - Number(x.alert.sent_at));
    summary.textContent = entries.length ? plural("live.count", entries.length) : t("live.none");
    list.replaceChildren(
      ...entries.map(({ alert: a, read }) => {
        const openIt = el("button", { type: "button", text: read ? t("live.open_again") : t("live.open") });
        openIt.addEventListener("click", () => open(a.alert_id));
        return el(
          "li",
          { "data-alert": a.alert_id, className: `alert-item kind-${kindOf(a)}${read ? "" : " unread"}` },
          badge(a),
          said("p", "alert-headline", worded(a).headline, worded(a).language),
          facts(a),
          openIt,
        );
      }),
    );
  }

  function scheduleExpiry() {
    clearTimeout(expiryTimer);
    const times = [...Object.values(store.active).map((e) => Number(e.alert.expires_at)), ...Object.values(store.cancelled).map(Number)];
    if (!times.length) return;
    const wait = Math.min(MAX_TIMER_MS, Math.max(1000, Math.min(...times) * 1000 - Date.now() + 500));
    expiryTimer = setTimeout(() => {
      prune();
      render();
    }, wait);
  }

  function render() {
    prune();
    renderBanner();
    renderList();
    scheduleExpiry();
    if (dialog.open && store.active[dialog.dataset.alert] === undefined) dialog.close();
  }

  link.on("alert.deliver", (msg) => {
    received(msg);
  });
  onLanguageChange(render);
  render();

  return {
    /** After each (re)authentication: `read` receipts the link dropped go again. */
    async online() {
      for (const [id, entry] of Object.entries(store.active)) {
        if (entry.read && !entry.readAcked && (await ack(id, "read"))) {
          entry.readAcked = true;
          save();
        }
      }
    },
    forget() {
      store = { active: {}, cancelled: {} };
      banner = null;
      if (dialog.open) dialog.close();
      render();
    },
  };
}
