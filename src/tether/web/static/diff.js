// tether session page: the worktree's stored diff (file list in pages, unified or
// side-by-side, a turn selector) and the merge / pull-request buttons. Everything
// comes from GET /api/sessions/<id>/diff, which reads the ledger; nothing here
// runs git. Patch text only ever enters the page as textContent.
"use strict";
(function () {
  const root = document.getElementById("diff");
  if (!root) return;
  const session = root.dataset.session;
  const list = root.querySelector(".diff-files");
  const summary = root.querySelector(".diff-summary");
  const turnSelect = root.querySelector("select[name=turn]");
  const more = root.querySelector("button.diff-more");
  const modeButton = root.querySelector("button.diff-mode");
  let mode = localStorage.getItem("tether.diff.mode") || "unified";
  let next = null;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function query(offset) {
    const params = new URLSearchParams({ offset: String(offset) });
    if (turnSelect && turnSelect.value) params.set("turn", turnSelect.value);
    return `/api/sessions/${encodeURIComponent(session)}/diff?${params}`;
  }
  async function fetchJSON(url, attempt = 0) {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.status >= 500) throw new Error(String(response.status));
      return await response.json();
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, Math.min(8000, 400 * 2 ** attempt)));
      return fetchJSON(url, attempt + 1);
    }
  }
  function lineClass(line) {
    if (line.startsWith("@@")) return "hunk";
    if (line.startsWith("+")) return "add";
    if (line.startsWith("-")) return "del";
    return "ctx";
  }
  function body(patch) {
    const lines = patch.split("\n");
    const start = lines.findIndex((l) => l.startsWith("@@"));
    return start < 0 ? [] : lines.slice(start).filter((l) => l !== "");
  }
  function unified(patch) {
    const pre = el("pre", "patch unified");
    for (const line of body(patch)) pre.append(el("span", lineClass(line), line + "\n"));
    return pre;
  }
  function sideBySide(patch) {
    const table = el("table", "patch split");
    const rows = [];
    let dels = [], adds = [];
    const flush = () => {
      for (let i = 0; i < Math.max(dels.length, adds.length); i++) rows.push([dels[i], adds[i]]);
      dels = []; adds = [];
    };
    for (const line of body(patch)) {
      const kind = lineClass(line);
      if (kind === "del") dels.push(line.slice(1));
      else if (kind === "add") adds.push(line.slice(1));
      else { flush(); rows.push(kind === "hunk" ? [line, line, "hunk"] : [line.slice(1), line.slice(1)]); }
    }
    flush();
    for (const [left, right, hunk] of rows) {
      const tr = el("tr", hunk || "");
      tr.append(el("td", left === undefined ? "gap" : (hunk ? "hunk" : (right === left ? "ctx" : "del")), left ?? ""));
      tr.append(el("td", right === undefined ? "gap" : (hunk ? "hunk" : (right === left ? "ctx" : "add")), right ?? ""));
      table.append(tr);
    }
    return table;
  }
  function fileEntry(file) {
    const details = el("details", "diff-file");
    const head = el("summary");
    head.append(el("span", "status s-" + file.status, file.status));
    head.append(el("code", "path", file.old_path ? `${file.old_path} → ${file.path}` : file.path));
    head.append(el("span", "counts", file.binary ? "binary" : `+${file.added} −${file.removed}`));
    if (file.huge) head.append(el("span", "tag", "huge: patch not stored"));
    details.append(head);
    details.dataset.position = String(file.position);
    if (file.patch !== null) details._patch = file.patch;
    details.addEventListener("toggle", () => show(details));
    return details;
  }
  async function show(details) {
    if (!details.open || details.querySelector(".patch")) return;
    if (details._patch === undefined) {
      const page = await fetchJSON(query(Number(details.dataset.position)) + "&limit=1");
      const file = page.files[0];
      details._patch = file && file.patch !== null ? file.patch : null;
    }
    if (details._patch === null) { details.append(el("p", "muted", "no text to show")); return; }
    details.append(mode === "split" ? sideBySide(details._patch) : unified(details._patch));
  }
  function redraw() {
    for (const details of list.querySelectorAll("details.diff-file")) {
      const shown = details.querySelector(".patch");
      if (shown) { shown.remove(); show(details); }
    }
    if (modeButton) modeButton.textContent = mode === "split" ? "unified view" : "side-by-side view";
  }
  async function load(offset) {
    const page = await fetchJSON(query(offset));
    if (offset === 0) {
      list.replaceChildren();
      const s = page.summary;
      summary.textContent = s
        ? `${s.files} files changed, +${s.added} −${s.removed}` +
          (s.binary_files ? `, ${s.binary_files} binary` : "") + (s.huge_files ? `, ${s.huge_files} huge` : "") +
          (s.scope === "turn" ? ` in turn ${s.turn}` : ` since ${page.workspace.base_ref}`)
        : "no change recorded yet";
      if (turnSelect && turnSelect.options.length <= 1) {
        for (const n of page.turns) turnSelect.append(new Option(`turn ${n}`, String(n)));
      }
    }
    for (const file of page.files) list.append(fileEntry(file));
    const first = list.querySelector("details.diff-file");
    if (offset === 0 && first && page.files.length <= 20) for (const d of list.children) d.open = true;
    next = page.next_offset;
    if (more) more.hidden = next === null;
  }
  async function land(button) {
    const out = root.querySelector("output.diff-result");
    button.disabled = true;
    out.textContent = "working…";
    try {
      const response = await fetch(button.dataset.post, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(button.dataset.body ? JSON.parse(button.dataset.body) : {}),
      });
      const data = await response.json();
      out.textContent = response.ok ? `done: ${data.target}${data.commit ? " " + data.commit.slice(0, 12) : ""}` : data.error;
      out.className = "diff-result " + (response.ok ? "ok" : "bad");
    } catch (err) {
      out.textContent = "could not reach tether: " + err;
    } finally {
      button.disabled = false;
    }
  }
  if (turnSelect) turnSelect.addEventListener("change", () => load(0));
  if (more) more.addEventListener("click", () => next !== null && load(next));
  if (modeButton) modeButton.addEventListener("click", () => {
    mode = mode === "split" ? "unified" : "split";
    localStorage.setItem("tether.diff.mode", mode);
    redraw();
  });
  for (const button of root.querySelectorAll("button[data-post]")) button.addEventListener("click", () => land(button));
  redraw();
  load(0).catch((err) => { summary.textContent = "the diff could not be loaded: " + err; });
})();
