// The lineage explorer: search, a page per node, a focused graph (cytoscape.js) with lenses, the whole
// graph's overview (a canvas painting the layout computed in Python) and the impact overlay.
// Everything it shows comes from data/graph.js (first paint) and data/details.js (loaded after it).
"use strict";
(function () {
  const D = window.MODELPLANE_GRAPH;
  const N = D.nodes;
  const byId = new Map(N.map((n, i) => [n.id, i]));
  const out = N.map(() => []), inn = N.map(() => []);
  for (let k = 0; k < D.edges.length; k += 3) { // two edges of different kinds between one pair count once here
    const a = D.edges[k], b = D.edges[k + 1];
    if (!out[a].includes(b)) { out[a].push(b); inn[b].push(a); }
  }
  const select = MPSelectors.makeSelector({ nodes: N, byId, out, inn, kinds: D.kinds, modified: D.modified });
  let DETAILS = null;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const MP = (window.MP = { ready: false, timings: {} });

  // -- lenses: one colour per value ---------------------------------------------------------------
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b"];
  const FIXED = {
    kind: { dataset: "#4e79a7", feature: "#76b7b2", workflow: "#9c755f", model: "#f28e2b", evaluation: "#b07aa1", endpoint: "#e15759", service: "#59a14f", stack: "#bab0ac" },
    tier: { "0": "#d62728", "1": "#ff7f0e", "2": "#e7ba00", "3": "#2ca02c", "none": "#c7cbd3" },
    impact: { "changed": "#1d2330", "broken": "#d62728", "retrain-required": "#ff7f0e", "re-evaluate-required": "#9467bd", "rollout-required": "#1f77b4", "notify": "#e7ba00", "none": "#d5d9e0" },
    state: { "applied": "#2ca02c", "changed since apply": "#ff7f0e", "pending": "#d62728", "not applied": "#7f9cc6", "no state": "#c7cbd3" },
  };
  function lensValue(n, lens) {
    if (lens === "kind") return n.kind;
    if (lens === "owner") return n.owner;
    if (lens === "tier") return n.tier === null || n.tier === undefined ? "none" : String(n.tier);
    if (lens === "impact") return n.impact || "none";
    return n.state;
  }
  const ownerColour = new Map();
  function colour(n, lens) {
    const v = lensValue(n, lens);
    if (lens === "owner") {
      if (!ownerColour.has(v)) ownerColour.set(v, PALETTE[ownerColour.size % PALETTE.length]);
      return ownerColour.get(v);
    }
    return FIXED[lens][v] || "#999";
  }
  function legend(indices) {
    const lens = $("lens").value, counts = new Map();
    for (const i of indices) { const v = lensValue(N[i], lens), c = counts.get(v); if (c) c[0]++; else counts.set(v, [1, i]); }
    const rows = [...counts].sort((a, b) => b[1][0] - a[1][0]).slice(0, 14);
    $("legend").innerHTML = "<strong>" + esc($("lens").selectedOptions[0].text) + "</strong><br>" + rows.map(([v, [c, i]]) =>
      '<span class="sw" style="background:' + colour(N[i], lens) + '"></span>' + esc(v) + " (" + c + ")").join("<br>");
  }

  // -- the focused graph ---------------------------------------------------------------------------
  const CAP = 25; // nodes per column before the rest fold into a "+N more" node
  const view = { focus: null, hops: 2, expanded: new Set(), colCap: new Map() };
  const cy = cytoscape({
    container: $("graph"),
    layout: { name: "preset" },
    minZoom: 0.05, maxZoom: 3,
    style: [
      { selector: "node", style: { "background-color": "data(c)", label: "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 3, width: 18, height: 18, "text-max-width": 150, "text-wrap": "ellipsis", "min-zoomed-font-size": 6 } },
      { selector: "node.focus", style: { width: 28, height: 28, "border-width": 3, "border-color": "#1d2330", "font-weight": "bold" } },
      { selector: "node.changed", style: { shape: "diamond", "border-width": 3, "border-color": "#000", "border-style": "double" } },
      { selector: "node.more", style: { shape: "round-rectangle", "background-color": "#eef0f4", "border-width": 1, "border-color": "#9aa3b2", "text-valign": "center", "text-margin-y": 0, "font-size": 11, "min-zoomed-font-size": 0, width: 90, height: 20 } },
      { selector: "node.expandable", style: { "border-width": 2, "border-color": "#9aa3b2", "border-style": "dashed" } },
      { selector: "edge", style: { width: 1, "line-color": "#b8bfcc", "target-arrow-color": "#b8bfcc", "target-arrow-shape": "triangle", "arrow-scale": 0.6, "curve-style": "straight" } },
      { selector: "node:selected", style: { "overlay-opacity": 0.15, "overlay-color": "#1f5fbf" } },
    ],
  });

  function neighbourhood(f, hops) {
    const col = new Map([[f, 0]]);
    for (const [adj, sign] of [[inn, -1], [out, 1]]) {
      let frontier = [f];
      for (let d = 1; d <= hops && frontier.length; d++) {
        const next = [];
        for (const a of frontier) for (const b of adj[a]) if (!col.has(b)) { col.set(b, sign * d); next.push(b); }
        frontier = next;
      }
    }
    for (const e of view.expanded) {
      if (!col.has(e)) continue;
      for (const p of inn[e]) if (!col.has(p)) col.set(p, col.get(e) - 1);
      for (const c of out[e]) if (!col.has(c)) col.set(c, col.get(e) + 1);
    }
    return col;
  }

  function render() {
    const t0 = performance.now();
    const f = view.focus, col = neighbourhood(f, view.hops), lens = $("lens").value;
    const columns = new Map();
    for (const [i, c] of col) { if (!columns.has(c)) columns.set(c, []); columns.get(c).push(i); }
    const row = new Map([[f, 0]]), shown = new Set(), els = [];
    const keys = [...columns.keys()].sort((a, b) => Math.abs(a) - Math.abs(b) || a - b);
    for (const c of keys) {
      const members = columns.get(c);
      if (c !== 0) { // order by the mean row of the neighbours one column nearer the focus
        const ref = (i) => { const nb = (c < 0 ? out[i] : inn[i]).filter((j) => row.has(j) && col.get(j) === c - Math.sign(c)); return nb.length ? nb.reduce((s, j) => s + row.get(j), 0) / nb.length : 1e9; };
        const key = new Map(members.map((i) => [i, ref(i)]));
        members.sort((a, b) => key.get(a) - key.get(b) || (a - b));
      }
      const cap = view.colCap.get(c) || CAP;
      const visible = members.slice(0, cap);
      const h = visible.length + (members.length > cap ? 1 : 0);
      visible.forEach((i, k) => {
        row.set(i, k); shown.add(i);
        const n = N[i];
        const cls = [i === f ? "focus" : "", n.changed ? "changed" : "", (inn[i].some((j) => !col.has(j)) || out[i].some((j) => !col.has(j))) && !view.expanded.has(i) ? "expandable" : ""].join(" ");
        els.push({ group: "nodes", data: { id: "n" + i, idx: i, nid: n.id, label: (n.changed ? "Δ " : "") + n.name, c: colour(n, lens) }, position: { x: c * 230, y: (k - (h - 1) / 2) * 46 }, classes: cls });
      });
      if (members.length > cap) {
        els.push({ group: "nodes", data: { id: "more" + c, col: c, label: "+" + (members.length - cap) + " more" }, position: { x: c * 230, y: (cap - (h - 1) / 2) * 46 }, classes: "more" });
      }
    }
    for (const i of shown) for (const j of out[i]) if (shown.has(j)) els.push({ group: "edges", data: { id: "e" + i + "_" + j, source: "n" + i, target: "n" + j } });
    cy.batch(() => { cy.elements().remove(); cy.add(els); });
    cy.fit(cy.nodes(), 30);
    if (cy.zoom() > 1.4) cy.zoom({ level: 1.4, position: cy.getElementById("n" + f).position() });
    cy.getElementById("n" + f).select();
    legend(shown);
    MP.shown = [...shown].map((i) => N[i].id);
    MP.timings.render = performance.now() - t0;
    return shown;
  }

  function focus(i, opts) {
    opts = opts || {};
    if (view.focus !== i) { view.expanded.clear(); view.colCap.clear(); }
    view.focus = i;
    showGraph();
    render();
    panel(i);
    if (!opts.keepHash) history.replaceState(null, "", "#node=" + encodeURIComponent(N[i].id) + "&hops=" + view.hops);
  }

  cy.on("tap", "node", (ev) => {
    const d = ev.target.data();
    if (d.col !== undefined) { view.colCap.set(d.col, (view.colCap.get(d.col) || CAP) + 100); render(); return; }
    panel(d.idx);
  });
  cy.on("dbltap", "node", (ev) => { const d = ev.target.data(); if (d.idx !== undefined) focus(d.idx); });
  cy.on("mouseover", "node", (ev) => { const d = ev.target.data(); if (d.idx !== undefined) tooltip(d.idx, ev.originalEvent); });
  cy.on("mouseout", "node", () => { $("tooltip").hidden = true; });

  function tooltip(i, e) {
    const n = N[i], t = $("tooltip");
    let html = "<strong>" + esc(n.id) + "</strong><br>owner " + esc(n.owner) + (n.tier !== null && n.tier !== undefined ? " · feeds tier " + n.tier : "");
    if (n.changed) html += "<br>changed: " + esc(n.changed);
    if (n.impact && n.impact !== "changed") html += "<br>impact: <b>" + esc(n.impact) + "</b>";
    if (n.reasons) html += '<ol class="reasons">' + n.reasons.map((r) => "<li>" + esc(r) + "</li>").join("") + "</ol>";
    t.innerHTML = html;
    t.hidden = false;
    if (e) { t.style.left = Math.min(e.clientX + 14, innerWidth - 470) + "px"; t.style.top = (e.clientY + 14) + "px"; }
  }
  MP.tooltip = tooltip;

  // -- the node page -------------------------------------------------------------------------------
  const link = (i) => '<a data-node="' + i + '">' + esc(N[i].id) + "</a>";
  function panel(i) {
    const n = N[i], det = DETAILS ? DETAILS[n.id] : null, p = $("panel");
    let h = "<h2>" + esc(n.id) + "</h2>";
    h += '<div class="meta">' + esc(n.kind) + " · owner <b>" + esc(n.owner) + "</b>" + (n.tier !== null && n.tier !== undefined ? " · feeds tier " + n.tier : "") + "</div>";
    h += '<div class="meta">' + esc(n.file) + ":" + n.line + "</div>";
    h += '<div class="meta">state: <span id="node-state">' + esc(n.state) + "</span></div>";
    if (n.description) h += "<p>" + esc(n.description) + "</p>";
    const labels = Object.entries(n.labels);
    if (labels.length) h += '<div class="meta">labels: ' + labels.map(([k, v]) => esc(k) + "=" + esc(v)).join(", ") + "</div>";
    if (n.changed || n.impact) {
      h += "<h3>Impact</h3>";
      if (n.changed) h += "<div>changed: <b>" + esc(n.changed) + "</b></div>";
      if (n.impact && n.impact !== "changed") h += '<div><span class="badge" style="background:' + colour(n, "impact") + '">' + esc(n.impact) + "</span></div>";
      if (n.reasons) h += '<ol class="reasons">' + n.reasons.map((r) => "<li>" + esc(r) + "</li>").join("") + "</ol>";
    }
    h += '<p><button type="button" id="expand-node">Expand</button> <button type="button" id="collapse-node">Collapse</button> <button type="button" id="focus-node">Focus here</button></p>';
    if (!det) h += "<p><i>loading details…</i></p>";
    else {
      if (det.columns.length) {
        h += "<h3>Columns</h3><table><tr><th>name</th><th>type</th><th>lineage</th></tr>";
        for (const c of det.columns) {
          const readers = (det.read_by && det.read_by[c.name]) || [];
          const from = det.reads.filter((r) => r.columns.includes(c.name));
          h += "<tr><td>" + esc(c.name) + "</td><td>" + esc(c.type) + "</td><td>" +
            readers.map((id) => "→ " + link(byId.get(id))).join("<br>") + from.map((r) => "← " + link(byId.get(r.node))).join("<br>") + "</td></tr>";
        }
        h += "</table>";
      }
      if (det.reads.length) {
        h += "<h3>Reads</h3>" + det.reads.map((r) => link(byId.get(r.node)) + ": " + r.columns.map(esc).join(", ")).join("<br>");
      }
    }
    h += "<h3>Upstream (" + inn[i].length + ")</h3>" + inn[i].map(link).join("<br>");
    h += "<h3>Downstream (" + out[i].length + ")</h3>" + out[i].map(link).join("<br>");
    if (det) {
      h += '<h3>History</h3><ol class="timeline" id="timeline">';
      if (!det.history.length) h += "<li><i>nothing recorded" + (D.state ? "" : " (no applied state when the site was written)") + "</i></li>";
      for (const ev of det.history) {
        const when = ev.at ? new Date(ev.at * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
        const d = ev.detail || {};
        const extra = ["plan", "by", "version", "apply"].filter((k) => d[k]).map((k) => k + " " + esc(d[k])).join(" · ");
        const lines = (ev.lines || []).map((l) => "<br><span class=line>" + esc(l) + "</span>").join("");
        h += '<li data-type="' + esc(ev.type) + '"><time>' + when + "</time><b>" + esc(ev.title) + "</b>" + lines + (extra ? "<br><span class=meta>" + extra + "</span>" : "") + "</li>";
      }
      h += "</ol><h3>Spec</h3><pre>" + esc(JSON.stringify(det.spec, null, 2)) + "</pre>";
    }
    p.innerHTML = h;
    p.dataset.node = n.id;
    $("expand-node").onclick = () => { view.expanded.add(i); render(); };
    $("collapse-node").onclick = () => { view.expanded.delete(i); render(); };
    $("focus-node").onclick = () => focus(i);
  }
  $("panel").addEventListener("click", (e) => { const a = e.target.closest("a[data-node]"); if (a) focus(+a.dataset.node); });

  // -- search: free text, or the CLI's selector grammar ---------------------------------------------
  const hay = N.map((n) => [n.id, n.owner, ...Object.entries(n.labels).map(([k, v]) => k + "=" + v), ...n.columns, n.description].join(" ").toLowerCase());
  const LOOKS_LIKE_SELECTOR = /[:+,*?[\/@]|--exclude/;
  let current = [];
  function search(q) {
    const t0 = performance.now();
    q = q.trim();
    let hits = [], status = "", selected = null;
    if (q && LOOKS_LIKE_SELECTOR.test(q)) {
      try {
        const found = select(q);
        selected = found.nodes;
        hits = [...selected].sort((a, b) => a - b);
        status = "selector: " + hits.length + " node" + (hits.length === 1 ? "" : "s") + found.warnings.map((w) => '<br><span class="warning">' + esc(w) + "</span>").join("");
      } catch (err) {
        status = '<span class="error">' + esc(err.message) + (err.hint ? " (" + esc(err.hint) + ")" : "") + "</span>";
      }
    }
    if (q && selected === null) {
      const words = q.toLowerCase().split(/\s+/);
      const ql = q.toLowerCase(), ranked = [];
      for (let i = 0; i < N.length; i++) {
        const s = hay[i];
        let ok = true;
        for (const w of words) if (!s.includes(w)) { ok = false; break; }
        if (!ok) continue;
        const name = N[i].name;
        ranked.push([name === ql ? 0 : name.startsWith(ql) ? 1 : name.includes(ql) ? 2 : 3, i]);
      }
      ranked.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      hits = ranked.map((r) => r[1]);
      status = (status ? status + "<br>" : "") + hits.length + " match" + (hits.length === 1 ? "" : "es");
    }
    current = hits;
    $("search-status").innerHTML = q ? status : "type to search";
    $("result-list").innerHTML = hits.slice(0, 200).map((i) => '<li data-node="' + i + '">' + esc(N[i].name) + ' <span class="kind">' + esc(N[i].kind) + " · " + esc(N[i].owner) + "</span></li>").join("");
    MP.selected = selected === null ? null : hits.map((i) => N[i].id);
    MP.results = hits.map((i) => N[i].id);
    MP.timings.search = performance.now() - t0;
    if (!$("overview").hidden) paintOverview();
  }
  $("search").addEventListener("input", (e) => search(e.target.value));
  $("search").addEventListener("keydown", (e) => { if (e.key === "Enter" && current.length) focus(current[0]); });
  $("result-list").addEventListener("click", (e) => { const li = e.target.closest("li[data-node]"); if (li) focus(+li.dataset.node); });
  $("hops").addEventListener("change", (e) => {
    const hops = Math.max(0, Math.min(300, parseInt(e.target.value, 10) || 0));
    if (hops === view.hops) return; // a blur after a change already applied: re-rendering would eat the click
    view.hops = hops;
    if (view.focus !== null) focus(view.focus);
  });
  $("lens").addEventListener("change", () => { if ($("overview").hidden) render(); else paintOverview(); });
  $("show-graph").addEventListener("click", () => focus(view.focus === null ? defaultFocus() : view.focus));
  $("show-overview").addEventListener("click", () => showOverview());

  // -- the overview: every node, painted from the precomputed layout ------------------------------
  const canvas = $("overview"), ctx = canvas.getContext("2d");
  const ov = { scale: 1, tx: 0, ty: 0, fitted: false };
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const n of N) { minX = Math.min(minX, n.x); maxX = Math.max(maxX, n.x); minY = Math.min(minY, n.y); maxY = Math.max(maxY, n.y); }
  function fitOverview() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    ov.scale = Math.min(w / (maxX - minX + 2), h / (maxY - minY + 2));
    ov.tx = (w - (maxX - minX) * ov.scale) / 2 - minX * ov.scale;
    ov.ty = (h - (maxY - minY) * ov.scale) / 2 - minY * ov.scale;
    ov.fitted = true;
  }
  function paintOverview() {
    const t0 = performance.now();
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== w * dpr || canvas.height !== h * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
    if (!ov.fitted) fitOverview();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const sx = (x) => x * ov.scale + ov.tx, sy = (y) => y * ov.scale + ov.ty;
    ctx.strokeStyle = "rgba(90,100,120,0.06)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 0; k < D.edges.length; k += 3) { const a = N[D.edges[k]], b = N[D.edges[k + 1]]; ctx.moveTo(sx(a.x), sy(a.y)); ctx.lineTo(sx(b.x), sy(b.y)); }
    ctx.stroke();
    const lens = $("lens").value, groups = new Map(), sel = MP.selected ? new Set(MP.selected) : null;
    const r = Math.max(1.5, Math.min(6, ov.scale * 0.35));
    for (let i = 0; i < N.length; i++) {
      const c = sel && !sel.has(N[i].id) ? "#e3e6eb" : colour(N[i], lens);
      if (!groups.has(c)) groups.set(c, []);
      groups.get(c).push(i);
    }
    for (const [c, idx] of groups) {
      ctx.fillStyle = c;
      for (const i of idx) ctx.fillRect(sx(N[i].x) - r, sy(N[i].y) - r, 2 * r, 2 * r);
    }
    legend(N.map((_, i) => i));
    MP.timings.overview = performance.now() - t0;
    MP.overviewPainted = N.length;
  }
  function nearest(px, py) {
    let best = -1, bd = 100;
    for (let i = 0; i < N.length; i++) {
      const dx = N[i].x * ov.scale + ov.tx - px, dy = N[i].y * ov.scale + ov.ty - py, d = dx * dx + dy * dy;
      if (d < bd) { bd = d; best = i; }
    }
    return best;
  }
  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = { x: e.offsetX, y: e.offsetY, moved: false }; });
  canvas.addEventListener("mousemove", (e) => {
    if (drag) { ov.tx += e.offsetX - drag.x; ov.ty += e.offsetY - drag.y; drag.x = e.offsetX; drag.y = e.offsetY; drag.moved = true; requestAnimationFrame(paintOverview); return; }
    const i = nearest(e.offsetX, e.offsetY);
    if (i >= 0) tooltip(i, e); else $("tooltip").hidden = true;
  });
  canvas.addEventListener("mouseup", (e) => { const d = drag; drag = null; if (d && !d.moved) { const i = nearest(e.offsetX, e.offsetY); if (i >= 0) focus(i); } });
  canvas.addEventListener("mouseleave", () => { drag = null; $("tooltip").hidden = true; });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const k = Math.exp(-e.deltaY * 0.002);
    ov.tx = e.offsetX - (e.offsetX - ov.tx) * k; ov.ty = e.offsetY - (e.offsetY - ov.ty) * k; ov.scale *= k;
    requestAnimationFrame(paintOverview);
  }, { passive: false });

  function showOverview() {
    $("graph").style.visibility = "hidden";
    canvas.hidden = false;
    paintOverview();
    history.replaceState(null, "", "#overview");
  }
  function showGraph() { canvas.hidden = true; $("graph").style.visibility = "visible"; }

  // -- start ---------------------------------------------------------------------------------------
  function defaultFocus() {
    const changed = N.findIndex((n) => n.changed);
    if (changed >= 0) return changed;
    const model = N.findIndex((n) => n.kind === "model");
    return model >= 0 ? model : 0;
  }
  $("title").textContent = "modelplane · " + D.project + " · " + D.environment;
  if (D.overlay) $("overlay-note").textContent = "impact overlay: " + D.overlay.changed + " changed, against " + D.overlay.against;
  if (D.overlay) $("lens").value = "impact";
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("hops")) { view.hops = parseInt(params.get("hops"), 10) || 2; $("hops").value = view.hops; }
  if (params.get("lens")) $("lens").value = params.get("lens");
  search("");
  if (N.length === 0) { $("panel").innerHTML = "<p>This project has no nodes.</p>"; MP.ready = true; return; }
  if (location.hash === "#overview") showOverview();
  else {
    const want = params.get("node") !== null ? byId.get(params.get("node")) : undefined;
    focus(want === undefined ? defaultFocus() : want, { keepHash: want !== undefined });
  }
  // the details (specs, columns, history) load after the first paint
  requestAnimationFrame(() => setTimeout(() => {
    MP.painted = performance.now(); // the first frame with the focused neighbourhood is on screen
    const s = document.createElement("script");
    s.src = "data/details.js";
    s.onload = () => { DETAILS = window.MODELPLANE_DETAILS; MP.detailsLoaded = true; if (view.focus !== null) panel(byId.get($("panel").dataset.node) ?? view.focus); };
    document.body.appendChild(s);
  }, 0));
  MP.focus = (id, hops) => { if (hops !== undefined) { view.hops = hops; $("hops").value = hops; } const t0 = performance.now(); focus(byId.get(id)); return performance.now() - t0; };
  MP.search = (q) => { $("search").value = q; search(q); return MP.timings.search; };
  MP.select = (q) => { // for tests: the ids a selector picks, or the error it raises
    try { return { ids: [...select(q).nodes].map((i) => N[i].id).sort() }; } catch (err) { return { error: err.message }; }
  };
  MP.cy = cy;
  MP.ready = true;
})();
