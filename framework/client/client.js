// mega browser client: one WebSocket with reconnection, request/reply by
// ref, message history with recovery after a reconnect, token refresh, and
// a presence list kept in sync with the server's roster.
//
// An ES module with no dependencies and no build step. Every mega app
// serves it at /_mega/client.js (types at /_mega/client.d.ts):
//
//   import { connect, Presence } from "/_mega/client.js";
//   const socket = connect("/ws/chat", { params: { name: "ann" } });
//   const presence = new Presence(socket);
//   socket.on("chat.message", (msg) => show(msg.text));
//   presence.onSync(() => render(presence.users()));
//   socket.send("chat.send", { text: "hi" });
//
// Wire format (docs/adr/0002-message-envelope.md): JSON text frames
// {"type", "payload", "ref"}; a reply carries the ref of its request; an
// error frame is {"type":"error","payload":{"code","message","ref"}}.
//
// The full reference is docs/client.md.

/** Connection states, in the order a socket usually goes through them. */
export const STATES = Object.freeze(["connecting", "connected", "reconnecting", "offline"]);

/** Default reconnection policy; every field can be overridden in connect(). */
export const DEFAULT_BACKOFF = Object.freeze({
  base: 250, // ms: ceiling of the first retry
  cap: 10000, // ms: largest ceiling
  stable: 5000, // ms a connection must last before the attempt count resets
  drain: 2000, // ms: smallest ceiling after the server went away (1001)
  penalty: 5000, // ms: smallest ceiling after 4008 (slow), 4029 (rate), 1008, 1011
  penaltyMin: 1000, // ms: smallest delay after those
  hintMax: 60000, // ms: largest server hint honoured
});

/** Close codes after which the client waits longer (see DEFAULT_BACKOFF). */
export const CLOSE_GOING_AWAY = 1001;
/** Close code of a connection whose token expired (see the token option). */
export const CLOSE_TOKEN_EXPIRED = 4001;
const PENALTY_CODES = new Set([1008, 1011, 4008, 4029]);

// A token is refreshed a quarter of its remaining lifetime before it
// expires, and at least this long before (ms).
const TOKEN_MARGIN = 30000;
const MAX_TIMEOUT = 2 ** 31 - 1; // ms: the longest setTimeout browsers honour

/**
 * MegaError is how a request fails. code is the server's error code
 * ("bad_request", "unknown_type", "internal" or an app's own), or
 * "timeout", "disconnected" (the socket closed or was not open) or
 * "closed" (close() was called).
 */
export class MegaError extends Error {
  constructor(code, message, { ref, payload } = {}) {
    super(message || code);
    this.name = "MegaError";
    this.code = code;
    if (ref !== undefined) this.ref = ref;
    if (payload !== undefined) this.payload = payload;
  }
}

/**
 * backoffCeiling is the largest delay of retry number attempt (0 for the
 * first retry): min(cap, base * 2^attempt).
 */
export function backoffCeiling(attempt, policy = DEFAULT_BACKOFF) {
  const p = { ...DEFAULT_BACKOFF, ...policy };
  const exp = Math.min(attempt, 30); // 2^30 * base overflows any cap anyway
  return Math.min(p.cap, p.base * 2 ** exp);
}

/**
 * backoffDelay is the wait before retry number attempt: "full jitter",
 * a uniformly random time in [min, ceiling), so clients cut off together
 * come back spread out instead of in one wave.
 *
 * close ({code, reason}) is how the last connection ended: 1001 (the
 * server is going away) raises the ceiling to policy.drain; 4008, 4029,
 * 1008 and 1011 raise it to policy.penalty and wait at least
 * policy.penaltyMin. A close reason containing "retry=<ms>" raises the
 * ceiling to that many milliseconds (at most policy.hintMax): a draining
 * server can ask its clients to spread out over a longer window.
 */
export function backoffDelay(attempt, policy = DEFAULT_BACKOFF, close = {}, random = Math.random) {
  const p = { ...DEFAULT_BACKOFF, ...policy };
  let ceiling = backoffCeiling(attempt, p);
  let min = 0;
  if (close.code === CLOSE_GOING_AWAY) ceiling = Math.max(ceiling, p.drain);
  if (PENALTY_CODES.has(close.code)) {
    ceiling = Math.max(ceiling, p.penalty);
    min = Math.min(p.penaltyMin, ceiling);
  }
  const hint = retryHint(close.reason);
  if (hint > 0) ceiling = Math.max(ceiling, Math.min(hint, p.hintMax));
  return Math.floor(min + random() * (ceiling - min));
}

/** retryHint reads "retry=<ms>" from a close reason; 0 when absent. */
export function retryHint(reason) {
  const m = /(?:^|[\s;,])retry=(\d{1,9})(?:ms)?(?:$|[\s;,])/.exec(reason || "");
  return m ? Number(m[1]) : 0;
}

/**
 * wsURL turns url into a WebSocket URL: "/ws/chat" is resolved against
 * base (the page's location), http(s) becomes ws(s), and params are
 * added to the query string.
 */
export function wsURL(url, params, base) {
  const u = new URL(url, base || "ws://localhost/");
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    u.searchParams.set(k, String(v));
  }
  return u.toString();
}

/** A tiny listener set whose add returns its own remover. */
class Listeners {
  #fns = new Set();
  add(fn) {
    if (typeof fn !== "function") throw new TypeError("listener must be a function");
    const entry = { fn }; // one entry per add, so the same fn can be added twice
    this.#fns.add(entry);
    return () => this.#fns.delete(entry);
  }
  emit(...args) {
    for (const entry of [...this.#fns]) {
      try {
        entry.fn(...args);
      } catch (err) {
        reportError(err);
      }
    }
  }
  get size() {
    return this.#fns.size;
  }
}

// reportError surfaces a listener's exception without breaking the loop
// that called it (one bad listener must not stop the others or the socket).
function reportError(err) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(err);
  else if (typeof console !== "undefined") console.error(err);
}

/**
 * connect opens a socket to url (absolute, or a path resolved against the
 * page) and keeps it open until close(). See Socket for the options.
 */
export function connect(url, options = {}) {
  return new Socket(url, options);
}

/**
 * Socket is one logical connection that survives reconnects.
 *
 * Options:
 *   params     object, or function returning one, added to the URL's query
 *              on every (re)connect (a function can change room or token)
 *   backoff    overrides of DEFAULT_BACKOFF
 *   timeout    default request timeout in ms (10000)
 *   WebSocket  the WebSocket class (default globalThis.WebSocket)
 *   window     where to find navigator.onLine and online/offline events
 *              (default globalThis when it has them)
 *   timers     {setTimeout, clearTimeout} (default the global ones)
 *   random     () => number in [0, 1) for jitter (default Math.random)
 *   now        () => ms since 1970 (default Date.now), for token expiry
 *   lazy       true: do not connect until reconnect() is called
 *   token      a string, or a function returning a string or
 *              {token, expiresAt} (or a promise of one), sent as ?token=
 *              on every (re)connect; a function is also called to refresh
 *              the token over the socket before it expires, and after the
 *              server closed with 4001. Without a function, a 4001 close
 *              (expired token, or a session cookie logged out) leaves the
 *              socket offline until reconnect(), as does a function
 *              returning no token.
 *   recover    false: do not recover positions after a reconnect (default
 *              true; duplicates are dropped either way)
 *
 * History: for every frame carrying channel, epoch and offset the socket
 * keeps the last position of that channel and drops frames at or below it
 * (duplicates). After every (re)connect it sends history.recover for each
 * known position and reports the outcome to onRecovered listeners.
 */
export class Socket {
  #url;
  #opts;
  #backoff;
  #WS;
  #win;
  #timers;
  #random;
  #now;
  #provider = null; // the token function, or null

  #ws = null; // the current WebSocket, or null
  #state = "offline";
  #attempt = 0; // retries since the last stable connection
  #retryTimer = null;
  #stableTimer = null;
  #closed = false; // close() was called
  #refSeq = 0;
  #pending = new Map(); // ref -> {resolve, reject, timer}
  #listeners = new Map(); // type -> Listeners
  #stateListeners = new Listeners();
  #gen = 0; // bumped whenever a connection attempt is abandoned
  #token = null; // {value, expiresAt, refreshAt} (ms; Infinity: never), or null
  #tokenTimer = null;
  #positions = new Map(); // channel -> {epoch, offset}
  #held = new Map(); // channel -> its frames that came while its recovery runs
  #recoveredListeners = new Listeners();
  #listening = false; // online/offline listeners are on the window
  #onOnline = () => this.#browserOnline();
  #onOffline = () => this.#browserOffline();

  constructor(url, options = {}) {
    this.#url = url;
    this.#opts = options;
    this.#backoff = { ...DEFAULT_BACKOFF, ...(options.backoff || {}) };
    this.#WS = options.WebSocket || globalThis.WebSocket;
    if (typeof this.#WS !== "function") throw new TypeError("mega: no WebSocket class available");
    this.#win = options.window !== undefined ? options.window : globalThis;
    this.#timers = options.timers || { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (t) => clearTimeout(t) };
    this.#random = options.random || Math.random;
    this.#now = options.now || Date.now;
    if (typeof options.token === "function") this.#provider = options.token;
    else if (options.token !== undefined && options.token !== null) this.#setToken(options.token);
    this.#listen(true);
    if (!options.lazy) this.#open("connecting");
  }

  /** The current state: "connecting", "connected", "reconnecting" or "offline". */
  get state() {
    return this.#state;
  }

  /** True while the socket is open and send() writes. */
  get connected() {
    return this.#state === "connected";
  }

  /** How many retries have happened since the last stable connection. */
  get attempt() {
    return this.#attempt;
  }

  /** The URL the next connection will use (params applied). */
  get url() {
    return this.#resolveURL();
  }

  /**
   * on calls fn(payload, frame) for every frame of type ("*" for every
   * frame). Error frames that answer a pending request() reject it
   * instead and are not dispatched. Returns a function that unsubscribes.
   */
  on(type, fn) {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Listeners();
      this.#listeners.set(type, set);
    }
    return set.add(fn);
  }

  /**
   * onState calls fn(state, info) whenever the state changes, and again
   * for every scheduled retry while reconnecting. info has attempt, and
   * for "reconnecting" delay (ms until the next try), code and reason of
   * the close. Returns a function that unsubscribes.
   */
  onState(fn) {
    return this.#stateListeners.add(fn);
  }

  /**
   * send writes one frame. It returns false, and sends nothing, when the
   * socket is not connected: frames are never queued across reconnects.
   */
  send(type, payload, ref) {
    if (typeof type !== "string" || type === "") throw new TypeError("mega: send: type must be a non-empty string");
    const ws = this.#ws;
    if (!ws || this.#state !== "connected" || ws.readyState !== 1) return false;
    const frame = { type };
    if (payload !== undefined) frame.payload = payload;
    if (ref !== undefined) frame.ref = ref;
    ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * request sends a frame with a fresh ref and resolves with the payload
   * of the reply carrying that ref. It rejects with a MegaError: the
   * server's code for an error frame, "timeout" after options.timeout ms,
   * "disconnected" when the socket is not open or closes first, "closed"
   * after close().
   */
  request(type, payload, options = {}) {
    return new Promise((resolve, reject) => this.#call(type, payload, options, resolve, reject));
  }

  /**
   * history asks for the last messages of channel (history.get) and
   * resolves with {channel, epoch, offset, messages}: messages are whole
   * frames, oldest first. The reply's position becomes the channel's
   * position when it is newer, so that a later reconnect recovers from
   * there and live frames the reply already holds are dropped. Rejects
   * like request().
   */
  history(channel, options = {}) {
    return new Promise((resolve, reject) => {
      if (typeof channel !== "string" || channel === "") throw new TypeError("mega: history: channel must be a non-empty string");
      const payload = { channel };
      if (options.limit !== undefined) payload.limit = options.limit;
      const done = (p) => {
        const reply = { ...(p || {}), channel: (p && p.channel) || channel };
        if (!Array.isArray(reply.messages)) reply.messages = [];
        if (isPosition(reply.epoch, reply.offset)) this.#advance(reply.channel, reply.epoch, reply.offset);
        resolve(reply);
      };
      this.#call("history.get", payload, options, done, reject);
    });
  }

  /** position returns the last {epoch, offset} seen on channel, or undefined. */
  position(channel) {
    const p = this.#positions.get(channel);
    return p ? { ...p } : undefined;
  }

  /**
   * track sets the position of channel (e.g. one saved before a page
   * reload), so that the next connection recovers from there.
   */
  track(channel, position) {
    if (typeof channel !== "string" || channel === "") throw new TypeError("mega: track: channel must be a non-empty string");
    if (!position || !isPosition(position.epoch, position.offset)) {
      throw new TypeError("mega: track: position must be {epoch: string, offset: number}");
    }
    this.#positions.set(channel, { epoch: position.epoch, offset: position.offset });
  }

  /**
   * forget drops the position of channel (of every channel without an
   * argument): it is no longer recovered after a reconnect. Call it when
   * leaving a room; its next frame starts a new position.
   */
  forget(channel) {
    if (channel === undefined) this.#positions.clear();
    else this.#positions.delete(channel);
  }

  /**
   * onRecovered calls fn({channel, recovered, epoch, offset, error}) for
   * every recovery after a (re)connect. recovered false (the position is
   * older than the history, from another epoch, or the request failed:
   * error) means messages may be missing: reload the channel with
   * history(). Returns a function that unsubscribes.
   */
  onRecovered(fn) {
    return this.#recoveredListeners.add(fn);
  }

  /**
   * refreshToken sends token.refresh {token} and resolves with
   * {expiresAt} (a Date, or null when the token does not expire). The
   * token is then the one later reconnects use. Rejects like request(),
   * with code "unauthorized" for a refused token.
   */
  refreshToken(token, options = {}) {
    return new Promise((resolve, reject) => {
      if (typeof token !== "string" || token === "") throw new TypeError("mega: refreshToken: token must be a non-empty string");
      const done = (p) => {
        const expiresAt = p && p.expiresAt ? new Date(p.expiresAt) : null;
        this.#setToken({ token, expiresAt });
        resolve({ expiresAt });
      };
      this.#call("token.refresh", { token }, options, done, reject);
    });
  }

  /**
   * reconnect drops the current connection (if any) and connects again at
   * once with a fresh backoff, e.g. after params changed. It also revives
   * a socket after close().
   */
  reconnect() {
    this.#closed = false;
    this.#attempt = 0;
    this.#listen(true);
    this.#drop(4000, "reconnect");
    this.#open("connecting");
  }

  /** close ends the connection for good (until reconnect()): state "offline". */
  close(code = 1000, reason = "") {
    this.#closed = true;
    this.#rejectAll("closed", "mega: socket closed");
    this.#drop(code, reason);
    this.#timers.clearTimeout(this.#tokenTimer);
    this.#tokenTimer = null;
    this.#setState("offline", { attempt: this.#attempt });
    this.#listen(false);
  }

  // ---- internals -----------------------------------------------------

  #listen(on) {
    const w = this.#win;
    if (on === this.#listening || !w || typeof w.addEventListener !== "function") return;
    this.#listening = on;
    const method = on ? "addEventListener" : "removeEventListener";
    if (typeof w[method] !== "function") return;
    w[method]("online", this.#onOnline);
    w[method]("offline", this.#onOffline);
  }

  #nextRef() {
    this.#refSeq += 1;
    return this.#refSeq.toString(36);
  }

  // #call sends a request and calls resolve(payload) or reject(MegaError)
  // exactly once. A reply is handled synchronously, before the frames that
  // follow it are dispatched.
  #call(type, payload, options, resolve, reject) {
    const ref = this.#nextRef();
    if (this.#closed) return reject(new MegaError("closed", "mega: socket is closed", { ref }));
    if (!this.send(type, payload, ref)) {
      return reject(new MegaError("disconnected", "mega: not connected", { ref }));
    }
    const ms = (options && options.timeout) ?? this.#opts.timeout ?? 10000;
    const timer = this.#timers.setTimeout(() => {
      this.#pending.delete(ref);
      reject(new MegaError("timeout", `mega: no reply to ${type} within ${ms} ms`, { ref }));
    }, ms);
    this.#pending.set(ref, { resolve, reject, timer });
  }

  #resolveURL() {
    const p = this.#opts.params;
    let params = typeof p === "function" ? p() : p;
    if (this.#token) params = { ...(params || {}), token: this.#token.value };
    const loc = this.#win && this.#win.location;
    return wsURL(this.#url, params, loc && loc.href);
  }

  // ---- tokens ----

  // #setToken makes t (a string or {token, expiresAt}) the current token
  // and, with a token function, schedules its refresh. It reports whether t
  // held a token.
  #setToken(t) {
    this.#timers.clearTimeout(this.#tokenTimer);
    this.#tokenTimer = null;
    const value = typeof t === "string" ? t : t && typeof t.token === "string" ? t.token : "";
    if (!value) {
      this.#token = null;
      return false;
    }
    const expiresAt = toMillis(typeof t === "string" ? null : t.expiresAt);
    const now = this.#now();
    const left = expiresAt - now;
    const refreshAt = expiresAt === Infinity ? Infinity : expiresAt - Math.min(TOKEN_MARGIN, Math.max(0, left) / 4);
    this.#token = { value, expiresAt, refreshAt };
    if (this.#provider && refreshAt !== Infinity) this.#scheduleRefresh(refreshAt - now);
    return true;
  }

  // #scheduleRefresh runs #autoRefresh in ms, in hops of at most ~24 days
  // (a longer setTimeout fires at once).
  #scheduleRefresh(ms) {
    this.#timers.clearTimeout(this.#tokenTimer);
    const due = this.#now() + ms;
    this.#tokenTimer = this.#timers.setTimeout(() => {
      this.#tokenTimer = null;
      const left = due - this.#now();
      if (left > 0) this.#scheduleRefresh(left);
      else this.#autoRefresh();
    }, Math.min(Math.max(0, ms), MAX_TIMEOUT));
  }

  // #tokenUsable: the current token may open a connection (a token
  // function is asked again once the refresh time has come).
  #tokenUsable() {
    return this.#token !== null && this.#now() < this.#token.refreshAt;
  }

  // #autoRefresh gets a new token from the token function and sends it
  // over the open socket. Disconnected, it does nothing: the next
  // connection asks the function. A failure is tried again at half the
  // time left, while a second or more is left; after that the server
  // closes with 4001 and the reconnect gets a fresh token.
  async #autoRefresh() {
    if (!this.#provider || this.#closed || !this.connected) return;
    const retry = () => {
      const left = (this.#token ? this.#token.expiresAt : 0) - this.#now();
      if (Number.isFinite(left) && left >= 2000 && !this.#tokenTimer) this.#scheduleRefresh(left / 2);
    };
    let t;
    try {
      t = await this.#provider();
    } catch (err) {
      reportError(err);
      return retry();
    }
    const value = typeof t === "string" ? t : t && typeof t.token === "string" ? t.token : "";
    if (!value) return; // signed out: the server closes at expiry, and the reconnect stops
    try {
      await this.refreshToken(value);
    } catch (err) {
      if (err.code !== "disconnected" && err.code !== "closed") retry();
    }
  }

  // #halt stops reconnecting, as after close() but keeping the window
  // listeners: credentials the server refused, and none to replace them.
  #halt(close) {
    this.#closed = true;
    this.#drop(4000, "halt");
    this.#rejectAll("disconnected", "mega: no valid token");
    this.#setState("offline", { attempt: this.#attempt, ...close });
  }

  #online() {
    const nav = this.#win && this.#win.navigator;
    return !nav || nav.onLine !== false;
  }

  // #setState records state and tells the listeners when it changed, or
  // when a new retry was scheduled (info.delay set).
  #setState(state, info = {}) {
    const changed = state !== this.#state;
    this.#state = state;
    if (changed || info.delay !== undefined) this.#stateListeners.emit(state, info);
  }

  // #open starts a connection attempt, showing state meanwhile. With a
  // token function and no usable token it asks for one first.
  #open(state) {
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#closed) return;
    if (!this.#online()) {
      this.#setState("offline", { attempt: this.#attempt });
      return;
    }
    const gen = ++this.#gen;
    if (!this.#provider || this.#tokenUsable()) return this.#dial(state);
    this.#setState(state, { attempt: this.#attempt });
    const failed = (err) => {
      if (gen !== this.#gen || this.#closed) return;
      reportError(err);
      this.#scheduleRetry({ code: 1006, reason: `token: ${err && err.message}` });
    };
    const got = (t) => {
      if (gen !== this.#gen || this.#closed) return;
      if (!this.#setToken(t)) return this.#halt({ code: CLOSE_TOKEN_EXPIRED, reason: "no token" });
      this.#dial(state);
    };
    let t;
    try {
      t = this.#provider();
    } catch (err) {
      return failed(err);
    }
    if (t && typeof t.then === "function") t.then(got, failed);
    else got(t);
  }

  // #dial opens the WebSocket.
  #dial(state) {
    let ws;
    try {
      ws = new this.#WS(this.#resolveURL());
    } catch (err) {
      // A malformed URL or a blocked port: retry like any failed attempt.
      reportError(err);
      this.#setState(state, { attempt: this.#attempt });
      this.#scheduleRetry({ code: 1006, reason: String(err && err.message) });
      return;
    }
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      opened = true;
      this.#setState("connected", { attempt: this.#attempt });
      this.#stableTimer = this.#timers.setTimeout(() => {
        this.#stableTimer = null;
        this.#attempt = 0;
      }, this.#backoff.stable);
      if (this.#opts.recover !== false && this.#ws === ws) this.#recoverAll();
    };
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#receive(ev.data);
    };
    ws.onerror = () => {}; // a close event always follows
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return; // replaced on purpose
      this.#ws = null;
      this.#timers.clearTimeout(this.#stableTimer);
      this.#stableTimer = null;
      this.#rejectAll("disconnected", "mega: connection lost");
      const close = { code: ev.code, reason: ev.reason };
      if (ev.code === CLOSE_TOKEN_EXPIRED || (!opened && this.#provider)) {
        // The credentials expired (a token, or a session cookie: logged
        // out), or the token may be why the upgrade failed (a browser sees
        // a refused upgrade as 1006): never retry blindly with them.
        if (!this.#provider) return this.#halt(close);
        this.#token = null;
      }
      this.#scheduleRetry(close);
    };
    this.#setState(state, { attempt: this.#attempt });
  }

  #scheduleRetry(close) {
    if (this.#closed) return;
    if (!this.#online()) {
      this.#setState("offline", { attempt: this.#attempt, ...close });
      return;
    }
    const delay = backoffDelay(this.#attempt, this.#backoff, close, this.#random);
    const attempt = ++this.#attempt;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = this.#timers.setTimeout(() => this.#open("reconnecting"), delay);
    this.#setState("reconnecting", { attempt, delay, code: close.code, reason: close.reason });
  }

  // #drop detaches and closes the current WebSocket without scheduling a
  // retry.
  #drop(code, reason) {
    this.#gen += 1; // a token being fetched for an attempt is not used
    this.#timers.clearTimeout(this.#retryTimer);
    this.#timers.clearTimeout(this.#stableTimer);
    this.#retryTimer = this.#stableTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      this.#rejectAll("disconnected", "mega: connection replaced");
      try {
        ws.close(code, reason);
      } catch {
        ws.close(); // a code the browser refuses
      }
    }
  }

  #rejectAll(code, message) {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      this.#timers.clearTimeout(p.timer);
      p.reject(new MegaError(code, message));
    }
  }

  #receive(data) {
    if (typeof data !== "string") return; // mega speaks JSON text only
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
    const ref = frame.ref || (frame.type === "error" && frame.payload && frame.payload.ref) || "";
    const pending = ref ? this.#pending.get(ref) : undefined;
    if (pending) {
      this.#pending.delete(ref);
      this.#timers.clearTimeout(pending.timer);
      if (frame.type === "error") {
        const p = frame.payload || {};
        pending.reject(new MegaError(p.code || "error", p.message, { ref, payload: p }));
        return; // the rejection is the error's one delivery
      }
      pending.resolve(frame.payload);
    }
    if (isPosition(frame.epoch, frame.offset) && typeof frame.channel === "string" && frame.channel !== "") {
      const held = this.#held.get(frame.channel);
      if (held) {
        held.push(frame); // handled in offset order once the recovery is answered
        return;
      }
      if (!this.#advance(frame.channel, frame.epoch, frame.offset)) return; // a duplicate
    }
    this.#dispatch(frame);
  }

  // ---- history ----

  // #advance moves channel's position to (epoch, offset) and reports
  // whether it moved: within an epoch only forward; another epoch (the
  // history was lost and started again) replaces it.
  #advance(channel, epoch, offset) {
    const pos = this.#positions.get(channel);
    if (pos && pos.epoch === epoch && offset <= pos.offset) return false;
    this.#positions.set(channel, { epoch, offset });
    return true;
  }

  #recoverAll() {
    this.#held.clear();
    for (const [channel, pos] of this.#positions) this.#recover(channel, pos);
  }

  // #release hands the frames held for channel during its recovery to the
  // listeners in offset order (per epoch, in the order epochs came), each
  // once. The server sends the missed frames then the reply; live frames
  // that reached the new connection before the request may come before
  // the replay, and again in it: held, sorted and filtered, neither is
  // lost nor doubled.
  #release(channel) {
    const held = this.#held.get(channel);
    if (!held) return;
    this.#held.delete(channel);
    const rank = new Map();
    for (const f of held) if (!rank.has(f.epoch)) rank.set(f.epoch, rank.size);
    held.sort((a, b) => rank.get(a.epoch) - rank.get(b.epoch) || a.offset - b.offset);
    for (const f of held) {
      if (this.#advance(f.channel, f.epoch, f.offset)) this.#dispatch(f);
    }
  }

  // #recover sends history.recover for one position. The server sends the
  // missed frames, then replies; the channel's frames are held until then
  // (see #release). A lost connection is not reported: the next one
  // recovers again.
  #recover(channel, sent) {
    this.#held.set(channel, []);
    const emit = (e) => this.#recoveredListeners.emit(e);
    const done = (p) => {
      this.#release(channel);
      const recovered = Boolean(p && p.recovered === true);
      if (!recovered) this.#forgetUnmoved(channel, sent);
      emit({ channel, recovered, epoch: p && p.epoch, offset: p && p.offset });
    };
    const failed = (err) => {
      this.#release(channel);
      if (err.code === "disconnected" || err.code === "closed") return;
      if (err.code === "forbidden") this.#forgetUnmoved(channel, sent);
      emit({ channel, recovered: false, error: err });
    };
    this.#call("history.recover", { channel, epoch: sent.epoch, offset: sent.offset }, {}, done, failed);
  }

  // #forgetUnmoved drops channel's position if it is still sent: a
  // position the server cannot recover from is useless, but one that live
  // frames moved on since is newer than what failed.
  #forgetUnmoved(channel, sent) {
    const pos = this.#positions.get(channel);
    if (pos === sent) this.#positions.delete(channel);
  }

  #dispatch(frame) {
    const typed = this.#listeners.get(frame.type);
    if (typed) typed.emit(frame.payload, frame);
    const any = this.#listeners.get("*");
    if (any) any.emit(frame.payload, frame);
  }

  #browserOffline() {
    if (this.#closed) return;
    this.#attempt = 0;
    this.#drop(4000, "browser offline");
    this.#rejectAll("disconnected", "mega: browser offline");
    this.#setState("offline", { attempt: 0 });
  }

  #browserOnline() {
    if (this.#closed || this.#state !== "offline") return;
    this.#open("reconnecting");
  }
}

/**
 * Presence keeps the member list of a namespace in sync: the state comes
 * from a welcome frame's members or a roster reply, then presence.join,
 * presence.update and presence.leave diffs (payload: the member
 * {sessionId, userId, metadata, ...}) are applied. Diffs that arrive
 * before the state (on every new connection) are buffered and applied
 * after it, in order. On reconnect the list is kept and reconciled with
 * the next state: callbacks fire only for real changes.
 *
 * Options:
 *   filter     (member) => boolean: only matching members are listed and
 *              reported (e.g. (m) => m.metadata?.room === "lobby"); a
 *              member whose update makes it match joins, one whose update
 *              makes it stop matching leaves
 *   state      frame types carrying {members: [...]} (["welcome", "roster"])
 *   events     {join, update, leave, diff, count} frame types
 *              ("presence.join", "presence.update", "presence.leave",
 *              "presence.diff", "presence.count"); a diff
 *              {joins, leaves, updates} is several changes applied at once
 *              (one onSync), a count {count} is what count() returns
 *   request    the request type that asks for the roster ("roster.get")
 */
export class Presence {
  #socket;
  #filter;
  #members = new Map(); // sessionId -> member (all, unfiltered)
  #synced = false;
  #buffer = []; // [op, member] diffs waiting for the state
  #self = null; // {sessionId, userId} from the welcome
  #unsubs = [];
  #join = new Listeners();
  #leave = new Listeners();
  #update = new Listeners();
  #sync = new Listeners();
  #countListeners = new Listeners();
  #count = null; // the last presence.count
  #states = 0; // how many states were applied
  #opts;

  constructor(socket, options = {}) {
    this.#socket = socket;
    this.#filter = options.filter || null;
    const ev = {
      join: "presence.join",
      update: "presence.update",
      leave: "presence.leave",
      diff: "presence.diff",
      count: "presence.count",
      ...(options.events || {}),
    };
    this.#opts = { state: ["welcome", "roster"], request: "roster.get", ...options, events: ev };
    for (const type of this.#opts.state) {
      this.#unsubs.push(socket.on(type, (payload) => this.#onState(payload)));
    }
    this.#unsubs.push(socket.on(ev.join, (m) => this.#onDiff("join", m)));
    this.#unsubs.push(socket.on(ev.update, (m) => this.#onDiff("update", m)));
    this.#unsubs.push(socket.on(ev.leave, (m) => this.#onDiff("leave", m)));
    this.#unsubs.push(socket.on(ev.diff, (d) => this.#onBatch(d)));
    this.#unsubs.push(socket.on(ev.count, (p) => this.#onCount(p)));
    this.#unsubs.push(
      socket.onState((state) => {
        // Every new connection starts unsynced: its diffs wait for its state.
        if (state !== "connected") {
          this.#synced = false;
          this.#buffer = [];
        }
      }),
    );
  }

  /** True once a state has been applied on the current connection. */
  get synced() {
    return this.#synced;
  }

  /** This connection's {sessionId, userId} from the last welcome, or null. */
  get self() {
    return this.#self;
  }

  /** list returns the members passing the filter, sorted by session id. */
  list() {
    const out = [];
    for (const m of this.#members.values()) if (this.#visible(m)) out.push(m);
    return out.sort((a, b) => cmp(a.sessionId, b.sessionId));
  }

  /**
   * users returns one entry per user among the listed members, sorted by
   * user id: {userId, sessions: [member, ...]}. Two tabs of one user are
   * one entry with two sessions.
   */
  users() {
    const byUser = new Map();
    for (const m of this.list()) {
      let u = byUser.get(m.userId);
      if (!u) {
        u = { userId: m.userId, sessions: [] };
        byUser.set(m.userId, u);
      }
      u.sessions.push(m);
    }
    return [...byUser.values()].sort((a, b) => cmp(a.userId, b.userId));
  }

  /** get returns the listed member with sessionId, or undefined. */
  get(sessionId) {
    const m = this.#members.get(sessionId);
    return m && this.#visible(m) ? m : undefined;
  }

  /** user returns the listed sessions of userId ([] when offline). */
  user(userId) {
    return this.list().filter((m) => m.userId === userId);
  }

  /**
   * setFilter replaces the filter (null for none) and reports the
   * members that appear or disappear as joins and leaves.
   */
  setFilter(filter) {
    const before = this.#snapshot();
    this.#filter = filter || null;
    this.#reconcile(before);
    this.#sync.emit(this);
  }

  /**
   * onJoin calls fn(member, user) when a listed member appears; user is
   * {userId, sessions} afterwards (one session: the user just came online).
   */
  onJoin(fn) {
    return this.#join.add(fn);
  }

  /**
   * onLeave calls fn(member, user) when a listed member goes; user.sessions
   * is what remains of that user (empty: the user went offline).
   */
  onLeave(fn) {
    return this.#leave.add(fn);
  }

  /** onUpdate calls fn(member, previous) when a listed member's metadata changes. */
  onUpdate(fn) {
    return this.#update.add(fn);
  }

  /** onSync calls fn(presence) after every state and every applied diff: re-render here. */
  onSync(fn) {
    return this.#sync.add(fn);
  }

  /**
   * count returns the member count of the last presence.count frame (a
   * count-only channel, mega.WithPresenceCount), or null before one came.
   */
  get count() {
    return this.#count;
  }

  /** onCount calls fn(count) for every presence.count frame. */
  onCount(fn) {
    return this.#countListeners.add(fn);
  }

  /**
   * refresh asks the server for the roster (the request option) and applies
   * the reply as the new state.
   */
  async refresh(options) {
    const before = this.#states;
    const payload = await this.#socket.request(this.#opts.request, undefined, options);
    // The socket dispatches a reply to listeners before the promise
    // settles, so a reply of a state type has been applied already.
    if (this.#states === before) this.#onState(payload);
    return this.list();
  }

  /** close detaches from the socket. */
  close() {
    for (const u of this.#unsubs) u();
    this.#unsubs = [];
  }

  // ---- internals -----------------------------------------------------

  #visible(m) {
    if (!this.#filter) return true;
    try {
      return Boolean(this.#filter(m));
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  // #snapshot maps the visible members' session ids to members, in
  // session id order (so callbacks fire in a stable order).
  #snapshot() {
    return new Map(this.list().map((m) => [m.sessionId, m]));
  }

  #onState(payload) {
    if (!payload || !Array.isArray(payload.members)) return;
    this.#states += 1;
    if (payload.sessionId) this.#self = { sessionId: payload.sessionId, userId: payload.userId };
    const before = this.#snapshot();
    this.#members = new Map();
    for (const m of payload.members) if (validMember(m)) this.#members.set(m.sessionId, m);
    // Diffs that came before the state: apply in order. Each sets or
    // deletes one session, so replaying one the state already reflects
    // changes nothing, and the last diff of a session wins.
    const buffered = this.#buffer;
    this.#buffer = [];
    for (const [op, m] of buffered) this.#apply(op, m);
    this.#synced = true;
    this.#reconcile(before);
    this.#sync.emit(this);
  }

  #onDiff(op, m) {
    if (!validMember(m)) return;
    if (!this.#synced) {
      this.#buffer.push([op, m]);
      return;
    }
    const before = this.#snapshot();
    this.#apply(op, m);
    if (this.#reconcile(before, op === "update" ? new Set([m.sessionId]) : null)) this.#sync.emit(this);
  }

  // #onBatch applies a presence.diff: every session in it changes at once,
  // with one reconcile and one onSync. Each session appears once, so the
  // order inside the diff does not matter.
  #onBatch(d) {
    if (!d || typeof d !== "object") return;
    const changes = [];
    for (const [op, list] of [["leave", d.leaves], ["join", d.joins], ["update", d.updates]]) {
      if (!Array.isArray(list)) continue;
      for (const m of list) if (validMember(m)) changes.push([op, m]);
    }
    if (changes.length === 0) return;
    if (!this.#synced) {
      this.#buffer.push(...changes);
      return;
    }
    const before = this.#snapshot();
    const updated = new Set();
    for (const [op, m] of changes) {
      this.#apply(op, m);
      if (op === "update") updated.add(m.sessionId);
    }
    if (this.#reconcile(before, updated)) this.#sync.emit(this);
  }

  #onCount(p) {
    if (!p || typeof p.count !== "number") return;
    this.#count = p.count;
    this.#countListeners.emit(p.count);
  }

  #apply(op, m) {
    if (op === "leave") this.#members.delete(m.sessionId);
    else this.#members.set(m.sessionId, m);
  }

  // #reconcile fires join, leave and update callbacks for the difference
  // between before and the current visible members; updated holds the
  // session ids an update frame named (reported even when unchanged). It
  // reports whether anything visible changed.
  #reconcile(before, updated = null) {
    const after = this.#snapshot();
    let changed = false;
    for (const [id, m] of before) {
      if (after.has(id)) continue;
      changed = true;
      this.#leave.emit(m, { userId: m.userId, sessions: this.user(m.userId) });
    }
    for (const [id, m] of after) {
      const prev = before.get(id);
      if (!prev) {
        changed = true;
        this.#join.emit(m, { userId: m.userId, sessions: this.user(m.userId) });
      } else if (prev !== m && (updated?.has(id) || !sameMember(prev, m))) {
        changed = true;
        this.#update.emit(m, prev);
      }
    }
    return changed;
  }
}

// isPosition: a history position is a string epoch and a numeric offset.
function isPosition(epoch, offset) {
  return typeof epoch === "string" && typeof offset === "number" && Number.isFinite(offset);
}

// toMillis turns a Date, an RFC 3339 string or ms since 1970 into ms;
// Infinity for none or garbage (no known expiry).
function toMillis(t) {
  const ms = t instanceof Date ? t.getTime() : typeof t === "number" ? t : typeof t === "string" ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : Infinity;
}

function validMember(m) {
  return m && typeof m === "object" && typeof m.sessionId === "string" && m.sessionId !== "";
}

function cmp(a, b) {
  a = String(a ?? "");
  b = String(b ?? "");
  return a < b ? -1 : a > b ? 1 : 0;
}

// sameMember compares two member records by value (they are small JSON).
function sameMember(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
