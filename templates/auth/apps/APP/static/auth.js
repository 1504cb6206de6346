// The login and register form, written by `mega generate auth`. The page
// loads this script instead of app.js: it asks the server who is logged in
// (GET /api/session); when nobody is, it shows the form; once somebody is,
// it puts their name in the address (?name=, which app.js reads to show who
// you are; the server ignores it and uses the session cookie) and loads
// app.js, the chat. A "Log out" button ends the session (DELETE
// /api/session) and reloads.
//
// Stable hooks for tests: data-testid="auth-form", "auth-name",
// "auth-password", "auth-login", "auth-register", "auth-error", "logout".

const $ = (id) => document.getElementById(id);

// json sends a request with a JSON body and returns the response and its
// decoded body (null when it has none).
async function json(method, url, body) {
  const res = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { res, body: text ? JSON.parse(text) : null };
}

// whoami returns the logged-in name, or "".
async function whoami() {
  const { res, body } = await json("GET", "/api/session");
  return res.ok ? body.name : "";
}

// form builds the login / register form in place of the page's name form.
function form() {
  const f = document.createElement("form");
  f.className = "join";
  f.dataset.testid = "auth-form";
  f.innerHTML = `
    <h2>Log in or register</h2>
    <label for="auth-name">Name</label>
    <input id="auth-name" data-testid="auth-name" name="name" required maxlength="32"
           pattern="[A-Za-z0-9_\\-]{1,32}" autocomplete="username">
    <label for="auth-password">Password</label>
    <input id="auth-password" data-testid="auth-password" name="password" type="password" required
           minlength="8" autocomplete="current-password">
    <p class="hint">At least 8 characters. Registering does not log you in on other devices.</p>
    <p id="auth-error" class="notice" data-testid="auth-error" role="alert" hidden></p>
    <div class="row">
      <button id="auth-login" data-testid="auth-login" type="submit">Log in</button>
      <button id="auth-register" data-testid="auth-register" type="button">Register</button>
    </div>`;
  const join = $("join");
  (join ? join.parentNode : document.body).insertBefore(f, join);
  return f;
}

// message turns an error answer into one line.
function message(body, fallback) {
  const e = body && body.error;
  if (!e) return fallback;
  const fields = Object.entries(e.fields || {}).map(([k, v]) => `${k} ${v}`);
  return fields.length ? fields.join("; ") : e.message;
}

// loggedIn starts the chat as name.
async function loggedIn(name) {
  const q = new URLSearchParams(location.search);
  q.set("name", name);
  history.replaceState(null, "", `${location.pathname}?${q}`);
  const bar = document.querySelector(".bar");
  if (bar && !$("logout")) {
    const out = document.createElement("button");
    out.id = "logout";
    out.type = "button";
    out.dataset.testid = "logout";
    out.textContent = "Log out";
    out.addEventListener("click", async () => {
      await json("DELETE", "/api/session");
      const q = new URLSearchParams(location.search);
      q.delete("name");
      location.assign(`${location.pathname}?${q}`);
    });
    bar.appendChild(out);
  }
  await import("/static/app.js");
}

async function main() {
  const name = await whoami();
  if (name) {
    await loggedIn(name);
    return;
  }
  const f = form();
  const err = $("auth-error");
  const fail = (text) => {
    err.textContent = text;
    err.hidden = false;
  };
  const submit = async (register) => {
    err.hidden = true;
    const creds = { name: $("auth-name").value.trim(), password: $("auth-password").value };
    if (register) {
      const r = await json("POST", "/api/users", creds);
      if (!r.res.ok) return fail(message(r.body, "could not register"));
    }
    const r = await json("POST", "/api/session", creds);
    if (!r.res.ok) return fail(message(r.body, "could not log in"));
    f.remove();
    await loggedIn(r.body.name);
  };
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    submit(false);
  });
  $("auth-register").addEventListener("click", () => {
    if (f.reportValidity()) submit(true);
  });
  $("auth-name").focus();
}

main();
