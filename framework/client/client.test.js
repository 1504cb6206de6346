// Unit tests of the mega browser client: node --test framework/client/
// No dependencies: a fake WebSocket, clock and window are injected.
import { test, describe } from "node:test";
import assert from "node:assert/strict";

import {
  connect,
  Presence,
  MegaError,
  DEFAULT_BACKOFF,
  CLOSE_TOKEN_EXPIRED,
  backoffCeiling,
  backoffDelay,
  retryHint,
  wsURL,
} from "./client.js";
import { FakeClock, FakeWindow, fakeWebSocket } from "./fakes.js";

// setup connects a socket to fakes; random defaults to the middle of the
// jitter range so delays are predictable.
function setup(options = {}) {
  const WS = fakeWebSocket();
  const clock = new FakeClock();
  const win = new FakeWindow();
  const states = [];
  const socket = connect("/ws/chat", {
    WebSocket: WS,
    timers: clock,
    window: win,
    random: () => 0.5,
    now: clock.date,
    ...options,
  });
  socket.onState((s, info) => states.push([s, info]));
  return { socket, WS, clock, win, states };
}

// open connects the socket's current fake WebSocket.
function open(WS) {
  WS.last.serverOpen();
  return WS.last;
}

// seq returns a random function that yields the given values in turn.
function seq(...values) {
  let i = 0;
  return () => values[i++ % values.length];
}

describe("backoff", () => {
  test("ceiling doubles from base up to cap", () => {
    const got = [0, 1, 2, 3, 4, 5, 6, 7, 50, 5000].map((n) => backoffCeiling(n));
    assert.deepEqual(got, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000, 10000]);
    assert.equal(backoffCeiling(3, { base: 100, cap: 700 }), 700);
  });

  test("full jitter: delays span [0, ceiling)", () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = backoffCeiling(attempt);
      assert.equal(backoffDelay(attempt, DEFAULT_BACKOFF, {}, () => 0), 0);
      const top = backoffDelay(attempt, DEFAULT_BACKOFF, {}, () => 0.999999);
      assert.ok(top < ceiling && top >= ceiling - 1, `attempt ${attempt}: ${top} vs ${ceiling}`);
    }
  });

  test("real randomness stays in bounds and spreads out", () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4));
    assert.ok(delays.every((d) => d >= 0 && d < 4000 && Number.isInteger(d)));
    // Full jitter is uniform: both halves of the range are well used, and
    // the values are not bunched together like plain exponential backoff.
    const low = delays.filter((d) => d < 2000).length;
    assert.ok(low > 700 && low < 1300, `low half: ${low} of 2000`);
    assert.ok(new Set(delays).size > 1000);
  });

  test("1001 going away widens the window to drain", () => {
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, { code: 1001 }, () => 0.5), 1000);
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, { code: 1001 }, () => 0), 0);
    // Past the drain window the exponential ceiling rules.
    assert.equal(backoffDelay(5, DEFAULT_BACKOFF, { code: 1001 }, () => 0.5), 4000);
  });

  test("4008 and 4029 wait at least penaltyMin within the penalty window", () => {
    for (const code of [4008, 4029, 1008, 1011]) {
      assert.equal(backoffDelay(0, DEFAULT_BACKOFF, { code }, () => 0), 1000, `code ${code}`);
      assert.equal(backoffDelay(0, DEFAULT_BACKOFF, { code }, () => 0.5), 3000, `code ${code}`);
    }
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, { code: 1006 }, () => 0.5), 125);
  });

  test("a retry=<ms> hint in the close reason widens the window, bounded", () => {
    assert.equal(retryHint("server draining; retry=8000"), 8000);
    assert.equal(retryHint("retry=1500ms"), 1500);
    assert.equal(retryHint("noretry=5"), 0);
    assert.equal(retryHint(undefined), 0);
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, { code: 1001, reason: "retry=8000" }, () => 0.5), 4000);
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, { reason: "retry=999999999" }, () => 0.5), 30000);
  });
});

describe("wsURL", () => {
  test("resolves paths, maps schemes and adds params", () => {
    assert.equal(wsURL("/ws/chat", { name: "ann", room: "a b" }, "https://x.test/page"), "wss://x.test/ws/chat?name=ann&room=a+b");
    assert.equal(wsURL("http://h:1/ws?x=1", { y: 2, z: undefined }), "ws://h:1/ws?x=1&y=2");
    assert.equal(wsURL("ws://h/ws", null), "ws://h/ws");
  });

  test("the socket uses the page's location and calls a params function per connect", () => {
    let room = "lobby";
    const { socket, WS } = setup({ params: () => ({ name: "ann", room }) });
    assert.equal(WS.last.url, "ws://app.test:8080/ws/chat?name=ann&room=lobby");
    room = "r1";
    socket.reconnect();
    assert.equal(WS.last.url, "ws://app.test:8080/ws/chat?name=ann&room=r1");
  });
});

describe("socket states and reconnect", () => {
  test("connecting → connected → reconnecting → connected", () => {
    const { socket, WS, clock, states } = setup();
    assert.equal(socket.state, "connecting");
    open(WS);
    assert.equal(socket.state, "connected");
    assert.equal(socket.connected, true);
    WS.last.serverClose(1006);
    assert.equal(socket.state, "reconnecting");
    assert.equal(WS.sockets.length, 1, "waits before retrying");
    assert.deepEqual(clock.pending(), [125]); // 0.5 * 250
    clock.advance(125);
    assert.equal(WS.sockets.length, 2);
    assert.equal(socket.state, "reconnecting");
    open(WS);
    assert.deepEqual(
      states.map(([s]) => s),
      ["connected", "reconnecting", "connected"],
    );
    assert.deepEqual(states[1][1], { attempt: 1, delay: 125, code: 1006, reason: "" });
  });

  test("delays grow while attempts fail, then reset after a stable connection", () => {
    const { WS, clock, states } = setup();
    WS.last.serverClose(1006); // the first attempt fails
    const delays = [];
    for (let i = 0; i < 8; i++) {
      const [, info] = states.at(-1);
      delays.push(info.delay);
      clock.advance(info.delay);
      WS.last.serverClose(1006);
    }
    assert.deepEqual(delays, [125, 250, 500, 1000, 2000, 4000, 5000, 5000]);
    // A connection that drops quickly does not reset the count...
    clock.advance(states.at(-1)[1].delay);
    open(WS);
    clock.advance(DEFAULT_BACKOFF.stable - 1);
    WS.last.serverClose(1006);
    assert.equal(states.at(-1)[1].delay, 5000);
    // ...one that lasts does.
    clock.advance(5000);
    open(WS);
    clock.advance(DEFAULT_BACKOFF.stable);
    WS.last.serverClose(1006);
    assert.equal(states.at(-1)[1].delay, 125);
    assert.equal(states.at(-1)[1].attempt, 1);
  });

  test("server going away (1001) spreads the reconnect over the drain window", () => {
    const { WS, clock, states } = setup({ random: seq(0.9) });
    open(WS);
    clock.advance(60000);
    WS.last.serverClose(1001, "server shutting down");
    const [state, info] = states.at(-1);
    assert.equal(state, "reconnecting");
    assert.equal(info.code, 1001);
    assert.equal(info.delay, 1800); // 0.9 * max(250, 2000)
    clock.advance(1799);
    assert.equal(WS.sockets.length, 1);
    clock.advance(1);
    assert.equal(WS.sockets.length, 2);
  });

  test("slow client (4008) and rate limit (4029) back off harder", () => {
    for (const code of [4008, 4029]) {
      const { WS, states } = setup({ random: () => 0 });
      open(WS);
      WS.last.serverClose(code, "send queue full");
      assert.equal(states.at(-1)[1].delay, 1000, `code ${code}`);
    }
  });

  test("custom backoff options apply", () => {
    const { WS, states } = setup({ backoff: { base: 1000, cap: 1500 }, random: () => 0.5 });
    WS.last.serverClose(1006);
    assert.equal(states.at(-1)[1].delay, 500);
  });

  test("close() stops reconnecting and goes offline; reconnect() revives", () => {
    const { socket, WS, clock, win, states } = setup();
    const ws = open(WS);
    socket.close();
    assert.equal(socket.state, "offline");
    assert.deepEqual(ws.closedWith, { code: 1000, reason: "" });
    clock.advance(60000);
    assert.equal(WS.sockets.length, 1);
    assert.deepEqual(clock.pending(), []);
    assert.equal(win.listenerCount("online"), 0, "close removes window listeners");
    assert.equal(states.at(-1)[0], "offline");
    socket.reconnect();
    assert.equal(WS.sockets.length, 2);
    assert.equal(socket.state, "connecting");
  });

  test("a retry pending at close() never fires", () => {
    const { socket, WS, clock } = setup();
    WS.last.serverClose(1006);
    socket.close();
    clock.advance(60000);
    assert.equal(WS.sockets.length, 1);
    assert.equal(socket.state, "offline");
  });

  test("reconnect() replaces the socket without a retry from the old one", () => {
    const { socket, WS, clock } = setup();
    const first = open(WS);
    socket.reconnect();
    assert.equal(first.closedWith.code, 4000);
    assert.equal(WS.sockets.length, 2);
    assert.equal(socket.state, "connecting");
    clock.advance(60000);
    assert.equal(WS.sockets.length, 2, "the old socket's close scheduled nothing");
  });

  test("browser offline goes offline at once and online reconnects at once", () => {
    const { socket, WS, clock, win } = setup();
    const ws = open(WS);
    win.goOffline();
    assert.equal(socket.state, "offline");
    assert.ok(ws.closedWith, "the old socket is closed");
    clock.advance(60000);
    assert.equal(WS.sockets.length, 1, "no retries while offline");
    win.goOnline();
    assert.equal(WS.sockets.length, 2);
    assert.equal(socket.state, "reconnecting");
    open(WS);
    assert.equal(socket.state, "connected");
  });

  test("starting while the browser is offline waits for online", () => {
    const WS = fakeWebSocket();
    const win = new FakeWindow();
    win.navigator.onLine = false;
    const socket = connect("/ws", { WebSocket: WS, window: win, timers: new FakeClock() });
    assert.equal(socket.state, "offline");
    assert.equal(WS.sockets.length, 0);
    win.goOnline();
    assert.equal(WS.sockets.length, 1);
  });

  test("lazy does not connect until reconnect()", () => {
    const { socket, WS } = setup({ lazy: true });
    assert.equal(WS.sockets.length, 0);
    assert.equal(socket.state, "offline");
    socket.reconnect();
    assert.equal(WS.sockets.length, 1);
  });

  test("onState unsubscribe stops notifications", () => {
    const { socket, WS } = setup();
    const seen = [];
    const off = socket.onState((s) => seen.push(s));
    open(WS);
    off();
    WS.last.serverClose(1006);
    assert.deepEqual(seen, ["connected"]);
  });
});

describe("frames", () => {
  test("send writes {type, payload} only when connected", () => {
    const { socket, WS } = setup();
    assert.equal(socket.send("chat.send", { text: "early" }), false);
    const ws = open(WS);
    assert.equal(socket.send("chat.send", { text: "hi" }), true);
    assert.equal(socket.send("ping"), true);
    assert.deepEqual(ws.sent, [{ type: "chat.send", payload: { text: "hi" } }, { type: "ping" }]);
    ws.serverClose(1006);
    assert.equal(socket.send("chat.send", { text: "late" }), false);
    assert.throws(() => socket.send(""), TypeError);
  });

  test("on dispatches by type, * sees all, unsubscribe works, junk is ignored", () => {
    const { socket, WS } = setup();
    const ws = open(WS);
    const got = [];
    const off = socket.on("chat.message", (p, f) => got.push(["typed", p.text, f.type]));
    socket.on("*", (p, f) => got.push(["any", f.type]));
    ws.serverSend({ type: "chat.message", payload: { text: "a" } });
    ws.serverSend("not json");
    ws.serverSend({ payload: 1 });
    ws.serverSend("[1,2]");
    off();
    ws.serverSend({ type: "chat.message", payload: { text: "b" } });
    assert.deepEqual(got, [["typed", "a", "chat.message"], ["any", "chat.message"], ["any", "chat.message"]]);
  });

  test("a throwing listener does not stop the others", () => {
    const { socket, WS } = setup();
    const ws = open(WS);
    const errors = [];
    const saved = globalThis.reportError;
    globalThis.reportError = (e) => errors.push(e.message);
    try {
      let ok = 0;
      socket.on("x", () => {
        throw new Error("boom");
      });
      socket.on("x", () => ok++);
      ws.serverSend({ type: "x" });
      assert.equal(ok, 1);
      assert.deepEqual(errors, ["boom"]);
    } finally {
      globalThis.reportError = saved;
    }
  });
});

describe("request", () => {
  test("refs are unique and the reply with the same ref resolves with its payload", async () => {
    const { socket, WS } = setup();
    const ws = open(WS);
    const a = socket.request("roster.get");
    const b = socket.request("echo", { n: 2 });
    const [ra, rb] = ws.sent.map((f) => f.ref);
    assert.ok(ra && rb && ra !== rb);
    assert.deepEqual(ws.sent[1], { type: "echo", payload: { n: 2 }, ref: rb });
    const seen = [];
    socket.on("roster", (p) => seen.push(p));
    ws.serverSend({ type: "echo", payload: { n: 2 }, ref: rb }); // out of order
    ws.serverSend({ type: "roster", payload: { members: [] }, ref: "nope" });
    ws.serverSend({ type: "roster", payload: { members: [1] }, ref: ra });
    assert.deepEqual(await b, { n: 2 });
    assert.deepEqual(await a, { members: [1] });
    assert.equal(seen.length, 2, "replies are dispatched to listeners too");
  });

  test("an error frame with the ref rejects with its code and is not dispatched", async () => {
    const { socket, WS } = setup();
    const ws = open(WS);
    const errors = [];
    socket.on("error", (p) => errors.push(p.code));
    const p = socket.request("chat.send", {});
    const ref = ws.sent[0].ref;
    ws.serverSend({ type: "error", payload: { code: "bad_request", message: "text is required", ref }, ref });
    await assert.rejects(p, (err) => {
      assert.ok(err instanceof MegaError);
      assert.ok(err instanceof Error);
      assert.equal(err.code, "bad_request");
      assert.equal(err.message, "text is required");
      assert.equal(err.ref, ref);
      return true;
    });
    // An error nobody waits for goes to the listeners.
    ws.serverSend({ type: "error", payload: { code: "unknown_type", message: "?" } });
    assert.deepEqual(errors, ["unknown_type"]);
  });

  test("an error frame carrying the ref only in its payload still rejects", async () => {
    const { socket, WS } = setup();
    const ws = open(WS);
    const p = socket.request("x");
    ws.serverSend({ type: "error", payload: { code: "internal", message: "oops", ref: ws.sent[0].ref } });
    await assert.rejects(p, { code: "internal" });
  });

  test("no reply rejects with timeout, and a late reply is just a frame", async () => {
    const { socket, WS, clock } = setup({ timeout: 3000 });
    const ws = open(WS);
    const p = socket.request("slow");
    const q = socket.request("slower", null, { timeout: 5000 });
    clock.advance(3000);
    await assert.rejects(p, { name: "MegaError", code: "timeout" });
    let late = 0;
    socket.on("slow.reply", () => late++);
    ws.serverSend({ type: "slow.reply", ref: ws.sent[0].ref });
    assert.equal(late, 1);
    clock.advance(2000);
    await assert.rejects(q, { code: "timeout" });
  });

  test("a disconnect rejects pending requests; requests while down fail fast", async () => {
    const { socket, WS, clock } = setup();
    const ws = open(WS);
    const p = socket.request("x");
    ws.serverClose(1006);
    await assert.rejects(p, { code: "disconnected" });
    await assert.rejects(socket.request("y"), { code: "disconnected" });
    assert.deepEqual(clock.pending().length, 1, "only the retry timer; the request timer is gone");
  });

  test("close() rejects pending requests with closed", async () => {
    const { socket, WS } = setup();
    open(WS);
    const p = socket.request("x");
    socket.close();
    await assert.rejects(p, { code: "closed" });
    await assert.rejects(socket.request("y"), { code: "closed" });
  });
});

// ---- presence --------------------------------------------------------

const m = (sessionId, userId, room = "lobby", extra = {}) => ({
  ns: "/ws/chat",
  sessionId,
  userId,
  metadata: { name: userId, room, ...extra },
});

function presenceSetup(options) {
  const s = setup();
  const presence = new Presence(s.socket, options);
  const log = [];
  presence.onJoin((mem, user) => log.push(`join ${mem.sessionId} ${user.userId}:${user.sessions.length}`));
  presence.onLeave((mem, user) => log.push(`leave ${mem.sessionId} ${user.userId}:${user.sessions.length}`));
  presence.onUpdate((mem, prev) => log.push(`update ${mem.sessionId} ${prev.metadata.room}->${mem.metadata.room}`));
  let syncs = 0;
  presence.onSync(() => syncs++);
  return { ...s, presence, log, syncs: () => syncs };
}

const ids = (list) => list.map((x) => x.sessionId);

describe("presence", () => {
  test("state from welcome, then join, update and leave diffs", () => {
    const { WS, presence, log, syncs } = presenceSetup();
    const ws = open(WS);
    assert.equal(presence.synced, false);
    ws.serverSend({ type: "welcome", payload: { sessionId: "s1", userId: "ann", members: [m("s1", "ann"), m("s2", "bob")] } });
    assert.equal(presence.synced, true);
    assert.deepEqual(presence.self, { sessionId: "s1", userId: "ann" });
    assert.deepEqual(ids(presence.list()), ["s1", "s2"]);
    assert.deepEqual(log, ["join s1 ann:1", "join s2 bob:1"]);
    assert.equal(syncs(), 1);

    ws.serverSend({ type: "presence.join", payload: m("s3", "cy") });
    ws.serverSend({ type: "presence.update", payload: m("s2", "bob", "r1") });
    ws.serverSend({ type: "presence.leave", payload: m("s3", "cy") });
    assert.deepEqual(ids(presence.list()), ["s1", "s2"]);
    assert.equal(presence.get("s2").metadata.room, "r1");
    assert.deepEqual(log.slice(2), ["join s3 cy:1", "update s2 lobby->r1", "leave s3 cy:0"]);
    assert.equal(syncs(), 4);
  });

  test("a presence.diff applies every change at once, with one sync", () => {
    const { WS, presence, log, syncs } = presenceSetup();
    const ws = open(WS);
    ws.serverSend({ type: "welcome", payload: { sessionId: "s1", userId: "ann", members: [m("s1", "ann"), m("s2", "bob")] } });
    log.length = 0;
    ws.serverSend({
      type: "presence.diff",
      payload: { joins: [m("s3", "cy"), m("s4", "dee")], leaves: [m("s2", "bob")], updates: [m("s1", "ann", "r1")] },
    });
    assert.deepEqual(ids(presence.list()), ["s1", "s3", "s4"]);
    assert.equal(presence.get("s1").metadata.room, "r1");
    assert.deepEqual(log, ["leave s2 bob:0", "update s1 lobby->r1", "join s3 cy:1", "join s4 dee:1"]); // leaves, then by session id
    assert.equal(syncs(), 2); // the state, then the whole diff once
    ws.serverSend({ type: "presence.diff", payload: { joins: [{ nope: 1 }], leaves: "junk" } });
    assert.equal(syncs(), 2, "junk changes nothing");
  });

  test("a diff before the state is buffered like single changes", () => {
    const { WS, presence } = presenceSetup();
    const ws = open(WS);
    ws.serverSend({ type: "presence.diff", payload: { joins: [m("s3", "cy")], leaves: [m("s2", "bob")], updates: [] } });
    ws.serverSend({ type: "welcome", payload: { sessionId: "s1", userId: "ann", members: [m("s1", "ann"), m("s2", "bob")] } });
    assert.deepEqual(ids(presence.list()), ["s1", "s3"]);
  });

  test("presence.count is the count of a count-only channel", () => {
    const { WS, presence } = presenceSetup();
    const ws = open(WS);
    const counts = [];
    presence.onCount((n) => counts.push(n));
    assert.equal(presence.count, null);
    ws.serverSend({ type: "presence.count", payload: { count: 1234 } });
    ws.serverSend({ type: "presence.count", payload: { count: "many" } });
    assert.equal(presence.count, 1234);
    assert.deepEqual(counts, [1234]);
  });

  test("diffs before the state are buffered and applied after it, in order", () => {
    const { WS, presence, log } = presenceSetup();
    const ws = open(WS);
    ws.serverSend({ type: "presence.join", payload: m("s3", "cy") }); // after the snapshot
    ws.serverSend({ type: "presence.join", payload: m("s4", "dee") }); // in the snapshot too
    ws.serverSend({ type: "presence.leave", payload: m("s2", "bob") }); // the snapshot still has bob
    ws.serverSend({ type: "presence.join", payload: m("s5", "eve") });
    ws.serverSend({ type: "presence.leave", payload: m("s5", "eve") }); // came and went
    assert.deepEqual(presence.list(), [], "nothing shown before the state");
    assert.deepEqual(log, []);
    ws.serverSend({ type: "welcome", payload: { sessionId: "s1", userId: "ann", members: [m("s1", "ann"), m("s2", "bob"), m("s4", "dee")] } });
    assert.deepEqual(ids(presence.list()), ["s1", "s3", "s4"]);
    assert.deepEqual(log, ["join s1 ann:1", "join s3 cy:1", "join s4 dee:1"]);
  });

  test("a roster reply is a state too, and refresh() requests it", async () => {
    const { socket, WS, presence } = presenceSetup();
    const ws = open(WS);
    ws.serverSend({ type: "presence.join", payload: m("s2", "bob") });
    const p = presence.refresh();
    const req = ws.sent.at(-1);
    assert.equal(req.type, "roster.get");
    ws.serverSend({ type: "roster", ref: req.ref, payload: { members: [m("s1", "ann")] } });
    assert.deepEqual(ids(await p), ["s1", "s2"]);
    // A roster reply of another type is applied by refresh itself.
    const custom = new Presence(socket, { request: "who", state: [] });
    const q = custom.refresh();
    ws.serverSend({ type: "who.list", ref: ws.sent.at(-1).ref, payload: { members: [m("s9", "zed")] } });
    assert.deepEqual(ids(await q), ["s9"]);
  });

  test("users() shows two tabs of one user once, with both sessions", () => {
    const { WS, presence, log } = presenceSetup();
    const ws = open(WS);
    ws.serverSend({ type: "welcome", payload: { members: [m("s1", "ann"), m("s2", "bob")] } });
    ws.serverSend({ type: "presence.join", payload: m("s3", "ann") });
    assert.deepEqual(
      presence.users().map((u) => [u.userId, ids(u.sessions)]),
      [["ann", ["s1", "s3"]], ["bob", ["s2"]]],
    );
    assert.deepEqual(ids(presence.user("ann")), ["s1", "s3"]);
    ws.serverSend({ type: "presence.leave", payload: m("s1", "ann") });
    assert.deepEqual(presence.users().map((u) => u.userId), ["ann", "bob"], "ann still has a tab");
    ws.serverSend({ type: "presence.leave", payload: m("s3", "ann") });
    assert.deepEqual(presence.users().map((u) => u.userId), ["bob"]);
    assert.deepEqual(log.slice(-3), ["join s3 ann:2", "leave s1 ann:1", "leave s3 ann:0"]);
  });

  test("a filter lists one room; moving rooms is a join or a leave", () => {
    const { WS, presence, log } = presenceSetup({ filter: (x) => x.metadata?.room === "lobby" });
    const ws = open(WS);
    ws.serverSend({ type: "welcome", payload: { members: [m("s1", "ann"), m("s2", "bob", "r1")] } });
    assert.deepEqual(ids(presence.list()), ["s1"]);
    assert.equal(presence.get("s2"), undefined);
    ws.serverSend({ type: "presence.join", payload: m("s3", "cy", "r1") });
    ws.serverSend({ type: "presence.update", payload: m("s2", "bob", "lobby") });
    ws.serverSend({ type: "presence.update", payload: m("s1", "ann", "r2") });
    ws.serverSend({ type: "presence.leave", payload: m("s3", "cy", "r1") });
    assert.deepEqual(ids(presence.list()), ["s2"]);
    assert.deepEqual(log, ["join s1 ann:1", "join s2 bob:1", "leave s1 ann:0"]);
    presence.setFilter(null);
    assert.deepEqual(ids(presence.list()), ["s1", "s2"]);
    assert.deepEqual(log.slice(-1), ["join s1 ann:1"]);
  });

  test("reconnect resyncs from the next welcome with only the real changes", () => {
    const { WS, clock, presence, log, syncs } = presenceSetup();
    let ws = open(WS);
    ws.serverSend({ type: "welcome", payload: { sessionId: "s1", userId: "ann", members: [m("s1", "ann"), m("s2", "bob"), m("s3", "cy")] } });
    log.length = 0;
    ws.serverClose(1001);
    assert.equal(presence.synced, false);
    assert.deepEqual(ids(presence.list()), ["s1", "s2", "s3"], "the last list stays visible meanwhile");
    clock.advance(clock.pending()[0]);
    ws = open(WS);
    // A diff on the new connection before its welcome waits for it.
    ws.serverSend({ type: "presence.join", payload: m("s5", "eve") });
    assert.deepEqual(log, []);
    const before = syncs();
    ws.serverSend({
      type: "welcome",
      payload: { sessionId: "s9", userId: "ann", members: [m("s9", "ann"), m("s2", "bob", "r1"), m("s4", "dee")] },
    });
    assert.deepEqual(presence.self, { sessionId: "s9", userId: "ann" });
    assert.deepEqual(ids(presence.list()), ["s2", "s4", "s5", "s9"]);
    assert.deepEqual(log, ["leave s1 ann:1", "leave s3 cy:0", "update s2 lobby->r1", "join s4 dee:1", "join s5 eve:1", "join s9 ann:1"]);
    assert.equal(syncs(), before + 1);
  });

  test("diffs left over from a dropped connection are discarded", () => {
    const { WS, clock, presence } = presenceSetup();
    let ws = open(WS);
    ws.serverSend({ type: "presence.join", payload: m("s7", "ghost") }); // never got a welcome
    ws.serverClose(1006);
    clock.advance(clock.pending()[0]);
    ws = open(WS);
    ws.serverSend({ type: "welcome", payload: { members: [m("s1", "ann")] } });
    assert.deepEqual(ids(presence.list()), ["s1"]);
  });

  test("malformed members are ignored; close() detaches", () => {
    const { WS, presence, syncs } = presenceSetup();
    const ws = open(WS);
    ws.serverSend({ type: "welcome", payload: { members: [m("s1", "ann"), null, { userId: "x" }, "s2"] } });
    ws.serverSend({ type: "presence.join", payload: { userId: "nosession" } });
    ws.serverSend({ type: "welcome", payload: { members: "nope" } });
    assert.deepEqual(ids(presence.list()), ["s1"]);
    assert.equal(syncs(), 1);
    presence.close();
    ws.serverSend({ type: "presence.join", payload: m("s2", "bob") });
    assert.deepEqual(ids(presence.list()), ["s1"]);
  });

  test("an unchanged join or state fires no callbacks", () => {
    const { WS, presence, log, syncs } = presenceSetup();
    const ws = open(WS);
    ws.serverSend({ type: "welcome", payload: { members: [m("s1", "ann")] } });
    ws.serverSend({ type: "presence.join", payload: m("s1", "ann") });
    ws.serverSend({ type: "roster", payload: { members: [m("s1", "ann")] } });
    assert.deepEqual(log, ["join s1 ann:1"]);
    assert.equal(syncs(), 2, "a state always syncs; a no-op diff does not");
    assert.equal(presence.list().length, 1);
  });
});

// ---- history and recovery ----------------------------------------------

// flush lets settled promises run their callbacks (no time passes).
const flush = () => new Promise((resolve) => setImmediate(resolve));

// chat is a frame of a history-enabled channel.
const chat = (channel, epoch, offset, text = `m${offset}`) => ({
  type: "chat.message",
  channel,
  epoch,
  offset,
  payload: { room: channel, text },
});

// historySetup records the texts chat.message listeners see and the
// recoveries reported.
function historySetup(options) {
  const s = setup(options);
  const seen = [];
  s.socket.on("chat.message", (p, f) => seen.push(`${f.channel}:${p.text}`));
  const recoveries = [];
  s.socket.onRecovered((e) => recoveries.push(e));
  return { ...s, seen, recoveries };
}

// reconnectAfterDrop drops the server side of the current connection and
// opens the next one.
function reconnectAfterDrop(WS, clock) {
  WS.last.serverClose(1006);
  clock.advance(clock.pending()[0]);
  return open(WS);
}

describe("history positions", () => {
  test("the last position per channel is kept and duplicates are dropped", () => {
    const { socket, WS, seen } = historySetup();
    const ws = open(WS);
    let any = 0;
    socket.on("*", () => any++);
    ws.serverSend(chat("lobby", "e1", 1));
    ws.serverSend(chat("lobby", "e1", 2));
    ws.serverSend(chat("r1", "e9", 7));
    ws.serverSend(chat("lobby", "e1", 2)); // a duplicate
    ws.serverSend(chat("lobby", "e1", 1)); // older: also one
    ws.serverSend(chat("lobby", "e1", 5)); // offsets need not be consecutive
    assert.deepEqual(seen, ["lobby:m1", "lobby:m2", "r1:m7", "lobby:m5"]);
    assert.equal(any, 4, "dropped frames reach no listener");
    assert.deepEqual(socket.position("lobby"), { epoch: "e1", offset: 5 });
    assert.deepEqual(socket.position("r1"), { epoch: "e9", offset: 7 });
    assert.equal(socket.position("nope"), undefined);
    // A new epoch (the history was lost) starts over, even at a lower offset.
    ws.serverSend(chat("lobby", "e2", 1));
    assert.deepEqual(socket.position("lobby"), { epoch: "e2", offset: 1 });
    assert.deepEqual(seen.at(-1), "lobby:m1");
    // position() is a copy.
    socket.position("lobby").offset = 99;
    assert.equal(socket.position("lobby").offset, 1);
  });

  test("frames without a full position are neither tracked nor filtered", () => {
    const { socket, WS, seen } = historySetup();
    const ws = open(WS);
    ws.serverSend({ type: "chat.message", payload: { text: "plain" } });
    ws.serverSend({ type: "chat.message", payload: { text: "plain" } });
    ws.serverSend({ type: "chat.message", channel: "x", epoch: 1, offset: 1, payload: { text: "numeric epoch" } });
    ws.serverSend({ type: "chat.message", channel: "x", epoch: "e", offset: "1", payload: { text: "string offset" } });
    ws.serverSend({ type: "chat.message", channel: "", epoch: "e", offset: 1, payload: { text: "no channel" } });
    assert.equal(seen.length, 5);
    assert.equal(socket.position("x"), undefined);
  });

  test("history() asks for the last messages and moves the position to the reply's", async () => {
    const { socket, WS, seen } = historySetup();
    const ws = open(WS);
    const p = socket.history("lobby", { limit: 100 });
    const req = ws.sent.at(-1);
    assert.deepEqual(req, { type: "history.get", payload: { channel: "lobby", limit: 100 }, ref: req.ref });
    const messages = [chat("lobby", "e1", 3), chat("lobby", "e1", 4)];
    ws.serverSend(chat("lobby", "e1", 3)); // live, before the reply: shown
    ws.serverSend({ type: "history", ref: req.ref, payload: { channel: "lobby", epoch: "e1", offset: 4, messages } });
    ws.serverSend(chat("lobby", "e1", 4)); // live, after: the reply holds it
    ws.serverSend(chat("lobby", "e1", 5));
    const got = await p;
    assert.deepEqual(got, { channel: "lobby", epoch: "e1", offset: 4, messages });
    assert.deepEqual(seen, ["lobby:m3", "lobby:m5"]);
    assert.deepEqual(socket.position("lobby"), { epoch: "e1", offset: 5 });
  });

  test("an older history reply does not move the position back; an empty one still sets it", async () => {
    const { socket, WS } = historySetup();
    const ws = open(WS);
    ws.serverSend(chat("lobby", "e1", 9));
    const p = socket.history("lobby");
    assert.deepEqual(ws.sent.at(-1).payload, { channel: "lobby" }, "no limit: the server's default");
    ws.serverSend({ type: "history", ref: ws.sent.at(-1).ref, payload: { channel: "lobby", epoch: "e1", offset: 8, messages: [] } });
    await p;
    assert.deepEqual(socket.position("lobby"), { epoch: "e1", offset: 9 });

    const q = socket.history("quiet");
    ws.serverSend({ type: "history", ref: ws.sent.at(-1).ref, payload: { channel: "quiet", epoch: "e5", offset: 0 } });
    assert.deepEqual(await q, { channel: "quiet", epoch: "e5", offset: 0, messages: [] });
    assert.deepEqual(socket.position("quiet"), { epoch: "e5", offset: 0 });
  });

  test("history() rejects like a request", async () => {
    const { socket, WS } = historySetup();
    await assert.rejects(socket.history("lobby"), { code: "disconnected" });
    const ws = open(WS);
    await assert.rejects(socket.history(""), TypeError);
    const p = socket.history("secret");
    const ref = ws.sent.at(-1).ref;
    ws.serverSend({ type: "error", ref, payload: { code: "forbidden", message: "not your room", ref } });
    await assert.rejects(p, { name: "MegaError", code: "forbidden" });
    assert.equal(socket.position("secret"), undefined);
  });

  test("track() sets a position and forget() drops it", () => {
    const { socket } = historySetup({ lazy: true });
    socket.track("lobby", { epoch: "e1", offset: 3 });
    socket.track("r1", { epoch: "e1", offset: 1 });
    assert.deepEqual(socket.position("lobby"), { epoch: "e1", offset: 3 });
    socket.track("lobby", { epoch: "e1", offset: 2 }); // explicit: may move back
    assert.deepEqual(socket.position("lobby"), { epoch: "e1", offset: 2 });
    assert.throws(() => socket.track("lobby", { epoch: "e1" }), TypeError);
    assert.throws(() => socket.track("", { epoch: "e1", offset: 1 }), TypeError);
    socket.forget("lobby");
    assert.equal(socket.position("lobby"), undefined);
    assert.ok(socket.position("r1"));
    socket.forget();
    assert.equal(socket.position("r1"), undefined);
  });
});

describe("recovery", () => {
  test("after a reconnect every known position is recovered; the replay and live frames merge without gap or duplicate", () => {
    const { socket, WS, clock, seen, recoveries } = historySetup();
    let ws = open(WS);
    ws.serverSend(chat("lobby", "e1", 1));
    ws.serverSend(chat("lobby", "e1", 2));
    ws.serverSend(chat("r1", "e7", 10));
    assert.equal(ws.sent.length, 0, "nothing to recover on a connection that had no position");

    ws = reconnectAfterDrop(WS, clock);
    const reqs = ws.sent.filter((f) => f.type === "history.recover");
    assert.deepEqual(
      reqs.map((f) => f.payload),
      [{ channel: "lobby", epoch: "e1", offset: 2 }, { channel: "r1", epoch: "e7", offset: 10 }],
    );
    assert.equal(new Set(reqs.map((f) => f.ref)).size, 2);
    // A live frame that reached the new connection before the request
    // comes ahead of the replay, and again in it: the channel's frames wait
    // for the reply, then go out in order, once.
    ws.serverSend(chat("lobby", "e1", 5)); // live, before the server saw the request
    ws.serverSend(chat("lobby", "e1", 3)); // replay
    ws.serverSend(chat("lobby", "e1", 4)); // replay
    ws.serverSend(chat("lobby", "e1", 5)); // replay: a duplicate
    assert.deepEqual(seen, ["lobby:m1", "lobby:m2", "r1:m10"], "held until the reply");
    ws.serverSend({ type: "history.recovered", ref: reqs[0].ref, payload: { channel: "lobby", recovered: true, epoch: "e1", offset: 5 } });
    assert.deepEqual(recoveries, [{ channel: "lobby", recovered: true, epoch: "e1", offset: 5 }], "reported when the reply arrives");
    ws.serverSend(chat("lobby", "e1", 6)); // live
    ws.serverSend({ type: "history.recovered", ref: reqs[1].ref, payload: { channel: "r1", recovered: true, epoch: "e7", offset: 10 } });
    assert.deepEqual(seen, ["lobby:m1", "lobby:m2", "r1:m10", "lobby:m3", "lobby:m4", "lobby:m5", "lobby:m6"]);
    assert.equal(recoveries.length, 2);
    assert.deepEqual(socket.position("lobby"), { epoch: "e1", offset: 6 });
  });

  test("the server's frames during a recovery, in order, reach the handlers once each", () => {
    const { WS, clock, seen, recoveries } = historySetup();
    let ws = open(WS);
    for (let i = 1; i <= 3; i++) ws.serverSend(chat("lobby", "e1", i));
    ws = reconnectAfterDrop(WS, clock);
    const ref = ws.sent[0].ref;
    for (let i = 4; i <= 53; i++) ws.serverSend(chat("lobby", "e1", i)); // 50 missed
    ws.serverSend({ type: "history.recovered", ref, payload: { channel: "lobby", recovered: true, epoch: "e1", offset: 53 } });
    for (let i = 54; i <= 103; i++) ws.serverSend(chat("lobby", "e1", i)); // 50 live
    assert.deepEqual(seen, Array.from({ length: 103 }, (_, i) => `lobby:m${i + 1}`));
    assert.equal(recoveries.length, 1);
  });

  test("recovered: false is reported and forgets the position, unless live frames moved it since", () => {
    const { socket, WS, clock, recoveries } = historySetup();
    let ws = open(WS);
    ws.serverSend(chat("lobby", "e1", 2));
    ws.serverSend(chat("r1", "e1", 2));
    ws = reconnectAfterDrop(WS, clock);
    const [lobby, r1] = ws.sent;
    ws.serverSend({ type: "history.recovered", ref: lobby.ref, payload: { channel: "lobby", recovered: false, epoch: "e2", offset: 40 } });
    assert.deepEqual(recoveries.at(-1), { channel: "lobby", recovered: false, epoch: "e2", offset: 40 });
    assert.equal(socket.position("lobby"), undefined, "a reload (history) or the next frame sets it");
    ws.serverSend(chat("r1", "e2", 41)); // live, of the new epoch
    ws.serverSend({ type: "history.recovered", ref: r1.ref, payload: { channel: "r1", recovered: false, epoch: "e2", offset: 40 } });
    assert.deepEqual(socket.position("r1"), { epoch: "e2", offset: 41 });
    // Only r1 is recovered next time.
    ws = reconnectAfterDrop(WS, clock);
    assert.deepEqual(ws.sent.map((f) => f.payload), [{ channel: "r1", epoch: "e2", offset: 41 }]);
  });

  test("a failed recovery is reported with its error; forbidden forgets, a lost connection retries on the next one", async () => {
    const { socket, WS, clock, recoveries } = historySetup({ timeout: 3000 });
    let ws = open(WS);
    ws.serverSend(chat("secret", "e1", 1));
    ws.serverSend(chat("busy", "e1", 1));
    ws.serverSend(chat("slow", "e1", 1));
    ws = reconnectAfterDrop(WS, clock);
    const [secret, busy] = ws.sent;
    ws.serverSend({ type: "error", payload: { code: "forbidden", message: "no", ref: secret.ref } });
    ws.serverSend({ type: "error", payload: { code: "unavailable", message: "history is down", ref: busy.ref } });
    clock.advance(3000); // slow: no reply
    assert.deepEqual(
      recoveries.map((e) => [e.channel, e.recovered, e.error.code]),
      [["secret", false, "forbidden"], ["busy", false, "unavailable"], ["slow", false, "timeout"]],
    );
    assert.ok(recoveries[0].error instanceof MegaError);
    assert.equal(socket.position("secret"), undefined);
    assert.ok(socket.position("busy"));
    // A connection lost during recovery reports nothing; the next one recovers.
    recoveries.length = 0;
    ws = reconnectAfterDrop(WS, clock);
    assert.deepEqual(ws.sent.map((f) => f.payload.channel), ["busy", "slow"]);
    ws.serverSend(chat("busy", "e1", 2));
    ws = reconnectAfterDrop(WS, clock);
    assert.deepEqual(ws.sent.map((f) => f.payload), [{ channel: "busy", epoch: "e1", offset: 2 }, { channel: "slow", epoch: "e1", offset: 1 }]);
    assert.deepEqual(recoveries, []);
    await flush();
  });

  test("a tracked position is recovered on the first connection; forget() before a room switch stops recovery", () => {
    const { socket, WS, clock } = historySetup({ lazy: true });
    socket.track("lobby", { epoch: "e1", offset: 7 });
    socket.reconnect();
    let ws = open(WS);
    assert.deepEqual(ws.sent.map((f) => [f.type, f.payload]), [["history.recover", { channel: "lobby", epoch: "e1", offset: 7 }]]);
    socket.forget("lobby");
    socket.reconnect();
    ws = open(WS);
    assert.deepEqual(ws.sent, []);
    clock.advance(0);
  });

  test("recover: false keeps dropping duplicates but sends no history.recover", () => {
    const { socket, WS, clock, seen } = historySetup({ recover: false });
    let ws = open(WS);
    ws.serverSend(chat("lobby", "e1", 1));
    ws = reconnectAfterDrop(WS, clock);
    assert.deepEqual(ws.sent, []);
    ws.serverSend(chat("lobby", "e1", 1));
    assert.deepEqual(seen, ["lobby:m1"]);
    assert.ok(socket.position("lobby"));
  });

  test("onRecovered listeners can unsubscribe, and the reply reaches on() listeners too", () => {
    const { socket, WS, clock, recoveries } = historySetup();
    const frames = [];
    socket.on("history.recovered", (p) => frames.push(p.channel));
    let ws = open(WS);
    ws.serverSend(chat("lobby", "e1", 1));
    let mine = 0;
    const off = socket.onRecovered(() => mine++);
    ws = reconnectAfterDrop(WS, clock);
    ws.serverSend({ type: "history.recovered", ref: ws.sent[0].ref, payload: { channel: "lobby", recovered: true, epoch: "e1", offset: 1 } });
    off();
    ws = reconnectAfterDrop(WS, clock);
    ws.serverSend({ type: "history.recovered", ref: ws.sent[0].ref, payload: { channel: "lobby", recovered: true, epoch: "e1", offset: 1 } });
    assert.equal(mine, 1);
    assert.equal(recoveries.length, 2);
    assert.deepEqual(frames, ["lobby", "lobby"]);
  });
});

describe("socket window listeners", () => {
  test("reconnect() after close() listens to online/offline again", () => {
    const { socket, WS, win } = setup();
    open(WS);
    socket.close();
    assert.equal(win.listenerCount("offline"), 0);
    socket.reconnect();
    assert.equal(win.listenerCount("offline"), 1);
    open(WS);
    win.goOffline();
    assert.equal(socket.state, "offline");
  });
});

// ---- tokens ------------------------------------------------------------

const tokenOf = (ws) => new URL(ws.url).searchParams.get("token");

describe("tokens", () => {
  test("a string token is sent as ?token= and a 4001 close leaves the socket offline", () => {
    const { socket, WS, clock, win, states } = setup({ token: "t1", params: { name: "x" } });
    assert.equal(WS.last.url, "ws://app.test:8080/ws/chat?name=x&token=t1");
    open(WS).serverClose(CLOSE_TOKEN_EXPIRED, "token expired");
    assert.equal(socket.state, "offline");
    assert.deepEqual(states.at(-1), ["offline", { attempt: 0, code: 4001, reason: "token expired" }]);
    clock.advance(60000);
    win.goOffline();
    win.goOnline();
    assert.equal(WS.sockets.length, 1, "never retried with the same token");
    socket.reconnect(); // the app's call
    assert.equal(WS.sockets.length, 2);
  });

  test("a cookie session closed with 4001 (logged out) goes offline too, until reconnect()", () => {
    const { socket, WS, clock, states } = setup();
    open(WS).serverClose(CLOSE_TOKEN_EXPIRED, "logged out");
    assert.equal(socket.state, "offline");
    assert.deepEqual(states.at(-1)[1], { attempt: 0, code: 4001, reason: "logged out" });
    clock.advance(60000);
    assert.equal(WS.sockets.length, 1);
    socket.reconnect(); // e.g. after signing in again
    assert.equal(WS.sockets.length, 2);
  });

  test("a token function is asked on connect; its token is reused after a drop and replaced after 4001", () => {
    const given = [];
    let n = 0;
    const { socket, WS, clock } = setup({
      token: () => {
        given.push(++n);
        return `t${n}`;
      },
    });
    assert.equal(tokenOf(WS.last), "t1");
    open(WS);
    let ws = reconnectAfterDrop(WS, clock);
    assert.equal(tokenOf(ws), "t1", "a token that connected is reused");
    ws.serverClose(CLOSE_TOKEN_EXPIRED, "token expired");
    assert.equal(socket.state, "reconnecting");
    clock.advance(clock.pending()[0]);
    assert.equal(tokenOf(WS.last), "t2");
    // An attempt that never opens (an upgrade refused with 401 looks like
    // 1006) does not reuse its token either.
    WS.last.serverClose(1006);
    clock.advance(clock.pending()[0]);
    assert.equal(tokenOf(WS.last), "t3");
    assert.deepEqual(given, [1, 2, 3]);
  });

  test("an async token function is awaited; close() or reconnect() meanwhile abandons its attempt", async () => {
    let release;
    const { socket, WS } = setup({ token: () => new Promise((r) => (release = r)) });
    assert.equal(WS.sockets.length, 0);
    assert.equal(socket.state, "connecting");
    release({ token: "a" });
    await flush();
    assert.equal(WS.sockets.length, 1);
    assert.equal(tokenOf(WS.last), "a");
    WS.last.serverClose(CLOSE_TOKEN_EXPIRED);
    socket.reconnect(); // asks again...
    const first = release;
    socket.reconnect(); // ...and again: the first answer is not used
    first({ token: "stale" });
    release({ token: "b" });
    await flush();
    assert.equal(WS.sockets.length, 2);
    assert.equal(tokenOf(WS.last), "b");
    WS.last.serverClose(CLOSE_TOKEN_EXPIRED);
    socket.reconnect();
    socket.close();
    release("late");
    await flush();
    assert.equal(WS.sockets.length, 2);
    assert.equal(socket.state, "offline");
  });

  test("a token function with no token leaves the socket offline; one that throws is retried with backoff", async () => {
    const a = setup({ token: async () => null });
    await flush();
    assert.equal(a.WS.sockets.length, 0);
    assert.equal(a.socket.state, "offline");
    assert.deepEqual(a.states.at(-1)[1], { attempt: 0, code: 4001, reason: "no token" });

    const errors = [];
    const saved = globalThis.reportError;
    globalThis.reportError = (e) => errors.push(e.message);
    try {
      let calls = 0;
      const b = setup({
        token: () => {
          calls++;
          if (calls === 2) throw new Error("token endpoint down");
          return `ok${calls}`;
        },
      });
      b.WS.last.serverClose(1006); // never opened: ask for another token
      b.clock.advance(b.clock.pending()[0]);
      assert.equal(b.socket.state, "reconnecting");
      assert.equal(b.states.at(-1)[1].reason, "token: token endpoint down");
      assert.deepEqual(errors, ["token endpoint down"]);
      assert.equal(b.WS.sockets.length, 1);
      b.clock.advance(b.clock.pending()[0]);
      assert.equal(tokenOf(b.WS.last), "ok3");
    } finally {
      globalThis.reportError = saved;
    }
  });

  test("refreshToken() sends token.refresh and later reconnects use the new token", async () => {
    const { socket, WS, clock } = setup({ token: "old" });
    const ws = open(WS);
    const p = socket.refreshToken("new");
    const req = ws.sent.at(-1);
    assert.deepEqual(req, { type: "token.refresh", payload: { token: "new" }, ref: req.ref });
    ws.serverSend({ type: "token.refreshed", ref: req.ref, payload: { expiresAt: "2030-01-01T01:00:00Z" } });
    const { expiresAt } = await p;
    assert.ok(expiresAt instanceof Date);
    assert.equal(expiresAt.toISOString(), "2030-01-01T01:00:00.000Z");
    assert.equal(tokenOf(reconnectAfterDrop(WS, clock)), "new");

    const q = socket.refreshToken("never-expires");
    WS.last.serverSend({ type: "token.refreshed", ref: WS.last.sent.at(-1).ref, payload: { expiresAt: null } });
    assert.deepEqual(await q, { expiresAt: null });

    const r = socket.refreshToken("bad");
    const ref = WS.last.sent.at(-1).ref;
    WS.last.serverSend({ type: "error", payload: { code: "unauthorized", message: "token refused", ref } });
    await assert.rejects(r, { code: "unauthorized" });
    assert.equal(tokenOf(reconnectAfterDrop(WS, clock)), "never-expires", "a refused token is not used");
    await assert.rejects(socket.refreshToken(""), TypeError);
  });

  test("a token function's token is refreshed over the socket before it expires", async () => {
    let n = 0;
    const clock = new FakeClock();
    const { socket, WS } = setup({
      timers: clock,
      now: clock.date,
      // like POST /api/tokens: {token, expiresAt}, here 10 minutes
      token: async () => ({ token: `t${++n}`, expiresAt: clock.iso(600000) }),
    });
    await flush();
    const ws = open(WS);
    // 30 s before the expiry (a quarter of what is left is more).
    clock.advance(570000 - 1);
    assert.equal(ws.sent.length, 0);
    clock.advance(1);
    await flush();
    const req = ws.sent.at(-1);
    assert.deepEqual(req.payload, { token: "t2" });
    ws.serverSend({ type: "token.refreshed", ref: req.ref, payload: { expiresAt: clock.iso(40000) } });
    await flush();
    // A short-lived token: refreshed a quarter of its life before expiry.
    clock.advance(30000);
    await flush();
    assert.deepEqual(ws.sent.at(-1).payload, { token: "t3" });
    // Refused: tried again at half the time left (10 s → 5 s).
    const ref = ws.sent.at(-1).ref;
    ws.serverSend({ type: "error", payload: { code: "unavailable", message: "try later", ref } });
    await flush();
    clock.advance(4999);
    await flush();
    assert.equal(ws.sent.length, 2);
    clock.advance(1);
    await flush();
    assert.equal(ws.sent.length, 3);
    assert.deepEqual(ws.sent.at(-1).payload, { token: "t4" });
    assert.equal(socket.connected, true);
  });

  test("a refresh due while disconnected waits: the next connection asks for a fresh token", async () => {
    let n = 0;
    const clock = new FakeClock();
    const { socket, WS, win } = setup({ timers: clock, now: clock.date, token: () => ({ token: `t${++n}`, expiresAt: clock.iso(60000) }) });
    open(WS);
    win.goOffline();
    clock.advance(50000); // past the refresh time (45 s): nothing to send it on
    await flush();
    assert.equal(n, 1);
    assert.equal(socket.state, "offline");
    win.goOnline();
    assert.equal(tokenOf(WS.last), "t2");
    assert.equal(WS.sockets[0].sent.length, 0);
  });
});
