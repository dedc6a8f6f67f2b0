namespace Scheduler.Master.StatusPage;

/// <summary>
/// The status page: one self-contained HTML file (no external assets, so it works on an air-gapped
/// cluster) whose script polls <c>api/status</c> every second and redraws. Data goes in through
/// <c>textContent</c> only, never as markup, so a job name cannot inject anything.
/// </summary>
internal static class StatusPageHtml
{
    public const string Text = """
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Scheduler status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.5rem; color: #1d2330; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
  .muted { color: #667; }
  .bad { color: #b3261e; font-weight: 600; }
  #summary span { margin-right: 1.2rem; }
  .nodes { display: flex; flex-wrap: wrap; gap: .8rem; }
  .node { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: .6rem .8rem; min-width: 300px; }
  .node h3 { font-size: 1rem; margin: 0 0 .3rem; }
  .gpu { display: grid; grid-template-columns: 2.2rem 1fr 3.2rem; align-items: center; gap: .4rem; font-size: 12px; margin: 2px 0; }
  .bar { position: relative; height: 12px; background: #e8eaf0; border-radius: 3px; overflow: hidden; }
  .bar .alloc { position: absolute; left: 0; top: 0; bottom: 0; background: #c5d5f5; }
  .bar .util { position: absolute; left: 0; top: 3px; bottom: 3px; background: #2f6fdc; }
  table { border-collapse: collapse; background: #fff; width: 100%; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e6e8ee; font-size: 13px; vertical-align: top; }
  th { background: #eef0f5; }
  code { font-size: 12px; }
</style>
</head>
<body>
<h1>Scheduler status</h1>
<div id="leader" class="muted">loading…</div>
<div id="summary"></div>
<div id="error" class="bad"></div>
<h2>Nodes</h2>
<div id="nodes" class="nodes"></div>
<h2>Queue <span id="queue-count" class="muted"></span></h2>
<table><thead><tr><th>Job</th><th>Name</th><th>Tenant</th><th>Priority</th><th>Asks</th><th>Waiting</th><th>Reason</th></tr></thead><tbody id="queue"></tbody></table>
<h2>Running <span id="running-count" class="muted"></span></h2>
<table><thead><tr><th>Job</th><th>Name</th><th>State</th><th>Node</th><th>Attempt</th><th>Asks</th><th>Running</th></tr></thead><tbody id="running"></tbody></table>
<h2>Recent events</h2>
<table><thead><tr><th>Time</th><th>Job</th><th>State</th><th>Node</th><th>Message</th></tr></thead><tbody id="events"></tbody></table>
<p class="muted">Updated <span id="updated">never</span>; refreshes every second.</p>
<script>
"use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(el("td", c));
  return tr;
}
function fill(id, rows, empty, columns) {
  const body = document.getElementById(id);
  body.replaceChildren();
  if (rows.length === 0) {
    const td = el("td", empty, "muted");
    td.colSpan = columns;
    const tr = document.createElement("tr");
    tr.appendChild(td);
    body.appendChild(tr);
  }
  for (const r of rows) body.appendChild(row(r));
}
function gib(mib) { return (mib / 1024).toFixed(1) + " GiB"; }
function asks(j) { return (j.cpuMillis / 1000) + " CPU, " + gib(j.memoryMib) + (j.gpus ? ", " + j.gpus + " GPU" : ""); }
function age(s) { return s < 120 ? s + " s" : s < 7200 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h"; }
function time(t) { return new Date(t).toLocaleTimeString(); }

function render(s) {
  const l = s.leader;
  document.getElementById("leader").textContent = l.isLeader
    ? "Leader " + l.masterId + " at " + l.address + ", epoch " + l.epoch + ", store " + l.store + ", since " + time(l.since)
    : "This master (" + l.self + ") is a standby; the leader is " + (l.masterId || "not known yet") + (l.address ? " at " + l.address : "") + ".";
  const summary = document.getElementById("summary");
  summary.replaceChildren();
  if (!s.cluster) { document.getElementById("nodes").replaceChildren(); return; }
  const c = s.cluster;
  summary.appendChild(el("span", "Nodes " + c.nodesReady + "/" + c.nodesTotal + " ready"));
  summary.appendChild(el("span", "GPUs " + c.gpusTotal + ", " + c.gpuAllocatedPercent + "% allocated"));
  summary.appendChild(el("span", "Jobs: " + Object.entries(c.jobsByState).map(([k, v]) => k.toLowerCase() + " " + v).join(", ")));

  const nodes = document.getElementById("nodes");
  nodes.replaceChildren();
  if (s.nodes.length === 0) nodes.appendChild(el("div", "No nodes registered.", "muted"));
  for (const n of s.nodes) {
    const card = el("div", null, "node");
    card.dataset.node = n.id;
    const flags = [n.health, n.cordoned ? "cordoned" : "", n.draining ? "draining" : ""].filter(x => x).join(", ");
    card.appendChild(el("h3", n.id));
    card.appendChild(el("div", flags, n.health === "READY" ? "muted" : "bad"));
    card.appendChild(el("div", "CPU " + (n.cpuMillisUsed / 1000) + "/" + (n.cpuMillis / 1000) + ", memory " + gib(n.memoryMibUsed) + "/" + gib(n.memoryMib) + ", jobs " + (n.jobs.join(", ") || "none"), "muted"));
    for (const g of n.gpus) {
      const line = el("div", null, "gpu");
      line.title = g.model + ": " + g.utilizationPercent + "% busy, " + gib(g.memoryUsedMib) + "/" + gib(g.memoryTotalMib) + ", " + g.temperatureC + " C, " + g.powerW + " W, allocated " + (g.allocatedMilli / 10) + "%" + (g.jobs.length ? ", jobs " + g.jobs.join(", ") : "");
      line.appendChild(el("span", "#" + g.index));
      const bar = el("div", null, "bar");
      const alloc = el("div", null, "alloc"); alloc.style.width = (g.allocatedMilli / 10) + "%";
      const util = el("div", null, "util"); util.style.width = g.utilizationPercent + "%";
      bar.appendChild(alloc); bar.appendChild(util);
      line.appendChild(bar);
      line.appendChild(el("span", g.utilizationPercent + "% " + g.temperatureC + "C"));
      card.appendChild(line);
      if (g.jobs.length) card.appendChild(el("div", "   " + g.jobs.join(", "), "muted"));
    }
    nodes.appendChild(card);
  }

  document.getElementById("queue-count").textContent = "(" + s.queueLength + ")";
  fill("queue", s.queue.map(j => [j.id, j.name, j.tenant, j.priority, asks(j), age(j.waitingSeconds), j.reason]), "Nothing waiting.", 7);
  document.getElementById("running-count").textContent = "(" + s.runningCount + ")";
  fill("running", s.running.map(j => [j.id, j.name, j.state, j.node, j.attempt, asks(j), age(j.runningSeconds)]), "Nothing running.", 7);
  fill("events", s.events.map(e => [time(e.time), e.job, e.state, e.node, e.message]), "No events yet.", 5);
}

async function refresh() {
  try {
    const response = await fetch("api/status", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    document.getElementById("error").textContent = "";
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("error").textContent = "Cannot reach the master: " + e.message + " (retrying)";
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
""";
}
