// "Your data" (issue 11, deliverable 3; docs/privacy.md is the policy): what the relay
// holds about this device right now (privacy.export, every page, following the cursor),
// all of it downloaded as one JSON file (a GDPR article 15 subject access copy), and its
// erasure (privacy.erase, article 17).
//
// Erasing and "Forget this device" are one code path (`eraseAtRelay` then `finish`): the
// relay erases first, and only once it has said so does this browser wipe what it holds.
// When the relay cannot be reached, "Erase my data" erases nothing and says so; "Forget
// this device" says what the relay then keeps and asks before wiping this browser alone.
//
// Every word from the relay (report text, chat, names, the reasons a report is kept) goes
// in through textContent (dom.js `el`), isolated for direction, so hostile text is shown
// literally.

import { loadCredentials } from "./device.js";
import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { label, locale, onLanguageChange, plural, t } from "./i18n.js";
import { LinkLost, RelayError } from "./link.js";
import { LOCATION_TTL_S } from "./protocol.js";

/** A page count no honest export reaches (each page is up to 256 KiB): a cursor loop stops. */
const MAX_PAGES = 4000;
/** Opening the screen again within this long shows the last summary (an export start is
 * limited to 12 an hour per device); "Check again" and "Download" always ask anew. */
const FRESH_MS = 60000;
/** Items of each kind listed on the page; the download holds all of them. */
const LISTED = 50;

/** Every page of this device's export, in order. */
export async function exportAll(link) {
  const pages = [];
  let cursor = "";
  for (;;) {
    const page = await link.request({ type: "privacy.export", cursor });
    pages.push(page);
    const next = page.next_cursor;
    if (typeof next !== "string" || next === "") return pages;
    if (pages.length >= MAX_PAGES || next === cursor) throw new Error("the export does not end");
    cursor = next;
  }
}

/** The pages as one document: the device, then every report, message and alert. */
export function assemble(pages, host, now = new Date()) {
  const out = {
    format: "lookout-subject-access-export",
    version: 1,
    exported_at: now.toISOString(),
    relay: host,
    device: pages.length ? (pages[0].device ?? null) : null,
    reports: [],
    chat: [],
    alerts: [],
  };
  for (const page of pages) {
    for (const kind of ["reports", "chat", "alerts"]) {
      if (Array.isArray(page[kind])) out[kind].push(...page[kind]);
    }
  }
  return out;
}

/** Counts for the summary, from an assembled export. */
export function counts(data, nowS = Date.now() / 1000) {
  const fix = data.device && data.device.location ? data.device.location : null;
  const expires = fix ? Number(fix.expires_at) : 0;
  return {
    reports: data.reports.length,
    linked: data.reports.filter((r) => r.incident_ref).length,
    files: data.reports.reduce((n, r) => n + (Array.isArray(r.media) ? r.media.length : 0), 0),
    mine: data.chat.filter((c) => c.sender === "citizen").length,
    theirs: data.chat.filter((c) => c.sender !== "citizen").length,
    alerts: data.alerts.length,
    location: fix !== null && expires > nowS,
    // the relay keeps a fix LOCATION_TTL_S after it was sent, so it was sent then
    fixAgeS: fix ? Math.max(0, nowS - (expires - LOCATION_TTL_S)) : null,
    fixExpires: expires,
  };
}

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

/** Relay text: as text, its direction its own. */
function said(tag, className, value) {
  return el(tag, { className, dir: "auto", text: text(value) });
}

/**
 * @param {object} deps
 *   link     the Link to the relay
 *   online() whether the link is authenticated now
 *   wipe()   forget everything this browser holds and show the first screen (app.js: the
 *            same as "Forget this device" always did locally)
 */
export function setupPrivacy({ link, online, wipe }) {
  const msg = byId("privacy-msg");
  const summary = byId("privacy-summary");
  const held = byId("privacy-held");
  const heldList = byId("privacy-held-list");
  const download = byId("privacy-download");
  const eraseButton = byId("privacy-erase");
  const refresh = byId("privacy-refresh");
  const dialog = byId("privacy-dialog");
  const keptLine = byId("privacy-dialog-kept");
  const confirmErase = byId("privacy-dialog-erase");
  const deviceMsg = byId("device-msg");
  // the result of an erasure, shown on the first screen once this browser is wiped
  const result = el("div", { id: "privacy-result", className: "privacy-result", hidden: "" });
  byId("welcome-msg").after(result);

  let data = null; // the last export, assembled
  let fetchedAt = 0;
  let generation = 0; // a wipe makes answers to earlier requests stale
  let busy = false;

  function when(seconds) {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(Number(seconds) * 1000));
  }

  /** A time today as the time alone, another day with its date. */
  function at(seconds) {
    const date = new Date(Number(seconds) * 1000);
    const today = date.toDateString() === new Date().toDateString();
    const style = today ? { timeStyle: "short" } : { dateStyle: "medium", timeStyle: "short" };
    return new Intl.DateTimeFormat(locale(), style).format(date);
  }

  function day(seconds) {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(new Date(Number(seconds) * 1000));
  }

  function age(seconds) {
    const minutes = Math.round(seconds / 60);
    if (minutes < 1) return t("privacy.age_now");
    if (minutes < 120) return plural("privacy.age_minutes", minutes);
    return plural("privacy.age_hours", Math.round(minutes / 60));
  }

  /** What went wrong asking the relay, in the citizen's words. */
  function trouble(err) {
    if (err instanceof LinkLost || !online()) return t("privacy.offline");
    if (err instanceof RelayError && err.code === "rate_limited") {
      const minutes = Math.max(1, Math.ceil(Number(err.retryAfterS || 60) / 60));
      return plural("privacy.rate_limited", minutes);
    }
    return err instanceof RelayError ? problem(err) : t("privacy.failed");
  }

  // ------------------------------------------------------------ the summary
  function row(term, value) {
    return [el("dt", { text: term }), el("dd", {}, value)];
  }

  function renderSummary() {
    if (data === null) {
      summary.replaceChildren();
      held.hidden = true;
      return;
    }
    const c = counts(data);
    const dev = data.device;
    const rows = [];
    if (dev) {
      rows.push(...row(t("privacy.held_name"), said("span", "bidi", dev.pseudonym)));
      rows.push(...row(t("privacy.held_since"), el("span", { text: day(dev.created_at) })));
      const chosen = Array.isArray(dev.categories) ? dev.categories : [];
      rows.push(...row(t("privacy.held_categories"), el("span", { text: chosen.length ? chosen.map((x) => label("category.", x)).join(", ") : t("privacy.none") })));
    }
    const reports = plural("privacy.reports", c.reports);
    rows.push(...row(t("privacy.held_reports"), el("span", { "data-count": "reports", text: c.linked ? `${reports} ${plural("privacy.reports_linked", c.linked)}` : reports })));
    rows.push(...row(t("privacy.held_files"), el("span", { "data-count": "files", text: plural("privacy.files", c.files) })));
    rows.push(...row(t("privacy.held_messages"), el("span", { "data-count": "messages", text: `${plural("privacy.messages", c.mine + c.theirs)} ${t("privacy.messages_split", { mine: c.mine, theirs: c.theirs })}` })));
    rows.push(...row(t("privacy.held_alerts"), el("span", { "data-count": "alerts", text: plural("privacy.alerts", c.alerts) })));
    const where = c.location ? t("privacy.location_yes", { age: age(c.fixAgeS), until: at(c.fixExpires) }) : t("privacy.location_no");
    rows.push(...row(t("privacy.held_location"), el("span", { "data-count": "location", text: where })));
    summary.replaceChildren(
      el("p", { className: "hint", text: t("privacy.summary_at", { time: at(fetchedAt / 1000) }) }),
      el("dl", { className: "privacy-facts" }, ...rows),
    );
    renderHeld();
  }

  /** The reports and messages themselves, as the relay holds them (the first LISTED). */
  function renderHeld() {
    const parts = [];
    if (data.reports.length) {
      parts.push(el("h4", { text: t("privacy.held_reports") }));
      const items = data.reports.slice(0, LISTED).map((r) => {
        const meta = [label("category.", r.category), when(r.created_at)];
        if (r.incident_ref) meta.push(t("mine.incident", { incident: r.incident_ref }));
        return el("li", { "data-report": text(r.report_id) }, el("p", { className: "report-meta" }, ...meta.flatMap((part, i) => [...(i ? [" · "] : []), el("span", { text: part })])), said("p", "report-summary", r.text));
      });
      parts.push(el("ol", { className: "privacy-items" }, ...items));
    }
    if (data.chat.length) {
      parts.push(el("h4", { text: t("privacy.held_messages") }));
      const items = data.chat.slice(0, LISTED).map((x) => {
        const who = x.sender === "citizen" ? t("privacy.from_you") : t("privacy.from_them");
        const meta = el("p", { className: "report-meta" }, el("span", { text: who }), " ", said("span", "bidi", x.sender === "citizen" ? "" : x.author), " · ", el("span", { text: when(x.sent_at) }));
        return el("li", { "data-message": text(x.message_id) }, meta, said("p", "report-summary", x.text));
      });
      parts.push(el("ol", { className: "privacy-items" }, ...items));
    }
    const more = data.reports.length > LISTED || data.chat.length > LISTED;
    if (more) parts.push(el("p", { className: "hint", text: t("privacy.listed_some", { count: LISTED }) }));
    if (!parts.length) parts.push(el("p", { className: "hint", text: t("privacy.held_nothing") }));
    heldList.replaceChildren(...parts);
    held.hidden = false;
  }

  async function fetchAll() {
    const mine = generation;
    const pages = await exportAll(link);
    if (mine !== generation) throw new LinkLost(); // wiped meanwhile
    data = assemble(pages, location.host);
    fetchedAt = Date.now();
    renderSummary();
    return data;
  }

  async function check(force) {
    if (busy || !online()) {
      if (!online()) say(msg, t("privacy.offline"), "bad");
      return;
    }
    if (!force && data !== null && Date.now() - fetchedAt < FRESH_MS) return;
    busy = true;
    say(msg, t("privacy.loading"));
    try {
      await fetchAll();
      say(msg, "");
    } catch (err) {
      say(msg, trouble(err), "bad");
    } finally {
      busy = false;
    }
  }

  // ------------------------------------------------------------ download
  function fileName(d) {
    const day = new Date().toISOString().slice(0, 10);
    const name = d.device ? String(d.device.pseudonym).replace(/[^A-Za-z0-9-]/g, "") : "";
    return `lookout-my-data-${name || "device"}-${day}.json`;
  }

  function size(bytes) {
    return bytes < 1024 ? t("privacy.bytes", { count: bytes }) : t("privacy.kib", { count: Math.ceil(bytes / 1024) });
  }

  async function save() {
    if (busy) return;
    if (!online()) {
      say(msg, t("privacy.offline"), "bad");
      return;
    }
    busy = true;
    download.disabled = true;
    say(msg, t("privacy.preparing"));
    try {
      const d = await fetchAll();
      const blob = new Blob([JSON.stringify(d, null, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: fileName(d), hidden: "" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000); // the browser has it by then
      say(msg, t("privacy.downloaded", { name: fileName(d), size: size(blob.size) }), "ok");
    } catch (err) {
      say(msg, trouble(err), "bad");
    } finally {
      busy = false;
      download.disabled = false;
    }
  }

  // ------------------------------------------------------------ erasure: one path
  /** Ask the relay to erase this device. {done: reply} | {offline: true} | {refused: err}. */
  async function eraseAtRelay() {
    const cred = loadCredentials();
    if (cred === null) return { refused: new RelayError("not_found", "no device") };
    if (!online()) return { offline: true };
    try {
      return { done: await link.request({ type: "privacy.erase", device_id: cred.device_id, confirm: true }) };
    } catch (err) {
      if (err instanceof LinkLost) return { offline: true };
      // "not_found": the relay has already erased it; nothing is left there to keep
      if (err instanceof RelayError && err.code === "not_found") return { done: null };
      return { refused: err };
    }
  }

  /** The relay has erased the device (or, offline, the citizen chose to wipe this
   * browser anyway: `reply` undefined): wipe everything here, then say what happened on
   * the first screen. */
  function finish(reply, headline) {
    generation++;
    data = null;
    fetchedAt = 0;
    renderSummary();
    say(msg, "");
    wipe();
    say(byId("welcome-msg"), headline, "ok");
    showResult(reply);
  }

  function showResult(reply) {
    if (!reply) {
      result.replaceChildren();
      result.hidden = true;
      return;
    }
    const n = (x) => Number(x) || 0;
    const parts = [
      el("h3", { id: "privacy-result-h", tabindex: "-1", text: t("privacy.result_heading") }),
      el("p", { "data-result": "erased", text: t("privacy.result_erased", { what: [plural("privacy.reports", n(reply.reports_erased)), plural("privacy.messages", n(reply.chat_erased)), plural("privacy.files", n(reply.media_erased)), plural("privacy.alerts", n(reply.alert_deliveries_erased))].join(", ") }) }),
    ];
    const kept = n(reply.reports_kept);
    if (kept === 0) {
      parts.push(el("p", { "data-result": "kept", text: t("privacy.result_nothing_kept") }));
    } else {
      parts.push(el("p", { "data-result": "kept", text: plural("privacy.result_kept", kept) }));
      const listed = Array.isArray(reply.kept) ? reply.kept : [];
      parts.push(
        el(
          "ul",
          { className: "privacy-kept" },
          ...listed.map((k) =>
            el(
              "li",
              { "data-report": text(k.report_id) },
              el("p", { className: "report-meta" }, el("span", { text: t("mine.reference", { reference: text(k.report_id) }) }), " · ", el("span", { text: t("mine.incident", { incident: text(k.incident_ref) }) })),
              el("p", { className: "privacy-reason" }, el("span", { text: t("privacy.result_why") }), " ", said("span", "bidi", k.reason)),
            ),
          ),
        ),
      );
      parts.push(el("p", { className: "hint", text: t("privacy.result_pseudonym") }));
    }
    result.replaceChildren(...parts);
    result.hidden = false;
    byId("privacy-result-h").focus();
  }

  function refusedText(err) {
    return t("privacy.erase_refused", { why: err instanceof RelayError ? problem(err) : t("privacy.failed") });
  }

  // ------------------------------------------------------------ "Erase my data"
  function openDialog() {
    if (busy) return;
    const c = data === null ? null : counts(data);
    if (c === null) keptLine.textContent = t("privacy.confirm_kept_unknown");
    else if (c.linked === 0) keptLine.textContent = t("privacy.confirm_kept_none");
    else {
      const refs = [...new Set(data.reports.filter((r) => r.incident_ref).map((r) => String(r.incident_ref)))];
      keptLine.textContent = plural("privacy.confirm_kept", c.linked, { incidents: refs.join(", ") });
    }
    dialog.showModal();
    byId("privacy-dialog-cancel").focus(); // the safe choice has the focus
  }

  async function erase() {
    dialog.close();
    if (!online()) {
      say(msg, t("privacy.erase_offline"), "bad");
      return;
    }
    busy = true;
    eraseButton.disabled = true;
    say(msg, t("privacy.erasing"));
    try {
      const got = await eraseAtRelay();
      if ("done" in got) finish(got.done, t("privacy.erased"));
      else say(msg, got.offline ? t("privacy.erase_offline") : refusedText(got.refused), "bad");
    } finally {
      busy = false;
      eraseButton.disabled = false;
    }
  }

  // ------------------------------------------------------------ "Forget this device"
  async function forget() {
    if (busy || !window.confirm(t("privacy.forget_confirm"))) return;
    busy = true;
    say(deviceMsg, t("privacy.erasing"));
    let got;
    try {
      got = await eraseAtRelay();
    } finally {
      busy = false;
    }
    if ("done" in got) {
      finish(got.done, t("privacy.forgotten"));
      return;
    }
    if ("refused" in got) {
      say(deviceMsg, refusedText(got.refused), "bad");
      return;
    }
    if (!window.confirm(t("privacy.forget_offline"))) {
      say(deviceMsg, t("privacy.forget_not_done"));
      return;
    }
    finish(undefined, t("privacy.forgotten_here"));
  }

  refresh.addEventListener("click", () => check(true));
  download.addEventListener("click", save);
  eraseButton.addEventListener("click", openDialog);
  confirmErase.addEventListener("click", erase);
  byId("privacy-dialog-cancel").addEventListener("click", () => dialog.close());
  byId("register").addEventListener("click", () => showResult(undefined));
  onLanguageChange(() => renderSummary());

  return {
    /** The "This device" screen is open: show what the relay holds (asks at most once a
     * minute unless told to). */
    shown: () => check(false),
    forget,
  };
}
