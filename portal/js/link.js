// The one websocket to the relay (wss to this same host, /v1/citizen): requests matched to
// replies by id, pushes handed to whoever asked for their type, and reconnection with
// backoff and jitter (docs/protocol.md, section 1). Nothing here knows what a report is.

import { CITIZEN_PATH, VERSION } from "./protocol.js";

export class RelayError extends Error {
  constructor(code, message, retryAfterS) {
    super(message);
    this.code = code;
    this.retryAfterS = retryAfterS ?? null;
  }
}

/** The link dropped (or never opened) before the reply came. */
export class LinkLost extends Error {
  constructor() {
    super("link lost");
    this.code = "offline";
  }
}

const REPLY_TIMEOUT_MS = 20000;

export class Link {
  /**
   * @param {object} hooks
   *   onState(state, detail): "connecting" | "online" | "waiting" (detail: seconds) | "replaced"
   *   onOpen(link): authenticates a new socket; throwing closes it and stops reconnecting
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.ws = null;
    this.pending = new Map();
    this.pushes = new Map();
    this.counter = 0;
    this.backoffS = 0.5;
    this.timer = null;
    this.stopped = true;
  }

  static url() {
    return `wss://${location.host}${CITIZEN_PATH}`;
  }

  start() {
    this.stopped = false;
    if (this.ws === null) this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws !== null) this.ws.close(1000, "bye");
    this.ws = null;
    this.failPending();
  }

  /** Handle every push of this `type` (e.g. "chat.deliver", "alert.deliver"). */
  on(type, handler) {
    this.pushes.set(type, handler);
  }

  request(fields) {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return Promise.reject(new LinkLost());
    const id = `p${++this.counter}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LinkLost());
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ v: VERSION, id, ...fields }));
    });
  }

  connect() {
    this.hooks.onState("connecting");
    const ws = new WebSocket(Link.url());
    this.ws = ws;
    ws.addEventListener("open", async () => {
      try {
        await this.hooks.onOpen(this);
        this.backoffS = 0.5;
        this.hooks.onState("online");
      } catch (err) {
        if (!(err instanceof LinkLost)) this.stop();
      }
    });
    ws.addEventListener("message", (event) => this.received(event.data));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending();
      if (this.stopped) return;
      if (event.code === 1000 && /replaced/.test(event.reason)) {
        // this device opened a newer connection (another tab): that one carries on
        this.stopped = true;
        this.hooks.onState("replaced");
        return;
      }
      const wait = this.backoffS * (0.5 + Math.random());
      this.backoffS = Math.min(this.backoffS * 2, 30);
      this.hooks.onState("waiting", Math.ceil(wait));
      this.timer = setTimeout(() => this.connect(), wait * 1000);
    });
  }

  received(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return; // the relay sends JSON only; a broken frame is not worth a crash
    }
    if (typeof msg !== "object" || msg === null) return;
    if (typeof msg.re === "string" && this.pending.has(msg.re)) {
      const { resolve, reject, timer } = this.pending.get(msg.re);
      clearTimeout(timer);
      this.pending.delete(msg.re);
      if (msg.type === "error") reject(new RelayError(msg.code, msg.message, msg.retry_after_s));
      else resolve(msg);
      return;
    }
    const handler = this.pushes.get(msg.type);
    if (handler !== undefined) handler(msg);
  }

  failPending() {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new LinkLost());
    }
    this.pending.clear();
  }
}
