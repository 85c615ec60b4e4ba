// One live channel per browser: a SharedWorker holds the only EventSource and
// hands its messages to every tab. Loaded as a plain script where SharedWorker
// is missing, it gives that one page a hub of its own.
"use strict";
(function (scope) {
  const QUIET_MS = 35000; // no message nor ping for this long: the connection is dead
  const MAX_DELAY_MS = 15000;

  // ``tell`` gets each notice once, for one page to show (``post`` goes to every page).
  function createHub(post, tell) {
    let source = null, last = null, attempt = 0, retry = null, watchdog = null, status = "connecting";
    function setStatus(next) {
      if (next !== status) { status = next; post({ type: "status", status }); }
    }
    function arm() {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => reconnect(), QUIET_MS);
    }
    function connect() {
      retry = null;
      const url = "/api/stream" + (last ? "?last_event_id=" + encodeURIComponent(last) : "");
      source = new EventSource(url);
      source.addEventListener("ping", (e) => {
        if (e.lastEventId) last = e.lastEventId;
        attempt = 0; setStatus("live"); arm();
      });
      source.addEventListener("message", (e) => {
        if (e.lastEventId) last = e.lastEventId;
        arm();
        let data;
        try { data = JSON.parse(e.data); } catch (err) { return; }
        post({ type: "data", id: e.lastEventId, data });
        if (data.type === "notice" && data.notice) (tell || post)({ type: "notice", notice: data.notice });
      });
      source.addEventListener("reset", (e) => {
        if (e.lastEventId) last = e.lastEventId;
        post({ type: "reset" });
      });
      // Reconnect ourselves (with backoff and jitter, from the last id) rather than
      // leaving it to EventSource, which gives up for good on an HTTP error.
      source.onerror = () => reconnect();
      arm();
    }
    function reconnect() {
      if (source) { source.close(); source = null; }
      clearTimeout(watchdog);
      if (retry) return;
      setStatus("reconnecting");
      const delay = Math.min(MAX_DELAY_MS, 300 * 2 ** attempt) * (0.5 + Math.random());
      attempt += 1;
      retry = setTimeout(connect, delay);
    }
    connect();
    return { status: () => status };
  }

  if (typeof SharedWorkerGlobalScope !== "undefined" && scope instanceof SharedWorkerGlobalScope) {
    const ports = new Set();
    let hub = null;
    const post = (msg) => { for (const port of ports) port.postMessage(msg); };
    // A notice goes to the newest page only, so ten tabs show it once.
    const tell = (msg) => { const newest = [...ports].pop(); if (newest) newest.postMessage(msg); };
    scope.onconnect = (event) => {
      const port = event.ports[0];
      ports.add(port);
      port.onmessage = (m) => { if (m.data === "bye") ports.delete(port); };
      if (!hub) hub = createHub(post, tell);
      port.postMessage({ type: "status", status: hub.status() });
    };
  } else {
    scope.TetherHub = createHub;
  }
})(self);
