// The page behind the links in Lookout's emails: /email/confirm?token=… and
// /email/unsubscribe?token=…. Opening it changes nothing, because mail scanners and link
// previews open every link in an email; the button POSTs back to this same address (the
// token in it is the whole capability), as an RFC 8058 one-click unsubscribe would.

import { byId, say } from "./dom.js";
import { chosenLanguage, setLanguage, t } from "./i18n.js";

const KINDS = {
  "/email/confirm": { key: "confirm", fields: { confirm: "yes" } },
  "/email/unsubscribe": { key: "unsubscribe", fields: { "List-Unsubscribe": "One-Click" } },
};

async function main() {
  await setLanguage(chosenLanguage());
  const kind = KINDS[location.pathname];
  const form = byId("emaillink-form");
  const go = byId("emaillink-go");
  const msg = byId("emaillink-msg");
  if (kind === undefined) return;
  byId("emaillink-h").textContent = t(`emaillink.${kind.key}_heading`);
  byId("emaillink-explain").textContent = t(`emaillink.${kind.key}_explain`);
  go.textContent = t(`emaillink.${kind.key}_go`);
  document.title = t(`emaillink.${kind.key}_heading`);
  if (!new URLSearchParams(location.search).get("token")) {
    form.hidden = true;
    say(msg, t("emaillink.no_token"), "bad");
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    go.disabled = true;
    say(msg, t("emaillink.working"));
    try {
      const answer = await fetch(location.href, {
        method: "POST",
        body: new URLSearchParams(kind.fields),
        credentials: "omit",
        cache: "no-store",
      });
      if (answer.ok) {
        form.hidden = true;
        say(msg, t(`emaillink.${kind.key}_done`), "ok");
      } else {
        say(msg, t(answer.status === 404 ? `emaillink.${kind.key}_unknown` : "emaillink.failed"), "bad");
      }
    } catch {
      say(msg, t("emaillink.offline"), "bad");
    } finally {
      go.disabled = false;
    }
  });
}

main().catch(() => {
  // the catalogue did not load: the page's English text and its plain form still work
});
