// MCP Hub dashboard: the little behaviour the pages need beyond htmx. Loaded from /static (the
// Content-Security-Policy allows no inline script). Every feature also degrades to plain HTML.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    var done = function () {
      var label = button.textContent;
      button.setAttribute("data-copied", "");
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; button.removeAttribute("data-copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
    }
  });

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Live tail: <tbody data-tail="/logs/stream?…" data-after="42"> receives rows as server-sent events.
  function startTail() {
    var body = document.querySelector("[data-tail]");
    var toggle = document.getElementById("tail-toggle");
    if (!body || !toggle || !window.EventSource) return;
    var source = null;
    var status = document.getElementById("tail-status");
    var start = function () {
      var url = body.getAttribute("data-tail") + "&after=" + encodeURIComponent(body.getAttribute("data-after") || "0");
      source = new EventSource(url);
      source.addEventListener("call", function (event) {
        var holder = document.createElement("tbody");
        holder.innerHTML = event.data;
        var row = holder.firstElementChild;
        if (!row) return;
        row.classList.add("fresh");
        var empty = document.getElementById("logs-empty");
        if (empty) empty.remove();
        body.insertBefore(row, body.firstChild);
        body.setAttribute("data-after", event.lastEventId);
      });
      toggle.textContent = "Pause live tail";
      toggle.setAttribute("aria-pressed", "true");
      if (status) status.textContent = "Live: new calls appear at the top.";
    };
    var stop = function () {
      if (source) source.close();
      source = null;
      toggle.textContent = "Live tail";
      toggle.setAttribute("aria-pressed", "false");
      if (status) status.textContent = "";
    };
    toggle.hidden = false;
    toggle.addEventListener("click", function () { if (source) stop(); else start(); });
    start();
  }

  // Usage charts: uPlot over the JSON in <script type="application/json" id="chart-data">.
  var palette = ["#0a5cd8", "#15803d", "#c2410c", "#7c3aed", "#0e7490", "#be123c", "#4d7c0f", "#a16207"];

  function charts() {
    var data = document.getElementById("chart-data");
    if (!data || !window.uPlot) return;
    var chart = JSON.parse(data.textContent);
    var calls = document.getElementById("chart-calls");
    var errors = document.getElementById("chart-errors");
    if (calls && chart.series.length) plot(calls, chart.times, chart.series, "calls");
    if (errors && chart.series.length) plot(errors, chart.times, chart.series, "errors");
  }

  function plot(element, times, series, field) {
    var width = Math.max(280, element.clientWidth);
    var options = {
      width: width,
      height: 220,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [{ stroke: "#5c5c5c", grid: { stroke: "#eee" } }, { stroke: "#5c5c5c", grid: { stroke: "#eee" } }],
      series: [{}].concat(series.map(function (s, i) {
        return { label: s.name, stroke: palette[i % palette.length], width: 2, points: { show: false } };
      })),
    };
    var values = [times].concat(series.map(function (s) { return s[field]; }));
    var instance = new window.uPlot(options, values, element);
    window.addEventListener("resize", function () {
      instance.setSize({ width: Math.max(280, element.clientWidth), height: 220 });
    });
  }

  // Builder: drop a file on <div data-dropzone data-max-bytes="…"> to pick it; too large is said before sending.
  function dropzone() {
    var zone = document.querySelector("[data-dropzone]");
    if (!zone) return;
    var input = zone.querySelector("input[type=file]");
    var status = zone.querySelector("[data-drop-status]");
    var submit = document.querySelector("[data-build-submit]");
    var max = parseInt(zone.getAttribute("data-max-bytes"), 10);
    var check = function () {
      var file = input.files && input.files[0];
      var tooLarge = file && max && file.size > max;
      if (status) status.textContent = !file ? "" : tooLarge
        ? file.name + " is larger than " + Math.round(max / 1048576) + " MB: give its URL instead."
        : file.name + " (" + Math.ceil(file.size / 1024) + " KB) is ready to build.";
      if (submit) submit.disabled = Boolean(tooLarge);
    };
    input.addEventListener("change", check);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      check();
    });
  }

  // Builder: a build takes seconds; say so and keep the button from being pressed twice.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-build-form]");
    if (!form) return;
    var button = form.querySelector("[data-build-submit]");
    var status = form.querySelector("[data-build-status]");
    if (button) button.disabled = true;
    if (status) status.textContent = "Building: reading, compiling, scanning and testing…";
  });

  document.addEventListener("DOMContentLoaded", function () {
    startTail();
    charts();
    dropzone();
  });
})();
