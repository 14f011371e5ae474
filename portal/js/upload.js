// Photos and video with a report: picked from the camera or the gallery, checked here
// before anything is sent (upload-check.js), declared in report.submit by SHA-256, type
// and size, then sent in media.chunk pieces with one chunk in flight (docs/protocol.md,
// section 8). Each file waits in IndexedDB (upload-store.js) until the relay holds all
// of it, so a lost link or a reload carries on where the relay says it stopped: an empty
// chunk at offset 0 asks, and media.progress `received` answers.

import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { has, locale, onLanguageChange, plural, t } from "./i18n.js";
import { LinkLost, RelayError } from "./link.js";
import { MAX_MEDIA_BYTES, MAX_MEDIA_PER_REPORT, MEDIA_CHUNK_BYTES } from "./protocol.js";
import { base64Of, check, sha256Hex } from "./upload-check.js";
import { allFiles, deleteReport, putFiles, updateFile } from "./upload-store.js";

const RETRY_UNAVAILABLE_MS = 5000;

function megabytes(bytes) {
  const mb = bytes / (1024 * 1024);
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: mb < 10 ? 1 : 0 }).format(mb);
}

function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function setupUpload({ link, onChange }) {
  const inputs = [byId("upload-camera"), byId("upload-gallery")];
  const list = byId("upload-list");
  const msg = byId("upload-msg");
  const panel = byId("upload-progress");
  const bar = byId("upload-bar");
  const barLabel = byId("upload-bar-label");
  const live = byId("upload-state");

  /** Files attached to the report being written: {file, mime, sha, url} */
  let attached = [];
  let records = []; // the store's records, as last read (for "Your reports")
  let running = null;
  let again = false;
  let spoken = -1; // the last tenth of progress announced, so a screen reader hears 10 steps

  // ---------------------------------------------------------------- attaching files

  function renderAttached() {
    list.replaceChildren(
      ...attached.map((a) => {
        const remove = el("button", {
          type: "button",
          className: "upload-remove",
          "aria-label": t("upload.remove_named", { name: a.file.name }),
          text: t("upload.remove"),
        });
        remove.addEventListener("click", () => {
          attached = attached.filter((x) => x !== a);
          if (a.url) URL.revokeObjectURL(a.url);
          renderAttached();
          inputs[1].focus();
        });
        const thumb = a.url
          ? el("img", { className: "upload-thumb", src: a.url, alt: "" })
          : el("span", { className: "upload-thumb upload-video", "aria-hidden": "true", text: "\u25b6" });
        return el(
          "li",
          { "data-sha": a.sha },
          thumb,
          el(
            "span",
            { className: "upload-name" },
            el("span", { text: a.file.name }),
            el("span", { className: "hint", text: t("upload.size", { mb: megabytes(a.file.size) }) }),
          ),
          remove,
        );
      }),
    );
  }

  async function take(files) {
    const refusals = [];
    say(msg, files.length ? t("upload.checking") : "");
    for (const file of files) {
      if (attached.length >= MAX_MEDIA_PER_REPORT) {
        refusals.push(t("upload.refused_count", { count: MAX_MEDIA_PER_REPORT }));
        break;
      }
      const verdict = await check(file);
      if (verdict.refused) {
        refusals.push(
          t(verdict.refused, { name: file.name, mb: megabytes(file.size), max: megabytes(MAX_MEDIA_BYTES) }),
        );
        continue;
      }
      const sha = await sha256Hex(file);
      if (attached.some((a) => a.sha === sha)) {
        refusals.push(t("upload.refused_twice", { name: file.name }));
        continue;
      }
      const url = verdict.mime.startsWith("image/") ? URL.createObjectURL(file) : null;
      attached.push({ file, mime: verdict.mime, sha, url });
    }
    renderAttached();
    if (refusals.length) say(msg, refusals.join(" "), "bad");
    else say(msg, attached.length ? plural("upload.attached", attached.length) : "");
  }

  for (const input of inputs) {
    input.addEventListener("change", () => {
      const files = Array.from(input.files ?? []);
      input.value = ""; // the same file can be picked again after removing it
      take(files).catch(() => say(msg, t("upload.refused_unreadable", { name: "" }), "bad"));
    });
  }

  // ---------------------------------------------------------------- with the report

  /** Called as the report is sent: the attached files go into the store under the
   * report's client_ref (before report.submit, so a reload after it still has them), and
   * their declarations come back for the report's `media`. */
  async function declare(ref) {
    const now = attached;
    const queuedAt = Date.now();
    if (now.length) {
      await putFiles(
        now.map((a, index) => ({
          ref,
          sha: a.sha,
          mime: a.mime,
          size: a.file.size,
          name: a.file.name,
          blob: a.file,
          reportId: null,
          state: "waiting",
          received: 0,
          error: null,
          order: [queuedAt, index], // sent in the order attached, reports oldest first
        })),
      );
    }
    return now.map((a) => ({ sha256: a.sha, mime: a.mime, size: a.file.size }));
  }

  /** The report was sent and the form can start again. */
  function clear() {
    for (const a of attached) if (a.url) URL.revokeObjectURL(a.url);
    attached = [];
    renderAttached();
    say(msg, "");
  }

  /** report.accepted: the files it still misses are this report's to upload. */
  async function accepted(ref, reply) {
    const missing = new Set(Array.isArray(reply.missing) ? reply.missing : []);
    for (const r of (await allFiles()).filter((x) => x.ref === ref)) {
      const patch = { reportId: reply.report_id };
      if (!missing.has(r.sha)) Object.assign(patch, { state: "done", blob: null, received: r.size });
      await updateFile(r.ref, r.sha, patch);
    }
    kick();
  }

  /** The relay refused the report itself: its files will never be wanted. */
  async function refused(ref) {
    await deleteReport(ref);
    await reload();
  }

  /** After each (re)authentication, once any pending report went again: carry on, and
   * drop files of a report that was never sent (refused, or lost before report.submit). */
  async function resume(pendingRef) {
    for (const r of await allFiles()) {
      if (r.reportId === null && r.ref !== pendingRef) await deleteReport(r.ref);
    }
    kick();
  }

  // ---------------------------------------------------------------- sending

  function kick() {
    again = true;
    if (running === null) {
      running = run()
        .catch(() => {})
        .finally(() => {
          running = null;
        });
    }
    return running;
  }

  async function run() {
    while (again) {
      again = false;
      await reload();
      for (;;) {
        const next = records.find((r) => r.reportId !== null && r.state === "waiting");
        if (next === undefined) break;
        if (!(await send(next))) break; // offline: the next authentication resumes
        await reload();
      }
    }
    await reload();
  }

  async function reload() {
    const at = (r) => r.order ?? [0, 0];
    const byOrder = (a, b) => at(a)[0] - at(b)[0] || at(a)[1] - at(b)[1];
    records = (await allFiles()).sort(byOrder);
    onChange();
  }

  function waitingOf(reportId) {
    return records.filter((r) => r.reportId === reportId);
  }

  function showProgress(r, received) {
    const files = waitingOf(r.reportId);
    panel.hidden = false;
    barLabel.textContent = t("upload.progress_label", {
      n: files.indexOf(files.find((x) => x.sha === r.sha)) + 1,
      count: files.length,
      reference: r.reportId,
    });
    bar.max = r.size;
    bar.value = received;
    const tenth = Math.floor((received * 10) / r.size);
    if (tenth !== spoken) {
      spoken = tenth;
      say(live, t("upload.progress", { percent: tenth * 10, name: r.name }));
    }
  }

  function chunk(r, offset, data) {
    return link.request({ type: "media.chunk", report_id: r.reportId, sha256: r.sha, offset, data });
  }

  /** One file to the end. False when the link went: the rest waits for the next one. */
  async function send(r) {
    spoken = -1;
    showProgress(r, r.received);
    let offset = 0;
    let data = ""; // first an empty chunk at offset 0: the relay answers how much it holds
    for (;;) {
      let reply;
      try {
        reply = await chunk(r, offset, data);
      } catch (err) {
        if (err instanceof LinkLost) {
          say(live, t("upload.paused"));
          return false;
        }
        if (err instanceof RelayError && err.code === "rate_limited") {
          await pause(Math.max(1, err.retryAfterS ?? 1) * 1000);
          continue;
        }
        if (err instanceof RelayError && err.code === "unavailable") {
          await pause(RETRY_UNAVAILABLE_MS);
          continue;
        }
        // refused for good (wrong type, corrupt, hash...): drop the bytes, say why
        const why = err instanceof RelayError && has(`upload.failed_${err.code}`) ? t(`upload.failed_${err.code}`) : problem(err);
        await updateFile(r.ref, r.sha, { state: "failed", blob: null, error: err.code ?? "generic" });
        say(live, t("upload.failed", { name: r.name, why }), "bad");
        return true;
      }
      showProgress(r, reply.received);
      if (reply.complete) {
        await updateFile(r.ref, r.sha, { state: "done", blob: null, received: r.size });
        await reload();
        const left = records.filter((x) => x.reportId === r.reportId && x.state === "waiting");
        if (left.length === 0) say(live, t("upload.all_sent", { reference: r.reportId }), "ok");
        return true;
      }
      offset = reply.received;
      await updateFile(r.ref, r.sha, { received: offset });
      data = await base64Of(r.blob.slice(offset, Math.min(offset + MEDIA_CHUNK_BYTES, r.size)));
    }
  }

  // ---------------------------------------------------------------- "Your reports"

  /** A line for a report in "Your reports", or null when it has no files. */
  function line(reportId) {
    const files = waitingOf(reportId);
    if (files.length === 0) return null;
    const done = files.filter((r) => r.state === "done").length;
    const failed = files.filter((r) => r.state === "failed").length;
    let text;
    let tone = "";
    if (done === files.length) {
      text = plural("upload.mine_done", done);
      tone = "ok";
    } else if (failed) {
      text = t("upload.mine_failed", { failed, count: files.length });
      tone = "bad";
    } else {
      const size = files.reduce((s, r) => s + r.size, 0);
      const got = files.reduce((s, r) => s + (r.state === "done" ? r.size : r.received), 0);
      text = t("upload.mine_waiting", { done, count: files.length, percent: Math.floor((got * 100) / size) });
    }
    return el("p", { className: `report-media msg ${tone}`.trim(), text });
  }

  function renderHint() {
    byId("upload-hint").textContent = t("upload.hint", {
      max: megabytes(MAX_MEDIA_BYTES),
      count: MAX_MEDIA_PER_REPORT,
    });
  }
  renderHint();

  onLanguageChange(() => {
    renderHint();
    renderAttached();
    onChange();
  });

  return { declare, clear, accepted, refused, resume, line, reload };
}
