// "Your reports": what this device has sent and where each stands now (report.mine).

import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { label, locale, plural, t } from "./i18n.js";

/** `decorate(li, report)`, when given, adds to each listed report (chat.js: its
 * conversation button and unread count); `mediaLine(report)` (upload.js) says how far
 * its photos and video got. */
export function setupMine({ link, decorate = null, mediaLine = () => null }) {
  const list = byId("mine-list");
  const msg = byId("mine-msg");
  let last = [];

  function when(seconds) {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(
      new Date(seconds * 1000),
    );
  }

  function render() {
    list.replaceChildren(
      ...last.map((r) => {
        const status = el("span", { className: `status status-${String(r.status).replace(/[^a-z_]/g, "")}`, text: label("status.", r.status) });
        // each part isolated (CSS unicode-bidi), so a right-to-left override in a value
        // the relay sent cannot reorder the text around it
        const meta = [t("mine.reference", { reference: r.report_id }), when(r.created_at)];
        if (r.incident_ref) meta.push(t("mine.incident", { incident: r.incident_ref }));
        const metaLine = el("p", { className: "report-meta" });
        meta.forEach((part, i) => metaLine.append(...(i ? [" · "] : []), el("span", { text: part })));
        const li = el(
          "li",
          { "data-report": r.report_id },
          el("p", { className: "report-head" }, el("span", { text: label("category.", r.category) }), status),
          el("p", { className: "report-summary", dir: "auto", text: r.summary }),
          metaLine,
          ...[mediaLine(r.report_id)].filter((x) => x !== null), // upload: its files' state
        );
        if (decorate !== null) decorate(li, r);
        return li;
      }),
    );
    say(msg, last.length ? plural("mine.count", last.length) : t("mine.none"));
  }

  async function refresh() {
    say(msg, t("mine.loading"));
    try {
      const reply = await link.request({ type: "report.mine" });
      last = Array.isArray(reply.reports) ? reply.reports : [];
      render();
    } catch (err) {
      say(msg, problem(err), "bad");
    }
  }

  byId("mine-refresh").addEventListener("click", refresh);
  return { refresh, render: () => last.length && render() };
}
