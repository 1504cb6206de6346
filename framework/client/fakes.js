// Test doubles for client.test.js: a WebSocket the test drives by hand, a
// clock whose time only moves when the test says so, and a window with
// navigator.onLine and online/offline events. Not served to browsers.

export class FakeClock {
  now = 0;
  /** The wall-clock time (ms since 1970) at now = 0. */
  start = Date.UTC(2030, 0, 1);
  #seq = 0;
  #timers = new Map(); // id -> {at, fn}

  /** date is the wall clock: a Date.now for the socket's now option. */
  date = () => this.start + this.now;

  /** iso returns the wall-clock time ms from now as RFC 3339. */
  iso(ms = 0) {
    return new Date(this.date() + ms).toISOString();
  }

  setTimeout = (fn, ms) => {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.now + Math.max(0, ms || 0), fn });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** pending lists the delays (from now) of the timers not yet fired. */
  pending() {
    return [...this.#timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }

  /** advance moves time forward by ms, firing due timers in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && (!next || t.at < next[1].at || (t.at === next[1].at && id < next[0]))) next = [id, t];
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}

/** fakeWebSocket returns a WebSocket class that records its instances. */
export function fakeWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    static sockets = sockets;
    static get last() {
      return sockets[sockets.length - 1];
    }

    readyState = 0;
    sent = [];
    closedWith = null; // {code, reason} when the client closed it
    onopen = null;
    onmessage = null;
    onerror = null;
    onclose = null;

    constructor(url) {
      this.url = url;
      sockets.push(this);
    }

    send(data) {
      if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
      this.sent.push(JSON.parse(data));
    }

    close(code = 1000, reason = "") {
      if (this.readyState >= 2) return;
      this.closedWith = { code, reason };
      this.readyState = 3;
      // Browsers fire close asynchronously; the client must already have
      // detached by then, so firing it at once is the harsher test.
      this.onclose?.({ code, reason, wasClean: true });
    }

    // ---- driven by the test ----

    serverOpen() {
      this.readyState = 1;
      this.onopen?.({});
    }

    serverSend(frame) {
      this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }

    serverClose(code = 1006, reason = "") {
      this.readyState = 3;
      this.onerror?.({});
      this.onclose?.({ code, reason, wasClean: code !== 1006 });
    }
  }
  return FakeWebSocket;
}

export class FakeWindow {
  navigator = { onLine: true };
  location = { href: "http://app.test:8080/?name=ann" };
  #listeners = new Map();

  addEventListener(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
  }

  removeEventListener(type, fn) {
    this.#listeners.get(type)?.delete(fn);
  }

  listenerCount(type) {
    return this.#listeners.get(type)?.size ?? 0;
  }

  goOffline() {
    this.navigator.onLine = false;
    for (const fn of this.#listeners.get("offline") ?? []) fn();
  }

  goOnline() {
    this.navigator.onLine = true;
    for (const fn of this.#listeners.get("online") ?? []) fn();
  }
}
