// tether dashboard: live updates over the shared channel, coalesced fetches that
// retry with backoff, keyboard navigation. Pages work without it.
"use strict";
(function () {
  const script = document.currentScript;
  const live = () => document.getElementById("live");

  // Requests: identical GETs in flight share one promise; failures retry with
  // backoff and jitter and show "reconnecting…" instead of replacing the page.
  const inflight = new Map();
  let failing = 0;
  function showLive(state) {
    const el = live();
    if (!el) return;
    el.hidden = false;
    el.textContent = state === "live" ? "live" : "reconnecting…";
    el.classList.toggle("ok", state === "live");
  }
  async function attempt(url, init) {
    for (let n = 0; ; n++) {
      try {
        const response = await fetch(url, init);
        if (response.status >= 500 || response.status === 421) throw new Error("server " + response.status);
        if (failing) { failing = 0; showLive("live"); }
        return response;
      } catch (err) {
        failing += 1;
        showLive("reconnecting");
        const delay = Math.min(15000, 300 * 2 ** n) * (0.5 + Math.random());
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
  function get(url) {
    if (!inflight.has(url)) {
      inflight.set(url, attempt(url, { headers: { Accept: "text/html" } })
        .then((r) => r.text())
        .finally(() => inflight.delete(url)));
    }
    return inflight.get(url);
  }
  function postJSON(url, body) {
    return attempt(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }
  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }
  function debounce(fn, ms) {
    let t = null;
    return () => { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  // The channel: a SharedWorker when the browser has one, else a hub in this page.
  const listeners = [];
  function onLive(fn) { listeners.push(fn); }
  function dispatch(msg) {
    if (msg.type === "status") showLive(msg.status);
    for (const fn of listeners) fn(msg);
  }
  function connect() {
    const url = script.dataset.worker;
    if (typeof SharedWorker !== "undefined") {
      const worker = new SharedWorker(url, { name: "tether-stream" });
      worker.port.onmessage = (e) => dispatch(e.data);
      worker.port.start();
      addEventListener("pagehide", () => worker.port.postMessage("bye"));
    } else {
      const s = document.createElement("script");
      s.src = url;
      s.onload = () => window.TetherHub(dispatch);
      document.head.appendChild(s);
    }
  }

  // The overview: rows of sessions that changed are fetched again, together.
  function overview() {
    const pending = new Set();
    const refresh = debounce(async () => {
      const ids = [...pending].slice(0, 50);
      ids.forEach((id) => pending.delete(id));
      if (!ids.length) return;
      const html = await get("/partials/rows?ids=" + encodeURIComponent(ids.join(",")));
      const rows = fragment(html).querySelectorAll("tr[data-session]");
      for (const row of rows) {
        const shown = document.querySelectorAll(`tr[data-session="${CSS.escape(row.dataset.session)}"]`);
        shown.forEach((old) => old.replaceWith(row.cloneNode(true)));
      }
      if (pending.size) refresh();
    }, 150);
    panel("audit", "/partials/audit", (d) => d.type === "finding");
    // The first page is read again as a whole (at most once a second), so a new session
    // shows up and one that needs you moves to the top; older pages refresh their rows.
    const first = !new URLSearchParams(location.search).has("before");
    let relisting = null;
    const relist = () => {
      if (relisting) return;
      relisting = setTimeout(async () => {
        try {
          const fresh = fragment(await get(location.pathname + location.search)).getElementById("listing");
          const old = document.getElementById("listing");
          if (!fresh || !old) return;
          const chosen = old.querySelector("tr.selected")?.dataset.session; // keep j/k's row
          old.replaceWith(fresh);
          if (chosen) fresh.querySelector(`tr[data-session="${CSS.escape(chosen)}"]`)?.classList.add("selected");
        } finally {
          relisting = null;
        }
      }, 1000);
    };
    onLive((msg) => {
      if (first && (msg.type === "reset" || (msg.type === "status" && msg.status === "live"))) relist();
      if (msg.type !== "data") return;
      const d = msg.data;
      const id = d.type === "session" ? d.session.id : d.type === "turn" ? d.turn.session_id : null;
      if (!id || (d.type === "session" && d.session.deleted)) return;
      if (first) {
        relist();
      } else if (document.querySelector(`tr[data-session="${CSS.escape(id)}"]`)) {
        // Only rows on this page are refreshed: an older page keeps its 50 rows.
        pending.add(id);
        refresh();
      }
    });
  }

  // A server-rendered panel fetched again when the stream says what it shows changed
  // (or the channel was reset or came back after a gap).
  function panel(id, url, changed) {
    const refresh = debounce(async () => {
      const fresh = fragment(await get(url)).getElementById(id);
      const old = document.getElementById(id);
      if (!fresh || !old) return;
      if (old.dataset.touched) { fresh.open = old.open; fresh.dataset.touched = "1"; } // their choice
      old.replaceWith(fresh);
    }, 150);
    document.addEventListener("click", (e) => {
      const summary = e.target.closest(`#${id} > summary`);
      if (summary) summary.parentElement.dataset.touched = "1";
    });
    onLive((msg) => {
      if (msg.type === "reset" || (msg.type === "status" && msg.status === "live")) refresh();
      else if (msg.type === "data" && changed(msg.data)) refresh();
    });
  }

  // A session: new events appended once, turn cards replaced, older pages on scroll.
  function session() {
    const pane = document.getElementById("transcript");
    if (!pane) return;
    const sessionId = pane.dataset.session;
    panel("gauge", `/sessions/${encodeURIComponent(sessionId)}/gauge`,
      (d) => d.type === "thread" && d.session_id === sessionId);
    const paged = pane.dataset.paged === "1";
    const receipt = document.getElementById("receipt");
    let receiptTurn = null;
    const lastId = () => {
      const all = pane.querySelectorAll("[data-event]");
      return all.length ? Number(all[all.length - 1].dataset.event) : 0;
    };
    let pulling = false, again = false;
    async function pull() {
      if (paged) return;
      if (pulling) { again = true; return; }
      pulling = true;
      try {
        do {
          again = false;
          const html = await get(`/sessions/${encodeURIComponent(sessionId)}/transcript?after=${lastId()}`);
          const nearBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
          const added = append(fragment(html));
          if (added && nearBottom) pane.scrollTop = pane.scrollHeight;
          if (added) { const empty = pane.querySelector(".empty"); if (empty) empty.remove(); }
        } while (again);
      } finally { pulling = false; }
    }
    function append(frag) {
      let added = 0;
      for (const node of [...frag.querySelectorAll(".page > *")]) {
        const id = node.dataset.event;
        if (id && document.getElementById("ev-" + id)) continue; // each event once
        const prompt = node.dataset.turnPrompt;
        if (prompt && pane.querySelector(`[data-turn-prompt="${CSS.escape(prompt)}"]`)) continue;
        pane.appendChild(node);
        added += 1;
      }
      return added;
    }
    async function older(link) {
      const html = await get(`/sessions/${encodeURIComponent(sessionId)}/transcript?before=${link.dataset.older}`);
      const frag = fragment(html);
      const page = frag.querySelector(".page");
      const before = pane.scrollHeight;
      const holder = link.parentElement;
      const nodes = [...page.children].filter((n) => !(n.dataset.event && document.getElementById("ev-" + n.dataset.event)));
      holder.after(...nodes);
      if (page.dataset.older) {
        link.dataset.older = page.dataset.older;
        link.href = `/sessions/${encodeURIComponent(sessionId)}?before=${page.dataset.older}`;
        pane.prepend(holder);
      } else holder.remove();
      pane.scrollTop += pane.scrollHeight - before;
      loadingOlder = false;
    }
    let loadingOlder = false;
    pane.addEventListener("scroll", () => {
      const link = pane.querySelector(".older a");
      if (link && !loadingOlder && pane.scrollTop < 200) { loadingOlder = true; older(link); }
    });
    pane.addEventListener("click", (e) => {
      const link = e.target.closest(".older a");
      if (link) { e.preventDefault(); if (!loadingOlder) { loadingOlder = true; older(link); } }
    });
    if (!paged) pane.scrollTop = pane.scrollHeight;

    async function card(turnId) {
      const html = await get(`/turns/${encodeURIComponent(turnId)}/card`);
      const fresh = fragment(html).querySelector("li");
      if (!fresh) return;
      const old = document.getElementById("turn-" + turnId);
      if (old) old.replaceWith(fresh);
      else {
        let list = document.getElementById("turns");
        if (!list) {
          list = document.createElement("ol");
          list.id = "turns"; list.className = "turns";
          const empty = document.querySelector(".timeline .empty");
          if (empty) empty.replaceWith(list); else document.querySelector(".timeline").appendChild(list);
        }
        list.appendChild(fresh);
      }
    }
    const cards = new Set();
    const refreshCards = debounce(() => { for (const id of cards) card(id); cards.clear(); }, 100);
    onLive((msg) => {
      if (msg.type === "reset") { pull(); document.querySelectorAll("[data-turn]").forEach((c) => cards.add(c.dataset.turn)); refreshCards(); return; }
      if (msg.type !== "data") return;
      const d = msg.data;
      if (d.type === "event" && d.event.session_id === sessionId) pull();
      if (d.type === "turn" && d.turn.session_id === sessionId) {
        cards.add(d.turn.id);
        refreshCards();
        if (receipt && d.turn.id === receiptTurn) receipt.textContent = receiptText(d.turn);
      }
      if (d.type === "session" && d.session.id === sessionId && d.session.state) {
        const pill = document.querySelector(".session-head h1 .state");
        if (pill) { pill.textContent = d.session.state; pill.className = "state state-" + d.session.state; }
      }
    });
    // When the channel comes back after a gap, catch up from the ledger too.
    onLive((msg) => { if (msg.type === "status" && msg.status === "live") pull(); });

    const composer = document.getElementById("composer");
    if (composer) composer.addEventListener("submit", async (e) => {
      e.preventDefault();
      const box = composer.elements.message;
      const message = box.value;
      if (!message.trim()) return;
      const key = composer.elements.key.value;
      receipt.textContent = "sending…";
      const response = await postJSON(`/api/sessions/${encodeURIComponent(sessionId)}/messages`, { message, key });
      const body = await response.json();
      if (!response.ok) { receipt.textContent = body.error || "not accepted"; return; }
      composer.elements.key.value = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
      box.value = "";
      receiptTurn = body.turn.id;
      receipt.textContent = receiptText(body.turn);
      cards.add(body.turn.id); refreshCards();
    });
    document.addEventListener("submit", async (e) => {
      const form = e.target.closest("form[data-cancel]");
      if (!form) return;
      e.preventDefault();
      const turnId = form.dataset.cancel;
      form.querySelector("button").disabled = true;
      const response = await postJSON(`/api/turns/${encodeURIComponent(turnId)}/cancel`, {});
      const body = await response.json();
      const text = `cancel ${turnId}: ${(body.outcome || body.error || "unknown").replace("_", " ")}` + (body.reason ? ` (${body.reason})` : "");
      let note = document.querySelector(".notice");
      if (!note) {
        note = document.createElement("p");
        note.className = "notice"; note.setAttribute("role", "status");
        document.querySelector(".session-grid").before(note);
      }
      note.textContent = text;
      card(turnId);
    });
  }
  function receiptText(turn) {
    const words = { queued: "queued", dispatched: "starting", running: "running", completed: "answered" };
    const state = words[turn.state] || turn.state.replace("_", " ");
    const why = turn.reason && turn.state !== "completed" ? `: ${turn.reason}` : "";
    return `${turn.id} ${state}${why}`;
  }

  // Notifications: asked for by the button (never on load); notices come on the live
  // channel, each shown once (a tag remembered per browser), urgent ones sticky and loud.
  const NOTIFY_KEY = "tether.notify", SHOWN_KEY = "tether.notified";
  function notifications() {
    const button = document.getElementById("notify");
    if (!button || typeof Notification === "undefined") return;
    button.hidden = false;
    const on = () => localStorage.getItem(NOTIFY_KEY) === "on" && Notification.permission === "granted";
    const label = () => {
      const blocked = Notification.permission === "denied";
      button.textContent = on() ? "notifications on" : blocked ? "notifications blocked" : "Notify me";
      button.setAttribute("aria-pressed", on() ? "true" : "false");
    };
    label();
    button.addEventListener("click", async () => {
      if (on()) { localStorage.setItem(NOTIFY_KEY, "off"); label(); return; }
      const answer = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      if (answer === "granted") localStorage.setItem(NOTIFY_KEY, "on");
      label();
    });
    onLive((msg) => {
      if (msg.type !== "notice" || !on()) return;
      const n = msg.notice;
      let shown = [];
      try { shown = JSON.parse(localStorage.getItem(SHOWN_KEY) || "[]"); } catch (err) { shown = []; }
      if (shown.includes(n.tag)) return; // replayed after a reconnect, or shown by another page
      localStorage.setItem(SHOWN_KEY, JSON.stringify(shown.concat(n.tag).slice(-300)));
      const urgent = n.kind === "needs_you";
      const note = new Notification(n.headline, {
        body: n.body, tag: n.tag, icon: urgent ? button.dataset.iconUrgent : button.dataset.iconDone,
        silent: !n.cue.sound, requireInteraction: !!n.cue.sticky, data: { url: n.url },
      });
      note.onclick = () => { window.focus(); location.href = n.url; };
    });
  }

  // Keys: j/k move, Enter opens, / searches, ? lists the keys.
  function keys() {
    let index = -1;
    addEventListener("keydown", (e) => {
      const tag = (e.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "textarea" || tag === "select" || e.metaKey || e.ctrlKey || e.altKey) return;
      const rows = [...document.querySelectorAll("tr[data-href]")];
      if (e.key === "j" || e.key === "k") {
        if (!rows.length) return;
        rows.forEach((r) => r.classList.remove("selected"));
        index = Math.max(0, Math.min(rows.length - 1, index + (e.key === "j" ? 1 : -1)));
        rows[index].classList.add("selected");
        rows[index].scrollIntoView({ block: "nearest" });
      } else if (e.key === "Enter" && index >= 0 && rows[index]) {
        location.href = rows[index].dataset.href;
      } else if (e.key === "/") {
        e.preventDefault();
        document.querySelector(".top .search input").focus();
      } else if (e.key === "?") {
        document.getElementById("keys").showModal();
      }
    });
    document.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-copy]");
      if (button && navigator.clipboard) {
        navigator.clipboard.writeText(button.dataset.copy).then(() => { button.textContent = "copied"; });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    keys();
    notifications();
    if (document.body.classList.contains("overview")) overview();
    if (document.body.classList.contains("session")) session();
    connect();
  });
})();
