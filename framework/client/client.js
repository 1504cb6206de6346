// mega browser client: one WebSocket with reconnection, request/reply by
// ref, and a presence list kept in sync with the server's roster.
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
const PENALTY_CODES = new Set([1008, 1011, 4008, 4029]);

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
 *   lazy       true: do not connect until reconnect() is called
 */
export class Socket {
  #url;
  #opts;
  #backoff;
  #WS;
  #win;
  #timers;
  #random;

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
    if (this.#win && typeof this.#win.addEventListener === "function") {
      this.#win.addEventListener("online", this.#onOnline);
      this.#win.addEventListener("offline", this.#onOffline);
    }
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
    const ref = this.#nextRef();
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new MegaError("closed", "mega: socket is closed", { ref }));
      if (!this.send(type, payload, ref)) {
        return reject(new MegaError("disconnected", "mega: not connected", { ref }));
      }
      const ms = options.timeout ?? this.#opts.timeout ?? 10000;
      const timer = this.#timers.setTimeout(() => {
        this.#pending.delete(ref);
        reject(new MegaError("timeout", `mega: no reply to ${type} within ${ms} ms`, { ref }));
      }, ms);
      this.#pending.set(ref, { resolve, reject, timer });
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
    this.#drop(4000, "reconnect");
    this.#open("connecting");
  }

  /** close ends the connection for good (until reconnect()): state "offline". */
  close(code = 1000, reason = "") {
    this.#closed = true;
    this.#rejectAll("closed", "mega: socket closed");
    this.#drop(code, reason);
    this.#setState("offline", { attempt: this.#attempt });
    if (this.#win && typeof this.#win.removeEventListener === "function") {
      this.#win.removeEventListener("online", this.#onOnline);
      this.#win.removeEventListener("offline", this.#onOffline);
    }
  }

  // ---- internals -----------------------------------------------------

  #nextRef() {
    this.#refSeq += 1;
    return this.#refSeq.toString(36);
  }

  #resolveURL() {
    const p = this.#opts.params;
    const params = typeof p === "function" ? p() : p;
    const loc = this.#win && this.#win.location;
    return wsURL(this.#url, params, loc && loc.href);
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

  // #open starts a connection attempt, showing state meanwhile.
  #open(state) {
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#closed) return;
    if (!this.#online()) {
      this.#setState("offline", { attempt: this.#attempt });
      return;
    }
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
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#setState("connected", { attempt: this.#attempt });
      this.#stableTimer = this.#timers.setTimeout(() => {
        this.#stableTimer = null;
        this.#attempt = 0;
      }, this.#backoff.stable);
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
      this.#scheduleRetry({ code: ev.code, reason: ev.reason });
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
    this.#dispatch(frame);
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
