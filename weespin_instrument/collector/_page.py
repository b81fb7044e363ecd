"""The HTML page served at ``/``: the latest events, refreshed live.

Self-contained (no external assets): a table filled by a few lines of JavaScript that poll
``GET /api/events?after=<last seq>&order=asc`` once a second.

Example::

    from weespin_instrument.collector._page import PAGE
    assert "<table" in PAGE
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weespin local collector</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; }
  h1 { font-size: 1.25rem; margin: 0 0 .25rem; }
  #status { color: #667; margin-bottom: 1rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #e3e6ee;
           vertical-align: top; }
  th { background: #f5f6fa; position: sticky; top: 0; }
  td.mono { font-family: ui-monospace, monospace; font-size: 12px; }
  tr.fresh { animation: fresh 2s ease-out; }
  @keyframes fresh { from { background: #fff6cc; } to { background: transparent; } }
</style>
</head>
<body>
<h1>Weespin local collector</h1>
<div id="status">Loading&hellip;</div>
<table>
  <thead><tr><th>seq</th><th>received</th><th>event</th><th>device</th><th>user</th>
  <th>link</th><th>payload</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<script>
(function () {
  "use strict";
  var KEEP = 500, lastSeq = 0, total = 0;
  var rows = document.getElementById("rows"), status = document.getElementById("status");
  function cell(text, mono) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (mono) { td.className = "mono"; }
    return td;
  }
  function add(event, fresh) {
    var tr = document.createElement("tr");
    if (fresh) { tr.className = "fresh"; }
    tr.appendChild(cell(event.seq));
    tr.appendChild(cell(event.received_at));
    tr.appendChild(cell(event.event_name));
    tr.appendChild(cell(event.device_id, true));
    tr.appendChild(cell(event.user_id));
    tr.appendChild(cell(event.link_id));
    tr.appendChild(cell(JSON.stringify(event.payload), true));
    rows.insertBefore(tr, rows.firstChild);
    while (rows.children.length > KEEP) { rows.removeChild(rows.lastChild); }
  }
  function poll() {
    var url = lastSeq ? "/api/events?order=asc&limit=1000&after=" + lastSeq
                      : "/api/events?order=desc&limit=100";
    fetch(url).then(function (response) { return response.json(); }).then(function (body) {
      var events = lastSeq ? body.events : body.events.slice().reverse();
      var fresh = lastSeq > 0;
      events.forEach(function (event) {
        add(event, fresh);
        lastSeq = Math.max(lastSeq, event.seq);
        total += 1;
      });
      status.textContent = total + " events shown \\u00b7 updated " +
        new Date().toLocaleTimeString();
    }).catch(function (error) {
      status.textContent = "Collector unreachable (" + error + "), retrying\\u2026";
    }).then(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
</script>
</body>
</html>
"""
