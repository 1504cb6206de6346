// The chat page: plain JavaScript, no build step.
//
// Opened as /?name=NAME&room=ROOM it connects at once; without a name it
// asks for one. The connection, its reconnects (with jittered backoff) and
// the presence list come from mega's browser client, served by every mega
// app at /_mega/client.js. The room's recent messages come from its history
// on load; after a reconnect the client recovers what the page missed by
// itself. The rooms list follows the REST API live: the
// server sends rooms.created, rooms.updated and rooms.deleted to every
// connection after a change. The data-testid attributes are a stable
// interface for end-to-end tests: online, messages, chat-input, chat-send,
// rooms, status and notice.
import { connect, Presence, CLOSE_TOKEN_EXPIRED } from "/_mega/client.js";

const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const ROOM = /^[A-Za-z0-9_-]{1,64}$/;
const LOBBY = "lobby";

const $ = (id) => document.getElementById(id);
const el = {
  status: $("status"),
  banner: $("banner"),
  bannerText: $("banner-text"),
  retry: $("retry"),
  who: $("who"),
  join: $("join"),
  joinName: $("join-name"),
  chat: $("chat"),
  rooms: document.querySelector('[data-testid="rooms"]'),
  newRoom: $("new-room"),
  newRoomName: $("new-room-name"),
  roomTitle: $("room-title"),
  roomTopic: $("room-topic"),
  messages: document.querySelector('[data-testid="messages"]'),
  notice: $("notice"),
  composer: $("composer"),
  input: $("chat-input"),
  send: $("chat-send"),
  online: document.querySelector('[data-testid="online"]'),
  onlineCount: $("online-count"),
};

const state = {
  name: "",
  room: LOBBY,
  rooms: [], // from GET /api/rooms
  socket: null,
  presence: null,
  loaded: null, // the room whose history the list shows
};

// ---- status and notices ---------------------------------------------------

// setStatus shows the socket's state (connecting, connected, reconnecting
// or offline), enables sending only while connected, and shows a banner
// while the connection is down. info is what the client's onState gives:
// for reconnecting, the delay before the next try. The banner changes once
// per try, not every second, so screen readers are not flooded.
function setStatus(s, info = {}) {
  el.status.textContent = s;
  el.status.dataset.state = s;
  el.send.disabled = s !== "connected";
  if (s === "reconnecting") {
    const secs = Math.round((info.delay || 0) / 1000);
    el.bannerText.textContent = secs >= 1
      ? `Connection lost. Trying again in ${secs} s.`
      : "Connection lost. Reconnecting…";
    el.retry.hidden = false;
    el.banner.hidden = false;
  } else if (s === "offline" && info.code === CLOSE_TOKEN_EXPIRED) {
    // The session ended (logged out, or expired): the client does not
    // retry with it. Retry helps once signed in again in another tab.
    el.bannerText.textContent = "You were signed out. Reload the page to sign in again.";
    el.retry.hidden = false;
    el.banner.hidden = false;
  } else if (s === "offline" && state.socket) {
    el.bannerText.textContent = "You are offline. The chat reconnects when your network is back.";
    el.retry.hidden = true;
    el.banner.hidden = false;
  } else {
    el.banner.hidden = true;
  }
}

let noticeTimer = 0;
function notice(text) {
  el.notice.textContent = text;
  el.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.notice.hidden = true; }, 6000);
}

// ---- rendering --------------------------------------------------------------

const inRoom = (room) => (m) => m.metadata?.room === room;

// renderOnline lists each user of the current room once, however many
// tabs (sessions) they have open.
function renderOnline() {
  const users = state.presence ? state.presence.users() : [];
  el.onlineCount.textContent = String(users.length);
  el.online.replaceChildren(...users.map(({ userId, sessions }) => {
    const li = document.createElement("li");
    li.dataset.user = userId;
    li.dataset.sessions = String(sessions.length);
    if (userId === state.name) li.className = "me";
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = userId;
    b.title = `Whisper to ${userId}`;
    b.addEventListener("click", () => {
      el.input.value = `/w ${userId} `;
      el.input.focus();
    });
    li.append(b);
    if (sessions.length > 1) {
      const tabs = document.createElement("span");
      tabs.className = "tabs";
      tabs.textContent = `${sessions.length} tabs`;
      li.append(tabs);
    }
    return li;
  }));
}

function addMessage(from, text, at, kind) {
  const li = document.createElement("li");
  if (kind) li.className = kind;
  const f = document.createElement("span");
  f.className = "from";
  f.textContent = from;
  const t = document.createElement("span");
  t.className = "text";
  t.textContent = text;
  const time = document.createElement("time");
  const d = at ? new Date(at) : new Date();
  time.dateTime = d.toISOString();
  time.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  li.append(f, t, time);
  const m = el.messages;
  const atBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  m.append(li);
  if (atBottom) m.scrollTop = m.scrollHeight;
}

// showChat shows one chat.message payload of the current room.
function showChat(p) {
  if (p && p.room === state.room) addMessage(p.from.name, p.text, p.at, "");
}

// ---- history ----------------------------------------------------------------
//
// The room's messages come from its history (socket.history) when the page
// opens it, then from chat.message frames: live ones, and after a reconnect
// the ones the client recovers by itself. The client drops the frames it
// has handled already, so every message is shown once. When the recovery
// cannot fill the gap (the page was away longer than the history keeps),
// the room is loaded again, as on opening it.

let historyLoad = 0; // the latest load; an older one's result is dropped
let liveWhileLoading = null; // chat frames shown while a load is in flight

async function loadHistory() {
  const load = ++historyLoad;
  const room = state.room;
  const live = [];
  liveWhileLoading = live;
  let h;
  try {
    h = await state.socket.history(room, { limit: 100 });
  } catch (err) {
    if (load !== historyLoad) return;
    liveWhileLoading = null;
    // A lost connection loads again on the next welcome.
    if (err.code !== "disconnected" && err.code !== "closed") notice(`Could not load the room's messages: ${err.message}`);
    return;
  }
  if (load !== historyLoad || room !== state.room) return;
  liveWhileLoading = null;
  state.loaded = room;
  // Messages that came live during the load and are newer than the history
  // stay after it; older ones are in it.
  const newer = live.filter((f) => f.epoch !== h.epoch || f.offset > h.offset);
  el.messages.replaceChildren();
  for (const f of [...h.messages, ...newer]) if (f.type === "chat.message") showChat(f.payload);
  el.messages.scrollTop = el.messages.scrollHeight;
}

function pageURL(name, room) {
  return `/?${new URLSearchParams({ name, room })}`;
}

function roomLink(id, label) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = pageURL(state.name, id);
  a.textContent = label;
  a.dataset.room = id;
  if (id === state.room) a.setAttribute("aria-current", "page");
  a.addEventListener("click", (ev) => {
    if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return; // a new tab
    ev.preventDefault();
    switchRoom(id, true);
  });
  li.append(a);
  return li;
}

function renderRooms() {
  const items = [roomLink(LOBBY, LOBBY)];
  for (const r of state.rooms) items.push(roomLink(String(r.id), r.name));
  el.rooms.replaceChildren(...items);
  const current = findRoom(state.room);
  el.roomTitle.textContent = current ? current.name : state.room;
  el.roomTopic.textContent = current ? current.topic : "";
  document.title = `${el.roomTitle.textContent} · mega chat`;
}

// ---- rooms ------------------------------------------------------------------
//
// The list comes from GET /api/rooms on every (re)connect, which also
// catches up on changes made while the socket was down, and then follows
// the rooms.* events. Events that arrive while a GET is in flight are
// applied at once and again on its result, which may predate them.

const findRoom = (id) => state.rooms.find((r) => String(r.id) === id);

function upsertRoom(room) {
  const i = state.rooms.findIndex((r) => r.id === room.id);
  if (i >= 0) {
    state.rooms[i] = room;
  } else {
    state.rooms.push(room);
    state.rooms.sort((a, b) => a.id - b.id); // as GET lists them
  }
}

function removeRoom(id) {
  state.rooms = state.rooms.filter((r) => r.id !== id);
}

// changeRooms runs apply on state.rooms and shows the result. When the
// current room was listed before and is gone after, it was deleted (here or
// on another instance, now or while the socket was down): the page says so
// and goes back to the lobby.
function changeRooms(apply) {
  const current = findRoom(state.room);
  apply();
  renderRooms();
  if (current && !findRoom(state.room)) {
    history.replaceState(null, "", pageURL(state.name, LOBBY));
    switchRoom(LOBBY, false);
    notice(`The room “${current.name}” was deleted. You are back in the ${LOBBY}.`);
  }
}

let roomsInFlight = null; // the events to apply again on the GET in flight
let roomsLoad = 0; // the latest GET; an older one's result is dropped

// roomEvent applies one rooms.* event.
function roomEvent(apply) {
  if (roomsInFlight) roomsInFlight.push(apply);
  changeRooms(apply);
}

async function loadRooms() {
  const load = ++roomsLoad;
  const events = [];
  roomsInFlight = events;
  let list = null;
  try {
    const res = await fetch("/api/rooms", { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`GET /api/rooms answered ${res.status}`);
    list = await res.json();
  } catch (err) {
    console.warn(err);
  }
  if (load !== roomsLoad) return; // a newer GET is under way
  roomsInFlight = null;
  if (!list) return; // keep what the page shows
  changeRooms(() => {
    state.rooms = list;
    for (const apply of events) apply();
  });
}

// ---- the connection ---------------------------------------------------------

function start(name, room) {
  state.name = name;
  state.room = room;
  el.who.textContent = `Signed in as ${name}`;
  el.join.hidden = true;
  el.chat.hidden = false;
  renderRooms();

  // params is a function: every (re)connect asks for the current room.
  const socket = connect("/ws/chat", { params: () => ({ name: state.name, room: state.room }) });
  const presence = new Presence(socket, { filter: inRoom(state.room) });
  state.socket = socket;
  state.presence = presence;

  setStatus(socket.state);
  socket.onState(setStatus);
  socket.on("welcome", () => {
    loadRooms();
    if (state.loaded !== state.room) loadHistory(); // a reconnect recovers instead
  });
  socket.onRecovered(({ channel, recovered }) => {
    if (channel === state.room && !recovered) loadHistory();
  });
  socket.on("rooms.created", ({ room }) => roomEvent(() => upsertRoom(room)));
  socket.on("rooms.updated", ({ room }) => roomEvent(() => upsertRoom(room)));
  socket.on("rooms.deleted", ({ id }) => roomEvent(() => removeRoom(id)));
  socket.on("chat.message", (p, frame) => {
    if (p.room !== state.room) return;
    if (liveWhileLoading) liveWhileLoading.push(frame);
    showChat(p);
  });
  socket.on("chat.whisper", (p) => addMessage(`${p.from.name} → you`, p.text, p.at, "whisper"));
  socket.on("error", (p) => notice(p.message || "Something went wrong."));
  presence.onSync(renderOnline);
  renderOnline();
  el.input.focus();
}

// switchRoom moves to another room: messages are per room, so the list is
// cleared, the old room is no longer recovered, and the socket reconnects
// with the new room, whose history the welcome loads.
function switchRoom(room, push) {
  if (room === state.room) return;
  state.socket.forget(state.room);
  state.room = room;
  state.loaded = null;
  historyLoad += 1; // a load of the old room still in flight is dropped
  liveWhileLoading = null;
  if (push) history.pushState(null, "", pageURL(state.name, room));
  el.messages.replaceChildren();
  state.presence.setFilter(inRoom(room));
  renderRooms();
  state.socket.reconnect();
}

function fromURL() {
  const q = new URLSearchParams(location.search);
  const room = q.get("room") || LOBBY;
  return { name: q.get("name") || "", room: ROOM.test(room) ? room : LOBBY };
}

// ---- forms ------------------------------------------------------------------

el.join.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = el.joinName.value.trim();
  if (!NAME.test(name)) {
    el.joinName.setCustomValidity("Use 1 to 32 letters, digits, _ or -.");
    el.joinName.reportValidity();
    return;
  }
  const { room } = fromURL();
  history.replaceState(null, "", pageURL(name, room));
  start(name, room);
});
el.joinName.addEventListener("input", () => el.joinName.setCustomValidity(""));

el.composer.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = el.input.value.trim();
  if (!text) return;
  const whisper = /^\/w(?:hisper)?\s+(\S+)\s+([\s\S]+)$/.exec(text);
  let sent;
  if (whisper) {
    const [, to, body] = whisper;
    sent = state.socket.send("chat.whisper", { to, text: body });
    if (sent) addMessage(`you → ${to}`, body, null, "whisper");
  } else if (/^\/w(hisper)?\b/.test(text)) {
    notice("To whisper, type /w NAME message.");
    return;
  } else {
    sent = state.socket.send("chat.send", { text });
  }
  if (sent) el.input.value = "";
  else notice("Not connected; try again in a moment.");
});

el.retry.addEventListener("click", () => state.socket && state.socket.reconnect());

el.newRoom.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = el.newRoomName.value.trim();
  if (!name) return;
  try {
    const res = await fetch("/api/rooms", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, topic: "" }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : `status ${res.status}`);
    el.newRoomName.value = "";
    changeRooms(() => upsertRoom(body)); // rooms.created follows; it changes nothing
    switchRoom(String(body.id), true);
  } catch (err) {
    notice(`Could not create the room: ${err.message}`);
  }
});

window.addEventListener("popstate", () => {
  const { name, room } = fromURL();
  if (name !== state.name) {
    location.reload();
    return;
  }
  switchRoom(room, false);
});

// ---- start ------------------------------------------------------------------

setStatus("offline");
const initial = fromURL();
if (NAME.test(initial.name)) {
  start(initial.name, initial.room);
} else {
  el.join.hidden = false;
  el.joinName.value = initial.name;
  el.joinName.focus();
}
