// The composition root of the citizens' portal: the language, the link to the relay, the
// device's identity and the screens. Each screen lives in its own module and is handed
// what it needs; this file only wires them together.
//
// Seams for the rest of issue 11, each where it will plug in:
//   chat              link.on("chat.deliver") / ("chat.status") and a screen per report
//   live alerts       live.js (alert.deliver), location.js (device.location)
//   map pin           a position source beside "Use my location" in report.js

import { setupAlerts } from "./alerts.js";
import { setupChat } from "./chat.js"; // chat (issue 11)
import { emailEnabled, setupEmail } from "./email.js"; // email sign-up
import { forgetEverything, loadCredentials, saveCredentials } from "./device.js";
import { byId, say } from "./dom.js";
import { problem } from "./errors.js";
import { LANGUAGES, apply, chosenLanguage, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import { Link, RelayError } from "./link.js";
import { setupMine } from "./mine.js";
import { setupPilot } from "./pilot.js"; // pilot (issue 12): joining with an invite code
import { setupPrivacy } from "./privacy.js"; // privacy: "Your data", erasure (issue 11)
import { setupLive } from "./live.js"; // live alerts and location sharing (issue 11)
import { setupLocation } from "./location.js";
import { setupReport } from "./report.js";
import { setupUpload } from "./upload.js"; // upload

const SCREENS = ["welcome", "report", "mine", "alerts", "device", "chat"];
const state = { pseudonym: "", categories: [], screen: "welcome", linkState: ["connecting"] };

const link = new Link({ onState: showLinkState, onOpen: authenticate });
// upload: photos and video go with a report; "Your reports" shows how far each got
const upload = setupUpload({ link, onChange: () => mine.render() });
const report = setupReport({ link, upload });
// chat (issue 11): each of "Your reports" opens its conversation; pushes and receipts in chat.js
const chat = setupChat({ link, show, screen: () => state.screen });
// pilot (issue 12): "Join a pilot" on "This device"; the exercise marking while in one
const pilot = setupPilot({ link });
const mine = setupMine({
  link,
  decorate: (li, r) => {
    chat.decorate(li, r);
    pilot.decorate(li, r); // pilot: a report sent in a pilot is marked exercise
  },
  mediaLine: upload.line,
});
const alerts = setupAlerts({ link, state });
const live = setupLive({ link }); // registers for alert.deliver before the first socket
const sharing = setupLocation({ link });
// privacy (issue 11, deliverable 3): "Your data" on "This device"; erasing and "Forget this
// device" both ask the relay first, then wipe this browser with forgetLocally
const privacy = setupPrivacy({ link, online: () => state.linkState[0] === "online", wipe: forgetLocally });
let registering = false;

/** Everything this browser holds about the device, gone; back to the first screen. */
function forgetLocally() {
  link.stop();
  sharing.forget(); // live alerts and location sharing: stop, and drop what they hold
  live.forget();
  forgetEverything();
  pilot.forget(); // pilot: its membership went with the rest of localStorage
  state.pseudonym = "";
  showLinkState("off");
  showWelcome();
}
// end privacy

async function authenticate(l) {
  const cred = loadCredentials();
  if (cred === null) {
    if (!registering) throw new Error("nothing to authenticate with");
    let reply;
    try {
      reply = await l.request({ type: "device.register", platform: "web" });
    } catch (err) {
      registering = false;
      say(byId("welcome-msg"), problem(err), "bad");
      throw err;
    }
    saveCredentials(reply.device_id, reply.secret); // first: the relay cannot repeat it
    state.pseudonym = reply.pseudonym;
    state.categories = [];
    registering = false;
    registered();
  } else {
    try {
      const reply = await l.request({ type: "device.auth", device_id: cred.device_id, secret: cred.secret });
      state.pseudonym = reply.pseudonym;
      state.categories = Array.isArray(reply.categories) ? reply.categories : [];
    } catch (err) {
      if (err instanceof RelayError && err.code === "bad_credentials") {
        forgetEverything(); // the relay no longer knows this device: start again
        showWelcome(t("welcome.unknown_device"));
      }
      throw err;
    }
    if (state.screen === "welcome") registered();
  }
  byId("pseudonym").textContent = state.pseudonym;
  alerts.render();
  sharing.online(); // live alerts and location sharing: after every (re)authentication
  live.online();
  await report.resume();
  chat.resume(); // chat (issue 11): unsent messages and receipts go again
  if (state.screen === "mine") mine.refresh();
}

function registered() {
  byId("tabs").hidden = false;
  show(pilot.invited() ? "device" : "report"); // pilot: an invitation opened: join first
  if (pilot.invited()) byId("pilot-h").focus();
}

function show(name) {
  state.screen = name;
  for (const s of SCREENS) byId(`screen-${s}`).hidden = s !== name;
  const section = name === "chat" ? "mine" : name; // chat (issue 11): a report's conversation
  for (const tab of byId("tabs").querySelectorAll("button")) {
    if (tab.dataset.screen === section) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (name === "mine") mine.refresh();
  if (name === "device") privacy.shown(); // privacy: what the relay holds now
  if (name === "chat") pilot.shown(); // pilot: a conversation about an exercise report
}

function showWelcome(message = "") {
  byId("tabs").hidden = true;
  show("welcome");
  say(byId("welcome-msg"), message, message ? "bad" : "");
}

function showLinkState(what = state.linkState[0], detail = state.linkState[1]) {
  state.linkState = [what, detail];
  const words = {
    connecting: () => t("link.connecting"),
    online: () => t("link.online", { pseudonym: state.pseudonym }),
    waiting: () => t("link.waiting", { seconds: detail }),
    replaced: () => t("link.replaced"),
    off: () => "",
  };
  byId("link-state").textContent = (words[what] ?? words.off)();
}

function setupLanguagePicker() {
  const select = byId("lang");
  for (const code of LANGUAGES) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = t(`language.${code}`);
    select.append(option);
  }
  select.value = language();
  select.addEventListener("change", () => setLanguage(select.value, true));
  onLanguageChange(() => {
    for (const option of select.options) option.textContent = t(`language.${option.value}`);
    showLinkState();
    alerts.render();
    mine.render();
  });
}

async function main() {
  await setLanguage(chosenLanguage());
  apply(document);
  setupLanguagePicker();

  for (const tab of byId("tabs").querySelectorAll("button")) {
    tab.addEventListener("click", () => {
      show(tab.dataset.screen);
      byId(`${tab.dataset.screen}-h`).focus();
    });
  }
  for (const s of SCREENS) byId(`${s}-h`).setAttribute("tabindex", "-1");

  byId("register").addEventListener("click", () => {
    registering = true;
    say(byId("welcome-msg"), t("welcome.registering"));
    link.start();
  });

  byId("forget").addEventListener("click", () => privacy.forget()); // privacy: relay first

  // email sign-up: only when the relay sends email (its /portal-config.json says so)
  emailEnabled().then((config) => {
    if (config) setupEmail({ link, config });
    document.body.dataset.email = config ? "on" : "off";
  });

  if (loadCredentials() === null) {
    showLinkState("off");
    showWelcome();
  } else {
    registered();
    link.start();
  }
}

main().catch((err) => {
  say(byId("welcome-msg"), problem(err), "bad");
});
