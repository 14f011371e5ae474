// What went wrong, in the citizen's words: by the relay's error code (stable), never its
// English `message` (meant for logs).

import { has, t } from "./i18n.js";

export function problem(err) {
  const code = err && typeof err.code === "string" ? err.code : "";
  if (code === "rate_limited" && err.retryAfterS) {
    return t("error.rate_limited_wait", { seconds: Math.ceil(err.retryAfterS) });
  }
  return has(`error.${code}`) ? t(`error.${code}`) : t("error.generic");
}
