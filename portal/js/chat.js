// Chat with the control room about one of this device's own reports (docs/protocol.md,
// section 4.4). The relay keeps no history a device can ask for, so this browser keeps
// each report's conversation in localStorage ("lookout.chat.<report_id>"): a reload shows
// it again, and "Forget this device" wipes it with the rest.
//
// Officer messages arrive as chat.deliver pushes: stored, then receipted "delivered" at
// once, and "read" only while their conversation is on screen and the page is visible
// (Page Visibility API). The relay re-sends a chat.deliver until its delivered receipt is
// acknowledged, so messages are de-duplicated by message_id. The citizen's own messages go
// into the conversation first (an outbox: "waiting" until the relay has them) and are
// resent with the same client_ref after a reconnect; chat.status pushes move their mark
// forward only: sent ✓, delivered ✓✓, read.
//
// Every text from the relay (message, officer's name) is set with textContent, each in its
// own bidi-isolated element, so neither markup nor a right-to-left override in it can
// change anything around it.

import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { label, locale, onLanguageChange, plural, t } from "./i18n.js";
import { MAX_TEXT_CHARS } from "./protocol.js";

const PREFIX = "lookout.chat.";
const KEEP = 500; // messages kept per report in this browser (the oldest go first)
const RECEIPT_BATCH = 500; // most message_ids in one chat.receipt
const LEFT_SHOWN_BELOW = 500; // "n characters left" appears under this many
const RANK = { pending: 0, failed: 0, sent: 1, delivered: 2, read: 3 };
const MARKS = { pending: "…", failed: "!", sent: "✓", delivered: "✓✓", read: "✓✓" };

const codePoints = (text) => [...text].length; // the protocol counts code points

/** A ChatMessage the relay sent, with the fields this page uses, or null. */
function clean(message) {
  if (typeof message !== "object" || message === null) return null;
  const { message_id: id, report_id: report, sender, author, text, sent_at: at, status } = message;
  if (typeof id !== "string" || typeof report !== "string" || typeof text !== "string") return null;
  return {
    message_id: id,
    report_id: report,
    sender: sender === "citizen" ? "citizen" : "officer",
    author: typeof author === "string" ? author : "",
    text,
    sent_at: Number.isFinite(at) ? at : Date.now() / 1000,
    status: status in RANK ? status : "sent",
  };
}

// ---------------------------------------------------------------- storage (per report)

function load(reportId) {
  try {
    const found = JSON.parse(localStorage.getItem(PREFIX + reportId) ?? "null");
    if (found && Array.isArray(found.messages)) return found;
  } catch {
    // unreadable: start the conversation again
  }
  return { messages: [] };
}

function save(reportId, conv) {
  conv.messages = conv.messages.slice(-KEEP);
  try {
    localStorage.setItem(PREFIX + reportId, JSON.stringify(conv));
  } catch {
    // storage full or refused: the conversation still shows until the page closes
  }
}

function storedReports() {
  return Object.keys(localStorage)
    .filter((key) => key.startsWith(PREFIX))
    .map((key) => key.slice(PREFIX.length));
}

/** The stored message with this relay id, wherever it is: [reportId, conv, message]. */
function findMessage(messageId) {
  for (const reportId of storedReports()) {
    const conv = load(reportId);
    const found = conv.messages.find((x) => x.message_id === messageId);
    if (found) return [reportId, conv, found];
  }
  return null;
}

const unread = (conv) => conv.messages.filter((x) => x.sender === "officer" && !x.seen).length;

// ---------------------------------------------------------------- the screen

export function setupChat({ link, show, screen }) {
  const log = byId("chat-log");
  const about = byId("chat-about");
  const empty = byId("chat-empty");
  const form = byId("chat-form");
  const box = byId("chat-text");
  const count = byId("chat-count");
  const msg = byId("chat-msg");
  const nodes = new Map(); // key of a message on screen -> its <li>
  const early = new Map(); // chat.status for a message whose chat.sent has not come yet
  const reports = new Map(); // report_id -> the report as "Your reports" listed it
  const inFlight = new Set(); // client_refs being sent now
  const outgoing = { delivered: new Set(), read: new Set() };
  let current = null; // the report whose conversation the screen shows
  let flushing = false;

  box.setAttribute("maxlength", String(MAX_TEXT_CHARS));

  const onScreen = (reportId) =>
    current === reportId && screen() === "chat" && document.visibilityState === "visible";
  const keyOf = (x) => x.client_ref ?? x.message_id;

  function when(seconds) {
    const date = new Date(seconds * 1000);
    const today = date.toDateString() === new Date().toDateString();
    const style = today ? { timeStyle: "short" } : { dateStyle: "medium", timeStyle: "short" };
    return new Intl.DateTimeFormat(locale(), style).format(date);
  }

  function mark(x) {
    const status = x.status in MARKS ? x.status : "sent";
    const long =
      status === "failed"
        ? t("chat.mark.failed_long", { reason: problem({ code: x.error }) })
        : t(`chat.mark.${status}_long`);
    // role img: one accessible name (the long words), the short mark for the eye
    return el(
      "span",
      { className: `mark mark-${status}`, role: "img", "aria-label": long, title: long },
      el("span", { className: "mark-sign", text: MARKS[status] }),
      " ",
      t(`chat.mark.${status}`),
    );
  }

  function bubble(x) {
    const mine = x.sender === "citizen";
    const who = el("p", { className: "bubble-who" }, el("span", { text: mine ? t("chat.you") : t("chat.officer") }));
    if (!mine && x.author) who.append(" · ", el("span", { className: "bidi", text: x.author }));
    const at = new Date(x.sent_at * 1000);
    const meta = el(
      "p",
      { className: "bubble-meta" },
      el("time", { datetime: Number.isNaN(at.getTime()) ? "" : at.toISOString(), text: when(x.sent_at) }),
    );
    if (mine) meta.append(" ", mark(x));
    return el(
      "li",
      { className: mine ? "bubble bubble-me" : "bubble bubble-officer", "data-message": x.message_id ?? "" },
      who,
      el("p", { className: "bubble-text", dir: "auto", text: x.text }),
      meta,
    );
  }

  /** Show `current`'s conversation: new messages appended, changed ones replaced in
   * place (the list is an ARIA live log: rebuilding it would read everything again). */
  function render(rebuild = false) {
    if (current === null) return;
    if (rebuild) {
      nodes.clear();
      log.replaceChildren();
    }
    const conv = load(current);
    let added = false;
    for (const x of conv.messages) {
      const key = keyOf(x);
      const fresh = bubble(x);
      const old = nodes.get(key);
      if (old === undefined) {
        log.append(fresh);
        added = true;
      } else if (!old.isEqualNode(fresh)) {
        old.replaceWith(fresh);
      } else {
        continue;
      }
      nodes.set(key, fresh);
    }
    empty.hidden = conv.messages.length > 0;
    if (added && !rebuild) log.lastElementChild?.scrollIntoView({ block: "nearest" });
  }

  function describe(reportId) {
    const r = reports.get(reportId);
    const parts = r ? [label("category.", r.category)] : [];
    parts.push(t("mine.reference", { reference: reportId }));
    about.replaceChildren();
    parts.forEach((part, i) => about.append(...(i ? [" · "] : []), el("span", { className: "bidi", text: part })));
  }

  function badges() {
    for (const li of byId("mine-list").children) {
      const badge = li.querySelector(".chat-badge");
      if (badge === null) continue;
      const n = unread(load(li.dataset.report));
      badge.textContent = n ? plural("chat.unread", n) : "";
      badge.hidden = n === 0;
    }
  }

  // -------------------------------------------------------------- receipts

  function receipt(status, id) {
    outgoing[status].add(id);
    if (!flushing) setTimeout(flush, 0); // one chat.receipt for a burst of pushes
  }

  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      // delivered before read: the control room sees the marks in the order they happened
      for (const status of ["delivered", "read"]) {
        while (outgoing[status].size) {
          const ids = [...outgoing[status]].slice(0, RECEIPT_BATCH);
          for (const id of ids) outgoing[status].delete(id);
          try {
            await link.request({ type: "chat.receipt", message_ids: ids, status });
          } catch {
            // offline: resume() sends it again from what is stored; refused: nothing to redo
            continue;
          }
          for (const id of ids) {
            const found = findMessage(id);
            if (found === null) continue;
            const [reportId, conv, x] = found;
            if ((RANK[x.receipt] ?? 0) < RANK[status]) x.receipt = status;
            save(reportId, conv);
          }
        }
      }
    } finally {
      flushing = false;
    }
    if (outgoing.delivered.size || outgoing.read.size) setTimeout(flush, 0);
  }

  /** The conversation is in front of the citizen: its officer messages are read. */
  function seen(reportId) {
    if (!onScreen(reportId)) return;
    const conv = load(reportId);
    let changed = false;
    for (const x of conv.messages) {
      if (x.sender !== "officer" || x.seen) continue;
      x.seen = true;
      changed = true;
      receipt("read", x.message_id);
    }
    if (changed) save(reportId, conv);
  }

  // -------------------------------------------------------------- pushes

  link.on("chat.deliver", (push) => {
    const x = clean(push.message);
    if (x === null || x.sender !== "officer") return;
    const conv = load(x.report_id);
    if (!conv.messages.some((y) => y.message_id === x.message_id)) {
      conv.messages.push({ ...x, seen: false });
      conv.messages.sort((a, b) => a.sent_at - b.sent_at);
      save(x.report_id, conv);
    }
    receipt("delivered", x.message_id); // stored: say so (again, if the relay asks again)
    if (current === x.report_id) render();
    seen(x.report_id);
    badges();
  });

  function advance(reportId, conv, x, status) {
    if (!(status in RANK) || RANK[status] <= RANK[x.status]) return; // forward only
    x.status = status;
    save(reportId, conv);
    if (current === reportId) render();
  }

  link.on("chat.status", (push) => {
    if (typeof push.message_id !== "string") return;
    const found = findMessage(push.message_id);
    if (found === null) {
      early.set(push.message_id, push.status); // its chat.sent is still on its way
      return;
    }
    advance(...found, push.status);
  });

  // -------------------------------------------------------------- sending

  async function send(reportId, clientRef) {
    if (inFlight.has(clientRef)) return;
    const first = load(reportId).messages.find((x) => x.client_ref === clientRef);
    if (!first || first.status !== "pending") return;
    inFlight.add(clientRef);
    let reply = null;
    let failure = null;
    try {
      reply = await link.request({ type: "chat.send", report_id: reportId, text: first.text, client_ref: clientRef });
    } catch (err) {
      failure = err;
    } finally {
      inFlight.delete(clientRef);
    }
    const conv = load(reportId); // again: pushes may have changed it meanwhile
    const x = conv.messages.find((y) => y.client_ref === clientRef);
    if (!x) return;
    if (reply !== null) {
      const got = clean(reply.message);
      if (got !== null) Object.assign(x, { message_id: got.message_id, author: got.author, sent_at: got.sent_at });
      x.status = got !== null && RANK[got.status] > RANK.sent ? got.status : "sent";
      const later = early.get(x.message_id);
      early.delete(x.message_id);
      if (later in RANK && RANK[later] > RANK[x.status]) x.status = later;
    } else if (failure.code === "offline") {
      say(msg, t("chat.kept"), "bad"); // stays pending: resume() sends it again
      return;
    } else if (failure.code === "rate_limited") {
      say(msg, problem(failure), "bad");
      setTimeout(() => send(reportId, clientRef), Math.max(1, failure.retryAfterS ?? 2) * 1000);
      return;
    } else {
      x.status = "failed"; // refused: sending it again would be refused again
      x.error = typeof failure.code === "string" ? failure.code : "";
      say(msg, problem(failure), "bad");
    }
    save(reportId, conv);
    if (current === reportId) render();
  }

  box.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; an input method composing keeps its Enter
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    form.requestSubmit();
  });

  function left() {
    const remaining = MAX_TEXT_CHARS - codePoints(box.value);
    count.textContent = remaining < LEFT_SHOWN_BELOW ? plural("chat.left", Math.max(remaining, 0)) : "";
  }
  box.addEventListener("input", left);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = box.value;
    if (!text.trim()) {
      say(msg, t("chat.need_text"), "bad");
      box.focus();
      return;
    }
    if (codePoints(text) > MAX_TEXT_CHARS) {
      say(msg, t("error.too_large"), "bad");
      return;
    }
    const clientRef = crypto.randomUUID();
    const conv = load(current);
    conv.messages.push({ client_ref: clientRef, sender: "citizen", author: "", text, sent_at: Date.now() / 1000, status: "pending" });
    save(current, conv); // first: a reload or a dropped link sends it later, same client_ref
    box.value = "";
    left();
    say(msg, "");
    render();
    send(current, clientRef);
  });

  byId("chat-back").addEventListener("click", () => {
    show("mine");
    byId("mine-h").focus();
  });

  document.addEventListener("visibilitychange", () => {
    if (current !== null) seen(current);
  });

  onLanguageChange(() => {
    if (current === null) return;
    describe(current);
    render(true);
    left();
  });

  /** Open the conversation about one of "Your reports". */
  function open(report) {
    reports.set(report.report_id, report);
    current = report.report_id;
    say(msg, "");
    describe(current);
    render(true);
    show("chat");
    byId("chat-h").focus();
    window.scrollTo(0, document.body.scrollHeight);
    seen(current);
    badges();
  }

  return {
    open,

    /** For each item of "Your reports": a button to its conversation, with an unread
     * count. */
    decorate(li, report) {
      reports.set(report.report_id, report);
      const badge = el("span", { className: "chat-badge" });
      const button = el("button", { type: "button", className: "chat-open" }, el("span", { text: t("chat.open") }), " ", badge);
      button.addEventListener("click", () => open(report));
      li.append(button);
      const n = unread(load(report.report_id));
      badge.textContent = n ? plural("chat.unread", n) : "";
      badge.hidden = n === 0;
    },

    /** After each (re)authentication: what did not get through before goes again. */
    resume() {
      for (const reportId of storedReports()) {
        for (const x of load(reportId).messages) {
          if (x.sender === "citizen" && x.status === "pending") send(reportId, x.client_ref);
          if (x.sender !== "officer") continue;
          if (!x.receipt) receipt("delivered", x.message_id);
          if (x.seen && x.receipt !== "read") receipt("read", x.message_id);
        }
      }
      if (current !== null) seen(current);
    },
  };
}
