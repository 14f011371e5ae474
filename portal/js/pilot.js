// Taking part in a pilot (issue 12; docs/protocol.md, section 4.7): an exercise run with the
// neighbourhood team. The citizen types the invite code printed on their invitation, or
// opens its QR code (`/?pilot=CODE` or `#pilot=CODE`): the code is put in the field and the
// citizen presses Join (never joined silently), and the address bar forgets it at once so
// it is not left in the browser's history. Joined, the pilot is kept in localStorage
// ("lookout.pilot", wiped with the rest by "Forget this device" and by erasure), and the
// report form shows an unmistakable exercise marking: in words, not colour alone. A
// conversation and a listed report are marked when the relay says the report was sent in a
// pilot (OwnReport.pilot_id), as the relay marks their traffic.
//
// The relay tells a device nothing when an officer ends a pilot early: the marking goes
// when the citizen leaves, when the pilot's end date passes, or when "pilot.leave" finds
// the device in no pilot.

import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { locale, onLanguageChange, t } from "./i18n.js";

const KEY = "lookout.pilot";
//: backend_client/rules.py INVITE_ALPHABET and INVITE_CODE_LENGTH
export const INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ";
export const INVITE_CODE_LENGTH = 12;
//: words of the relay's not_found reasons (relay/pilots.py) -> what the page says
const REASONS = [
  ["used already", "pilot.error_used"],
  ["expired", "pilot.error_expired"],
  ["has ended", "pilot.error_ended"],
];

/** A code as typed or printed (any case, spaces, dashes) in the one form the relay stores;
 * null when it cannot be a code (wrong length or a letter codes never use). */
export function normaliseCode(text) {
  const plain = String(text).toUpperCase().replace(/[\s-]/g, "");
  if (plain.length !== INVITE_CODE_LENGTH) return null;
  return [...plain].every((ch) => INVITE_ALPHABET.includes(ch)) ? plain : null;
}

/** The code the page was opened with (`?pilot=` or `#pilot=`), removed from the address. */
function codeFromAddress() {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  const code = url.searchParams.get("pilot") ?? hash.get("pilot");
  if (code === null) return "";
  url.searchParams.delete("pilot");
  hash.delete("pilot");
  url.hash = hash.toString();
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  return code.slice(0, 64);
}

function load() {
  try {
    const found = JSON.parse(localStorage.getItem(KEY) ?? "null");
    if (found && typeof found.pilot_id === "string" && typeof found.title === "string") return found;
  } catch {
    // unreadable: as if in none
  }
  return null;
}

export function setupPilot({ link }) {
  const form = byId("pilot-form");
  const field = byId("pilot-code");
  const join = byId("pilot-join");
  const msg = byId("pilot-msg");
  const joinedBox = byId("pilot-joined");
  const leave = byId("pilot-leave");
  let invited = codeFromAddress(); // "" once joined or forgotten: the invitation is spent
  let pilot = load();
  let lastOpened = null; // the listed report whose conversation was opened last
  const reports = new Map(); // report_id -> pilot_id, from "Your reports"
  let told = () => ""; // the message line's words, again in a newly chosen language
  let tone = "";

  /** Say `words()` (a function, so it can be said again after a language change). */
  function tell(words, how = "") {
    told = words;
    tone = how;
    say(msg, words(), how);
  }

  // the marking on the report form and the chat, built once, shown while it applies
  const markReport = el("div", { className: "pilot-mark", id: "pilot-mark-report" });
  const markChat = el("div", { className: "pilot-mark", id: "pilot-mark-chat" });
  byId("report-form").before(markReport);
  byId("chat-form").before(markChat);

  const when = (s) => new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(new Date(s * 1000));
  const ended = (p) => p !== null && typeof p.ends_at === "number" && p.ends_at * 1000 < Date.now();
  const titleOf = (id) => (pilot !== null && pilot.pilot_id === id ? pilot.title : id);

  function fillMark(node, title, line) {
    node.replaceChildren(
      el("p", { className: "pilot-mark-kind" }, el("span", { text: t("pilot.mark_kind") }), " — ", el("span", { className: "bidi", text: t("pilot.mark_pilot", { title }) })),
      el("p", { className: "pilot-mark-line", text: line }),
    );
  }

  function render() {
    if (ended(pilot)) {
      const date = when(pilot.ends_at);
      tell(() => t("pilot.ended", { date }));
      pilot = null;
      localStorage.removeItem(KEY);
    }
    const on = pilot !== null;
    form.hidden = on;
    joinedBox.hidden = !on;
    markReport.hidden = !on;
    document.body.dataset.pilot = on ? "joined" : "none";
    if (on) {
      fillMark(markReport, pilot.title, t("pilot.mark_report"));
      byId("pilot-title").textContent = pilot.title;
      byId("pilot-group").textContent = pilot.group;
      const dates = typeof pilot.ends_at === "number"
        ? t("pilot.dates", { from: when(pilot.starts_at), to: when(pilot.ends_at) })
        : t("pilot.dates_open", { from: when(pilot.starts_at) });
      byId("pilot-dates").textContent = dates;
    }
    renderChat();
  }

  function renderChat() {
    const id = lastOpened === null ? null : reports.get(lastOpened) ?? null;
    markChat.hidden = id === null;
    if (id !== null) fillMark(markChat, titleOf(id), t("pilot.mark_chat"));
  }

  function refused(err) {
    if (err && err.code === "not_found") {
      const words = String(err.message ?? "");
      const found = REASONS.find(([part]) => words.includes(part));
      return t(found ? found[1] : "pilot.error_wrong");
    }
    if (err && err.code === "conflict") return t("pilot.error_already");
    if (err && err.code === "rate_limited") {
      return t("pilot.error_wait", { seconds: Math.ceil(err.retryAfterS ?? 60) });
    }
    return problem(err);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = normaliseCode(field.value);
    if (code === null) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
      return tell(() => t("pilot.error_form"), "bad");
    }
    field.removeAttribute("aria-invalid");
    join.disabled = true;
    tell(() => t("pilot.joining"));
    try {
      const reply = await link.request({ type: "pilot.join", code });
      pilot = {
        pilot_id: String(reply.pilot_id),
        title: String(reply.title),
        group: String(reply.group),
        starts_at: Number(reply.starts_at),
        ends_at: typeof reply.ends_at === "number" ? reply.ends_at : null,
      };
      localStorage.setItem(KEY, JSON.stringify(pilot));
      field.value = "";
      invited = "";
      render();
      const title = pilot.title;
      tell(() => t("pilot.joined", { title }), "ok");
      byId("pilot-joined-h").focus();
    } catch (err) {
      tell(() => refused(err), "bad");
      field.setAttribute("aria-invalid", "true");
    } finally {
      join.disabled = false;
    }
  });

  leave.addEventListener("click", async () => {
    leave.disabled = true;
    try {
      await link.request({ type: "pilot.leave" });
      const title = pilot?.title ?? "";
      tell(() => t("pilot.left", { title }), "ok");
    } catch (err) {
      if (err.code !== "not_found") {
        tell(() => problem(err), "bad");
        return;
      }
      tell(() => t("pilot.left_already"), "ok"); // the pilot had ended, or was left elsewhere
    } finally {
      leave.disabled = false;
    }
    pilot = null;
    localStorage.removeItem(KEY);
    render();
    byId("pilot-h").focus();
  });

  field.addEventListener("input", () => field.removeAttribute("aria-invalid"));
  onLanguageChange(() => {
    render();
    say(msg, told(), tone);
  });

  if (invited) {
    field.value = invited;
    if (pilot === null) tell(() => t("pilot.invited"));
    else {
      const title = pilot.title;
      tell(() => t("pilot.invited_already", { title }));
    }
  }
  byId("pilot-welcome").hidden = !invited;
  render();

  return {
    /** Whether the page was opened with an invitation: "This device" is shown first. */
    invited: () => invited !== "" && pilot === null,
    /** A listed report (mine.js): marked when the relay says it was sent in a pilot; opening
     * its conversation marks the chat the same way. */
    decorate(li, report) {
      const id = typeof report.pilot_id === "string" ? report.pilot_id : null;
      reports.set(report.report_id, id);
      li.addEventListener("click", () => (lastOpened = report.report_id), true);
      if (id === null) return;
      li.classList.add("pilot-report");
      li.append(
        el("p", { className: "pilot-tag" }, el("span", { text: t("pilot.mark_kind") }), " — ", el("span", { className: "bidi", text: t("pilot.mark_pilot", { title: titleOf(id) }) })),
      );
    },
    shown: renderChat,
    /** This browser forgot the device: in no pilot any more. */
    forget() {
      pilot = null;
      lastOpened = null;
      reports.clear();
      invited = "";
      field.value = "";
      byId("pilot-welcome").hidden = true;
      tell(() => "");
      render();
    },
  };
}
