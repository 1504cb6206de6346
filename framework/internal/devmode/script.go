package devmode

// script is devproto.ScriptPath. It listens to /_mega/dev/events; when the
// stream breaks (the app is restarting) it polls /readyz until the new
// process answers, reconnects and reloads the page if the process id
// changed. A "reload" notice reloads the page, or only the stylesheets when
// every changed file is CSS; a failed "build" notice shows the compiler
// output over the page until the next good build. It sets styles through
// the CSSOM so a Content-Security-Policy without 'unsafe-inline' allows it.
const script = `// mega dev live reload (served only in dev mode)
(() => {
  const src = document.currentScript && document.currentScript.src;
  if (!src || window.__megaDev) return;
  const state = window.__megaDev = { connected: false }; // for tests and curious developers
  const base = src.replace(/\/_mega\/dev\.js([?#].*)?$/, "");
  let id = null, box = null, wait = 200;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const reloadCSS = () => {
    for (const l of document.querySelectorAll('link[rel="stylesheet"]')) {
      const u = new URL(l.href);
      u.searchParams.set("_mega", Date.now().toString(36));
      l.href = u.toString();
    }
  };
  const hide = () => { if (box) { box.remove(); box = null; } };
  const show = (text) => {
    hide();
    box = document.createElement("pre");
    const s = box.style;
    s.position = "fixed"; s.inset = "0"; s.margin = "0"; s.padding = "2em"; s.zIndex = "2147483647";
    s.background = "rgba(20,20,20,.94)"; s.color = "#f88"; s.font = "14px/1.5 ui-monospace,monospace";
    s.overflow = "auto"; s.whiteSpace = "pre-wrap";
    box.textContent = "mega dev: build failed, the previous version is still running\n\n" + text;
    box.addEventListener("click", hide);
    document.body.appendChild(box);
  };
  const connect = () => {
    const es = new EventSource(base + "/_mega/dev/events");
    es.addEventListener("hello", (e) => {
      const h = JSON.parse(e.data);
      if (id !== null && h.id !== id) { location.reload(); return; }
      id = h.id; wait = 200; state.connected = true;
    });
    es.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "reload") {
        const files = m.files || [];
        if (files.length > 0 && files.every((f) => f.endsWith(".css"))) reloadCSS(); else location.reload();
      } else if (m.type === "build") {
        if (m.ok) hide(); else show(m.output || "");
      }
    };
    es.onerror = () => { state.connected = false; es.close(); whenReady(); };
  };
  const whenReady = async () => {
    for (;;) {
      await sleep(wait);
      wait = Math.min(wait * 1.5, 2000);
      try {
        const r = await fetch(base + "/readyz", { cache: "no-store" });
        if (r.ok) break;
      } catch (e) { /* not up yet */ }
    }
    connect();
  };
  connect();
})();
`
