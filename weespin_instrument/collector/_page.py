"""The live page served at ``/``: the latest events, filtered, refreshed every second.

Three resources, no external asset and no inline script or style (the page works under a
Content-Security-Policy of ``default-src 'self'``): :data:`PAGE` at ``/``, :data:`SCRIPT` at
``/page.js`` and :data:`STYLE` at ``/page.css``. The script reads ``GET /api/events``:

- at load and whenever a filter changes, the latest 500 matching events (``order=desc``);
- then once a second, those after the last ``seq`` shown (``after=<seq>&order=asc``).

Every answer carries ``total`` (the M of "latest N of M") and ``collector``, an id that changes
when a collector starts: a page left open across a restart sees it change and reloads.
Event text is only ever put in the page with ``textContent``, never as HTML.

Example::

    from weespin_instrument.collector._page import PAGE, SCRIPT
    assert '<script src="/page.js"' in PAGE and "textContent" in SCRIPT
"""

from __future__ import annotations

__all__ = ["KEEP", "PAGE", "SCRIPT", "STYLE"]

#: Rows the page keeps: the latest ones; the status line says how many of how many.
KEEP = 500

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weespin local collector</title>
<link rel="stylesheet" href="/page.css">
<script src="/page.js" defer></script>
</head>
<body>
<header class="top">
  <h1>Weespin local collector</h1>
  <div id="status" role="status" aria-live="polite">Loading&hellip;</div>
</header>
<form id="filters" autocomplete="off">
  <input name="name" placeholder="event name" aria-label="event name (exact)" spellcheck="false">
  <input name="user_id" placeholder="user id" aria-label="user id (exact)" spellcheck="false">
  <input name="device_id" placeholder="device id" aria-label="device id (exact)"
         spellcheck="false">
  <input name="link_id" placeholder="link id" aria-label="link id (exact)" spellcheck="false">
  <input name="q" type="search" placeholder="search payload and ids" aria-label="search text"
         spellcheck="false">
  <button type="button" id="pause" aria-pressed="false">Pause</button>
</form>
<section id="empty" hidden>
  <p><strong>No events yet.</strong> Send a first one from a terminal:</p>
  <pre><code id="first-steps"></code></pre>
  <p>or run your own code with those two variables exported.</p>
</section>
<p id="nomatch" hidden>No event matches these filters.</p>
<table id="events">
  <thead><tr><th class="c-seq">#</th><th class="c-time">received (UTC)</th>
  <th class="c-name">event</th><th class="c-user">user</th><th class="c-device">device</th>
  <th class="c-link">link</th><th class="c-payload">payload</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<aside id="detail" hidden aria-labelledby="detail-title">
  <header><h2 id="detail-title">Event</h2><button type="button" id="close">Close</button></header>
  <pre id="detail-json"></pre>
</aside>
</body>
</html>
"""

STYLE = """
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 1rem; color: #1d2330; }
h1 { font-size: 1.2rem; margin: 0 0 .2rem; }
#status { color: #556; margin-bottom: .6rem; }
#status.down { color: #a40000; font-weight: 600; }
#status.paused { color: #8a5a00; }
#filters { display: flex; flex-wrap: wrap; gap: .4rem; margin-bottom: .8rem; }
#filters input { flex: 1 1 9rem; min-width: 0; padding: .35rem .5rem; font: inherit;
                 border: 1px solid #c8ccd8; border-radius: 4px; }
#filters button { padding: .35rem .9rem; font: inherit; border: 1px solid #c8ccd8;
                  border-radius: 4px; background: #f5f6fa; cursor: pointer; }
#filters button[aria-pressed="true"] { background: #fff1c2; border-color: #d9b44a; }
#empty { border: 1px dashed #c8ccd8; border-radius: 6px; padding: .6rem 1rem; }
pre, code { font-family: ui-monospace, monospace; font-size: 12px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e3e6ee;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: #f5f6fa; position: sticky; top: 0; font-weight: 600; }
th.c-seq { width: 3.5rem; } th.c-time { width: 7.5rem; } th.c-name { width: 9rem; }
th.c-user, th.c-link { width: 7rem; } th.c-device { width: 11rem; }
td.c-seq, td.c-time, td.c-device { font-family: ui-monospace, monospace; font-size: 12px; }
td.c-time { white-space: nowrap; }
tbody tr { cursor: pointer; }
tbody tr:hover, tbody tr:focus { background: #f0f4ff; outline: none; }
tr.fresh { animation: fresh 2s ease-out; }
@keyframes fresh { from { background: #fff6cc; } to { background: transparent; } }
.kv { display: inline-block; margin: 0 .6rem .1rem 0; max-width: 100%; }
.kv .k { color: #556; }
.kv .v { font-family: ui-monospace, monospace; font-size: 12px; }
.muted { color: #99a; }
#detail { position: fixed; top: 0; right: 0; bottom: 0; width: min(32rem, 100%);
          background: #fff; border-left: 1px solid #c8ccd8; padding: 1rem; overflow: auto;
          box-shadow: -4px 0 16px rgba(0, 0, 0, .08); }
#detail header { display: flex; justify-content: space-between; align-items: center; }
#detail h2 { font-size: 1rem; margin: 0 0 .6rem; }
[hidden] { display: none !important; }
@media (max-width: 640px) {
  body { padding: .6rem; }
  thead { display: none; }
  table, tbody, tr, td { display: block; width: auto; }
  tr { border-bottom: 1px solid #e3e6ee; padding: .35rem 0; }
  td { border: 0; padding: .05rem .25rem; }
  td.c-seq, td.c-time, td.c-name { display: inline-block; }
  td.c-name { font-weight: 600; }
  td.c-user::before { content: "user "; color: #99a; }
  td.c-device::before { content: "device "; color: #99a; }
  td.c-link::before { content: "link "; color: #99a; }
  td.c-user.none, td.c-link.none { display: none; }
}
"""

SCRIPT = """\
"use strict";
(function () {
  var KEEP = @KEEP@, BATCH = 1000, FILTERS = ["name", "user_id", "device_id", "link_id", "q"];
  var state = { lastSeq: 0, collector: null, total: 0, paused: false, pausedTotal: 0,
                failures: 0, downSince: null, generation: 0, loaded: false };
  var $ = function (id) { return document.getElementById(id); };
  var rows, status, form;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(date) {
    return pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()) + ":" +
      pad(date.getUTCSeconds());
  }
  // "10:06:21" today (UTC), "11-30 10:06" before: the full ISO time is in the title.
  function compactTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return String(iso || ""); }
    var now = new Date();
    if (date.toISOString().slice(0, 10) === now.toISOString().slice(0, 10)) {
      return clock(date);
    }
    return pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate()) + " " +
      clock(date).slice(0, 5);
  }
  // ws_device_0123456789abcdef... -> "ws_device_…abcdef" (the end is what tells them apart).
  function shortId(id) {
    id = id === null || id === undefined ? "" : String(id);
    return id.length <= 18 ? id : id.slice(0, 10) + "\\u2026" + id.slice(-6);
  }
  function cell(cls, text, title) {
    var td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    if (title) { td.title = title; }
    return td;
  }
  // A string that reads like a number or a boolean keeps its quotes: "019" is not 19.
  var LOOKS_TYPED = /^(-?[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?|true|false|null)$/;
  function valueText(value) {
    if (typeof value !== "string") { return JSON.stringify(value); }
    return LOOKS_TYPED.test(value) ? JSON.stringify(value) : value;
  }
  function payloadCell(payload) {
    var td = document.createElement("td");
    td.className = "c-payload";
    Object.keys(payload || {}).forEach(function (key) {
      var kv = document.createElement("span"), k = document.createElement("span"),
          v = document.createElement("span");
      kv.className = "kv"; k.className = "k"; v.className = "v";
      k.textContent = key + "=";
      v.textContent = valueText(payload[key]);
      kv.appendChild(k); kv.appendChild(v); td.appendChild(kv);
    });
    return td;
  }
  function row(event, fresh) {
    var tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.dataset.seq = event.seq;
    if (fresh) { tr.className = "fresh"; }
    tr.appendChild(cell("c-seq", String(event.seq)));
    tr.appendChild(cell("c-time", compactTime(event.received_at), event.received_at));
    tr.appendChild(cell("c-name", event.event_name));
    tr.appendChild(cell("c-user" + (event.user_id ? "" : " none"), event.user_id || "\\u2013"));
    tr.appendChild(cell("c-device", shortId(event.device_id), event.device_id));
    tr.appendChild(cell("c-link" + (event.link_id ? "" : " none"), event.link_id || "\\u2013"));
    tr.appendChild(payloadCell(event.payload));
    tr._event = event;
    return tr;
  }
  function add(events, fresh) {
    events.forEach(function (event) {
      rows.insertBefore(row(event, fresh), rows.firstChild);
      state.lastSeq = Math.max(state.lastSeq, event.seq);
    });
    while (rows.children.length > KEEP) { rows.removeChild(rows.lastChild); }
  }
  function filters() {
    var values = {};
    FILTERS.forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) { values[name] = value; }
    });
    return values;
  }
  function query(extra) {
    var params = new URLSearchParams(filters());
    Object.keys(extra).forEach(function (key) { params.set(key, extra[key]); });
    return "/api/events?" + params.toString();
  }
  function get(extra) {
    return fetch(query(extra), { cache: "no-store" }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    });
  }
  function render() {
    var shown = rows.children.length, filtered = Object.keys(filters()).length > 0;
    var what = filtered ? " matching events" : " events";
    var text = shown < state.total ? "latest " + shown + " of " + state.total + what :
      state.total + what;
    if (state.paused) {
      var waiting = Math.max(0, state.total - state.pausedTotal);
      text += " \\u00b7 paused" + (waiting ? ", " + waiting + " new" : "");
    }
    status.textContent = text + " \\u00b7 updated " + clock(new Date()) + " UTC";
    status.className = state.paused ? "paused" : "";
    $("empty").hidden = !(state.loaded && state.total === 0 && !filtered);
    $("nomatch").hidden = !(state.loaded && state.total === 0 && filtered);
    $("events").hidden = state.loaded && state.total === 0;
  }
  function connected(body) {
    if (state.downSince) { state.downSince = null; }
    state.failures = 0;
    state.total = body.total;
  }
  function reload() {
    var generation = ++state.generation;
    return get({ order: "desc", limit: KEEP }).then(function (body) {
      if (generation !== state.generation) { return; }
      rows.textContent = "";
      state.lastSeq = 0;
      state.collector = body.collector;
      add(body.events.slice().reverse(), false);
      state.loaded = true;
      connected(body);
      if (state.paused) { state.pausedTotal = body.total; }
      render();
    });
  }
  function poll() {
    var generation = state.generation;
    var request = state.paused ? get({ limit: 1 }) :
      get({ order: "asc", after: state.lastSeq, limit: BATCH });
    return request.then(function (body) {
      if (generation !== state.generation) { return; }
      if (body.collector !== state.collector) { return reload(); }  // it restarted
      if (!state.paused) {
        if (body.events.length >= BATCH) { return reload(); }
        add(body.events, true);
      }
      connected(body);
      render();
    });
  }
  function down(error) {
    state.failures += 1;
    if (!state.downSince) { state.downSince = new Date(); }
    status.textContent = "Collector unreachable since " + clock(state.downSince) +
      " UTC (" + error.message + "); retrying\\u2026";
    status.className = "down";
  }
  function loop() {
    var step = state.loaded ? poll() : reload();
    step.catch(down).then(function () {
      setTimeout(loop, state.failures ? Math.min(5000, 1000 * state.failures) : 1000);
    });
  }
  function showDetail(event) {
    $("detail-title").textContent = event.event_name + " \\u00b7 #" + event.seq;
    $("detail-json").textContent = JSON.stringify(event, null, 2);
    $("detail").hidden = false;
    $("close").focus();
  }
  function hideDetail() { $("detail").hidden = true; }
  function start() {
    rows = $("rows"); status = $("status"); form = $("filters");
    $("first-steps").textContent =
      "export WEESPIN_BASE_URL=" + location.origin + " WEESPIN_API_KEY=dev\\n" +
      "weespin-instrument send signup plan=pro";
    var initial = new URLSearchParams(location.search);
    FILTERS.forEach(function (name) {
      if (initial.get(name)) { form.elements[name].value = initial.get(name); }
    });
    var timer = null;
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var values = filters(), params = new URLSearchParams(values).toString();
        history.replaceState(null, "", params ? "?" + params : location.pathname);
        state.loaded = false;
        reload().catch(down);
      }, 250);
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    $("pause").addEventListener("click", function () {
      state.paused = !state.paused;
      this.textContent = state.paused ? "Resume" : "Pause";
      this.setAttribute("aria-pressed", String(state.paused));
      state.pausedTotal = state.total;
      render();
    });
    rows.addEventListener("click", function (e) {
      var tr = e.target.closest("tr");
      if (tr && tr._event) { showDetail(tr._event); }
    });
    rows.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target._event) { showDetail(e.target._event); }
    });
    $("close").addEventListener("click", hideDetail);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { hideDetail(); }
    });
    loop();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
""".replace("@KEEP@", str(KEEP))
