// "Alerts": the categories this device asks alerts for (device.categories). Showing
// alerts themselves comes with live alerts; this only keeps the choice on the relay.

import { byId, el, say } from "./dom.js";
import { problem } from "./errors.js";
import { plural, t } from "./i18n.js";
import { CATEGORIES } from "./protocol.js";

export function setupAlerts({ link, state }) {
  const box = byId("alerts-choices");
  const msg = byId("alerts-msg");

  function render() {
    box.replaceChildren(
      ...CATEGORIES.map((name) => {
        const input = el("input", { type: "checkbox", name: "category", value: name });
        input.checked = state.categories.includes(name);
        return el("label", {}, input, el("span", { text: t(`category.${name}`) }));
      }),
    );
  }

  byId("alerts-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...box.querySelectorAll("input:checked")].map((i) => i.value);
    say(msg, t("alerts.saving"));
    try {
      await link.request({ type: "device.categories", categories: chosen });
      state.categories = chosen;
      say(msg, plural("alerts.saved", chosen.length), "ok");
    } catch (err) {
      say(msg, problem(err), "bad");
    }
  });

  return { render };
}
