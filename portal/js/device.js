// The device's pseudonymous identity, kept in this browser's localStorage: the relay
// cannot show the secret again, so it is stored before anything else is done with it.

import { forgetUploads } from "./upload-store.js";

const KEY = "lookout.device";
const PENDING = "lookout.pending-report";

export function loadCredentials() {
  try {
    const found = JSON.parse(localStorage.getItem(KEY) ?? "null");
    if (found && typeof found.device_id === "string" && typeof found.secret === "string") return found;
  } catch {
    // unreadable: as if there were none
  }
  return null;
}

export function saveCredentials(deviceId, secret) {
  localStorage.setItem(KEY, JSON.stringify({ device_id: deviceId, secret }));
}

/** Everything this portal keeps in the browser about the device, gone. */
export function forgetEverything() {
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith("lookout.") && key !== "lookout.lang") localStorage.removeItem(key);
  }
  forgetUploads(); // upload: the files waiting to go, and what was sent
}

/** A report written but not yet acknowledged: resent (same client_ref) after a reload or
 * a reconnect, so a dropped link never loses or doubles it. */
export function pendingReport() {
  try {
    return JSON.parse(localStorage.getItem(PENDING) ?? "null");
  } catch {
    return null;
  }
}

export function setPendingReport(report) {
  if (report === null) localStorage.removeItem(PENDING);
  else localStorage.setItem(PENDING, JSON.stringify(report));
}
