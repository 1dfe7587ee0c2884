// The CLI's selector grammar (compiler/graph/selectors.py), evaluated in the browser over the
// precomputed graph, with the same meaning: tests/docs_site/test_selector_parity.py runs the same
// selectors through both and compares the sets and which ones are errors.
//
// Written for the dbt grammar (`@`, `resource_type:`/`tag:`, `state:new`, `state:modified.<part>`,
// dbt's `path:`, `--exclude`, "matches nothing" as an error); on a Python engine that predates it,
// the parity test runs only the cases both share.
"use strict";
(function (global) {
  const ATOM = /^(@)?(?:(\d*)\+)?([^+@]+?)(?:\+(\d*))?$/;
  const METHODS = ["kind", "resource_type", "owner", "label", "tag", "path", "state", "name"];
  const ALIASES = { resource_type: "kind", tag: "label" };
  const STATE_PARTS = {
    body: ["spec"],
    configs: ["metadata.owner", "metadata.labels"],
    contract: ["spec.schema", "spec.columns"],
    persisted_descriptions: ["metadata.description", "spec.schema.columns", "spec.columns"],
    relation: ["spec.uri", "spec.format", "spec.artifact", "spec.stack"],
  };
  const EXAMPLE = "e.g. `model/tiny-chat+`, `kind:endpoint`, `@dataset/raw`, `path:specs/ml`";

  class SelectorError extends Error {
    constructor(message, hint) { super(message); this.hint = hint || ""; }
  }
  const escapeRe = (c) => c.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&");

  // Python's fnmatch.fnmatchcase: * and ? cross '/', [seq] and [!seq] are character classes.
  const fnCache = new Map();
  function fnmatchRegex(pat) {
    let re = fnCache.get(pat);
    if (re) return re;
    let out = "";
    for (let i = 0; i < pat.length; i++) {
      const c = pat[i];
      if (c === "*") out += "[\\s\\S]*";
      else if (c === "?") out += "[\\s\\S]";
      else if (c === "[") {
        let j = i + 1;
        if (j < pat.length && pat[j] === "!") j++;
        if (j < pat.length && pat[j] === "]") j++;
        while (j < pat.length && pat[j] !== "]") j++;
        if (j >= pat.length) { out += "\\["; continue; }
        let body = pat.slice(i + 1, j).replace(/\\/g, "\\\\");
        if (body[0] === "!") body = "^" + body.slice(1);
        else if (body[0] === "^") body = "\\" + body;
        out += "[" + body + "]";
        i = j;
      } else out += escapeRe(c);
    }
    re = new RegExp("^(?:" + out + ")$");
    fnCache.set(pat, re);
    return re;
  }
  const isGlob = (s) => /[*?[]/.test(s);

  // dbt's path: a file or a folder holding it; with wildcards a glob where * stays in one folder.
  function cleanPath(p) {
    const out = [];
    for (const part of p.replace(/\\/g, "/").split("/")) {
      if (part === "" || part === ".") continue;
      if (part === ".." && out.length) out.pop(); else out.push(part);
    }
    return out.join("/") || ".";
  }
  const pathCache = new Map();
  function pathRegex(pattern) {
    let re = pathCache.get(pattern);
    if (re) return re;
    let out = "", i = 0;
    while (i < pattern.length) {
      const c = pattern[i];
      if (pattern.startsWith("**/", i)) { out += "(?:[^/]+/)*"; i += 3; continue; }
      if (pattern.startsWith("**", i)) { out += "[\\s\\S]*"; i += 2; continue; }
      if (c === "*") out += "[^/]*";
      else if (c === "?") out += "[^/]";
      else if (c === "[" && pattern.indexOf("]", i + 1) > i + 1) {
        const end = pattern.indexOf("]", i + 1), body = pattern.slice(i + 1, end);
        out += "[" + (body[0] === "!" ? "^" + body.slice(1) : body).replace(/\\/g, "\\\\") + "]";
        i = end + 1;
        continue;
      } else out += escapeRe(c);
      i++;
    }
    re = new RegExp("^(?:" + out + ")$");
    pathCache.set(pattern, re);
    return re;
  }
  function pathMatches(pattern, file) {
    pattern = cleanPath(pattern);
    if (isGlob(pattern)) {
      const rx = pathRegex(pattern), parts = file.split("/");
      for (let i = parts.length; i > 0; i--) if (rx.test(parts.slice(0, i).join("/"))) return true;
      return false;
    }
    return file === pattern || file.startsWith(pattern + "/") || pattern === ".";
  }

  function makeSelector(G) {
    // G: {nodes, byId, out, inn, kinds, modified: null | {id: [change, [field paths]]}}
    function reach(start, adj, depth) {
      const seen = new Set();
      let frontier = [...start], d = 0;
      while (frontier.length && (depth === null || d < depth)) {
        const next = [];
        for (const n of frontier) for (const m of adj[n]) if (!seen.has(m)) { seen.add(m); next.push(m); }
        frontier = next;
        d++;
      }
      for (const s of start) seen.delete(s);
      return seen;
    }

    function kindOf(value) {
      const kind = value.toLowerCase();
      if (!G.kinds.includes(kind)) throw new SelectorError("unknown kind `" + value + "` in selector", "kinds: " + G.kinds.join(", "));
      return kind;
    }

    function byName(pattern) {
      const glob = isGlob(pattern), found = new Set();
      if (pattern.includes("/")) {
        const cut = pattern.indexOf("/"), kindText = pattern.slice(0, cut), name = pattern.slice(cut + 1);
        const kind = kindText.toLowerCase();
        if (!G.kinds.includes(kind)) throw new SelectorError("unknown kind `" + kindText + "` in `" + pattern + "`", "a file path is `path:" + pattern + "`");
        if (glob) {
          const re = fnmatchRegex(name);
          G.nodes.forEach((n, i) => { if (n.kind === kind && re.test(n.name)) found.add(i); });
        } else {
          const i = G.byId.get(kind + "/" + name);
          if (i !== undefined) found.add(i);
        }
      } else {
        const re = glob ? fnmatchRegex(pattern) : null;
        G.nodes.forEach((n, i) => { if (re ? re.test(n.name) : n.name === pattern) found.add(i); });
      }
      return found;
    }

    function state(value) {
      const dot = value.indexOf(".");
      const what = dot < 0 ? value : value.slice(0, dot), part = dot < 0 ? "" : value.slice(dot + 1);
      if (!["modified", "new"].includes(what) || (what === "new" && part))
        throw new SelectorError("unknown state `" + value + "`", "use `state:modified`, `state:new` or `state:modified.<part>`");
      if (part && !(part in STATE_PARTS)) throw new SelectorError("unknown part `" + part + "` of state:modified", "parts: " + Object.keys(STATE_PARTS).join(", "));
      if (G.modified === null) throw new SelectorError("`state:" + value + "` needs something to compare with",
        "generate the site with --base REF, --plan FILE, or where an applied state exists");
      const out = new Set();
      for (const [id, [change, fields]] of Object.entries(G.modified)) {
        const i = G.byId.get(id);
        if (i === undefined || change === "no-op") continue;
        if (what === "new") { if (change === "create") out.add(i); continue; }
        if (!part) { out.add(i); continue; }
        const prefixes = STATE_PARTS[part];
        if (change === "create" || fields.some((f) => prefixes.some((p) => f === p || f.startsWith(p + ".") || f.startsWith(p + "[")))) out.add(i);
      }
      return out;
    }

    function method(body) {
      const colon = body.indexOf(":");
      if (colon < 0) return byName(body);
      let m = body.slice(0, colon);
      const value = body.slice(colon + 1);
      if (!METHODS.includes(m)) throw new SelectorError("unknown selector method `" + m + ":`", "methods: " + METHODS.join(", "));
      if (!value) throw new SelectorError("`" + body + "` has no value after the method", EXAMPLE);
      m = ALIASES[m] || m;
      const out = new Set();
      if (m === "kind") {
        const kind = kindOf(value);
        G.nodes.forEach((n, i) => { if (n.kind === kind) out.add(i); });
      } else if (m === "owner") {
        const re = fnmatchRegex(value);
        G.nodes.forEach((n, i) => { if (re.test(n.owner)) out.add(i); });
      } else if (m === "label") {
        const eq = value.indexOf("=");
        const keyRe = fnmatchRegex(eq < 0 ? value : value.slice(0, eq)), wantRe = eq < 0 ? null : fnmatchRegex(value.slice(eq + 1));
        G.nodes.forEach((n, i) => {
          for (const [k, v] of Object.entries(n.labels)) if (keyRe.test(k) && (wantRe === null || wantRe.test(String(v)))) { out.add(i); break; }
        });
      } else if (m === "path") {
        G.nodes.forEach((n, i) => { if (pathMatches(value, n.file)) out.add(i); });
      } else if (m === "name") {
        return byName(value);
      } else return state(value);
      return out;
    }

    function atom(text, warnings) {
      const m = ATOM.exec(text);
      if (!m) throw new SelectorError("cannot parse selector `" + text + "`", EXAMPLE);
      const body = m[3], base = method(body);
      if (!base.size) {
        if (body.startsWith("state:")) warnings.push("`" + text + "` matches no node: nothing is " + body.slice(6));
        else throw new SelectorError("no node matches `" + text + "`");
      }
      const out = new Set(base);
      if (m[1]) {
        if (m[4] !== undefined) throw new SelectorError("`" + text + "`: `@` and a trailing `+` do not combine", "`@` already takes every descendant");
        const down = new Set([...base, ...reach(base, G.out, null)]);
        for (const n of reach(down, G.inn, null)) down.add(n);
        return down;
      }
      if (m[2] !== undefined) for (const n of reach(base, G.inn, m[2] ? parseInt(m[2], 10) : null)) out.add(n);
      if (m[4] !== undefined) for (const n of reach(base, G.out, m[4] ? parseInt(m[4], 10) : null)) out.add(n);
      return out;
    }

    function expression(text, warnings, what) {
      const terms = text.split(/\s+/).filter(Boolean);
      if (!terms.length) throw new SelectorError("empty " + what + ": it would select nothing", EXAMPLE);
      const result = new Set();
      for (const term of terms) {
        const parts = term.split(",");
        if (parts.some((p) => !p)) throw new SelectorError("`" + term + "` has an empty part around a comma", "a,b selects what both a and b select");
        const sets = parts.map((p) => atom(p, warnings));
        let both = sets[0];
        for (const s of sets.slice(1)) both = new Set([...both].filter((x) => s.has(x)));
        if (!both.size && sets.every((s) => s.size)) {
          const message = "`" + term + "`: each part matches nodes, but no node matches all of them";
          if (!parts.some((p) => p.replace(/^[@+0-9]+/, "").startsWith("state:"))) throw new SelectorError(message, "a comma intersects; a space takes the union");
          warnings.push(message);
        }
        for (const x of both) result.add(x);
      }
      return result;
    }

    // `SELECTOR [--exclude EXCLUDE]`, as the CLI's --select and --exclude; returns {nodes, warnings}
    return function select(text) {
      const warnings = [];
      const cut = text.search(/(^|\s)--exclude(\s|$)/);
      const main = cut < 0 ? text : text.slice(0, cut), exclude = cut < 0 ? null : text.slice(cut).replace(/^\s*--exclude/, "");
      const chosen = expression(main, warnings, "selector");
      if (exclude !== null) {
        const removed = expression(exclude, warnings, "--exclude"), before = chosen.size > 0;
        for (const x of removed) chosen.delete(x);
        if (before && !chosen.size) warnings.push("--exclude `" + exclude.trim() + "` removes every node the selection picked: nothing is selected");
      }
      return { nodes: chosen, warnings };
    };
  }

  global.MPSelectors = { makeSelector, SelectorError, fnmatchRegex, pathMatches };
})(window);
