// "Your reports": what this device has sent and where each stands now (report.mine).

import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { label, language, t } from "./i18n.js";

export function setupMine({ link }) {
  const list = byId("mine-list");
  const msg = byId("mine-msg");
  let last = [];

  function when(seconds) {
    return new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "short" }).format(
      new Date(seconds * 1000),
    );
  }

  function render() {
    list.replaceChildren(
      ...last.map((r) => {
        const status = el("span", { className: `status status-${String(r.status).replace(/[^a-z_]/g, "")}`, text: label("status.", r.status) });
        const meta = [t("mine.reference", { reference: r.report_id }), when(r.created_at)];
        if (r.incident_ref) meta.push(t("mine.incident", { incident: r.incident_ref }));
        return el(
          "li",
          { "data-report": r.report_id },
          el("p", { className: "report-head" }, el("span", { text: label("category.", r.category) }), status),
          el("p", { className: "report-summary", text: r.summary }),
          el("p", { className: "report-meta", text: meta.join(" · ") }),
        );
      }),
    );
    say(msg, last.length ? t("mine.count", { count: last.length }) : t("mine.none"));
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
