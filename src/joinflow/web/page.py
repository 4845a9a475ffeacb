"""The page: static HTML whose script fills itself from ``/api/state``. Every value from the
database is set as text (``textContent``), never as markup."""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>joinflow pipeline</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
 h1 { font-size: 1.3em; margin: 0 0 .2em 0; }
 #status { color: #666; font-size: .9em; }
 #status.stale { color: #b00; }
 section { margin-top: 1.2em; }
 table { border-collapse: collapse; font-size: .92em; }
 th, td { padding: .25em .7em; border-bottom: 1px solid #ddd; text-align: left; }
 td.num { text-align: right; font-variant-numeric: tabular-nums; }
 .bar { display: inline-block; width: 8em; height: .7em; background: #eee; margin-right: .5em; }
 .bar > span { display: block; height: 100%; background: #3a7; }
 .tier-Manual { color: #060; } .tier-Lookup { color: #555; } .tier-Imported { color: #036; }
 .tier-Computed { color: #900; } .tier-Part { color: #666; }
 .err { color: #b00; font-weight: bold; }
 #diagram img { max-width: 100%; border: 1px solid #eee; }
 pre { white-space: pre-wrap; margin: .2em 0 .8em 0; }
</style>
</head>
<body>
<h1>joinflow pipeline: <span id="schemas"></span></h1>
<div id="status">loading...</div>
<section id="diagram"><img alt="pipeline diagram" src="/api/diagram.svg"></section>
<section>
<table id="tables">
<thead><tr><th>table</th><th>tier</th><th>rows</th><th>progress</th><th>pending</th>
<th>reserved</th><th>error</th><th>ignore</th><th>success</th></tr></thead>
<tbody></tbody>
</table>
</section>
<section id="errors"></section>
<script>
"use strict";
const INTERVAL = __INTERVAL_MS__;
const STATUSES = ["pending", "reserved", "error", "ignore", "success"];

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function progressCell(row, p) {
  const td = cell(row, "");
  td.className = "progress";
  if (!p) return;
  if (p.error) { td.textContent = p.error; td.classList.add("err"); return; }
  const done = p.total - p.remaining;
  const bar = document.createElement("span");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = (p.total ? 100 * done / p.total : 100) + "%";
  bar.appendChild(fill);
  const text = document.createElement("span");
  text.className = "progress-text";
  text.textContent = done + " / " + p.total;
  td.appendChild(bar);
  td.appendChild(text);
}

function render(state) {
  document.getElementById("schemas").textContent = state.schemas.map(s => s.name).join(", ");
  const body = document.querySelector("#tables tbody");
  const errors = document.getElementById("errors");
  body.replaceChildren();
  errors.replaceChildren();
  for (const schema of state.schemas) {
    for (const t of schema.tables) {
      const row = document.createElement("tr");
      row.dataset.table = schema.name + "." + t.name;
      cell(row, t.name);
      cell(row, t.tier, "tier-" + t.tier);
      cell(row, t.rows, "num rows");
      progressCell(row, t.progress);
      for (const s of STATUSES) {
        const n = t.jobs ? t.jobs[s] : "";
        cell(row, n, "num jobs-" + s + (s === "error" && n > 0 ? " err" : ""));
      }
      body.appendChild(row);
      if (t.errors && t.errors.length) {
        const h = document.createElement("h3");
        h.textContent = "errors in " + schema.name + "." + t.name;
        errors.appendChild(h);
        for (const e of t.errors) {
          const pre = document.createElement("pre");
          pre.className = "error-entry";
          pre.textContent = JSON.stringify(e.key) + "  " + (e.host || "") + "  " +
                            (e.completed_time || "") + "\\n" + e.error_message;
          errors.appendChild(pre);
        }
      }
    }
  }
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    const state = await response.json();
    if (!response.ok) throw new Error(state.error || response.statusText);
    render(state);
    status.textContent = "updated " + state.time;
    status.className = "";
  } catch (e) {
    status.textContent = "cannot reach the pipeline: " + e.message;
    status.className = "stale";
  }
}

refresh();
setInterval(refresh, INTERVAL);
</script>
</body>
</html>
"""
