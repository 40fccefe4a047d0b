// The builder's live build: start it through the JSON API, show each stage as it ends (server-sent events),
// then reload the page with the stored result. Without this script the form builds on the server and comes back.
(function () {
  "use strict";

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function start(form) {
    var live = form.parentNode.querySelector("[data-live]");
    var status = live.querySelector("[data-live-status]");
    var body = live.querySelector("tbody");
    var progress = live.querySelector("progress");
    var button = form.querySelector("button");
    var csrf = form.querySelector('input[name="csrf"]').value;
    var here = window.location.pathname;
    button.disabled = true;
    live.hidden = false;
    status.textContent = "Starting the build…";
    fetch(form.getAttribute("data-api"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ version: parseInt(form.getAttribute("data-version"), 10) })
    }).then(function (answer) {
      if (answer.status !== 202) throw new Error("the hub answered " + answer.status);
      return answer.json();
    }).then(function (started) {
      var events = new EventSource(started.events);
      var done = 0;
      events.addEventListener("stage", function (event) {
        var stage = JSON.parse(event.data);
        var row = document.createElement("tr");
        cell(row, stage.stage);
        cell(row, stage.status === "failed" ? "failed" : "ok");
        cell(row, (stage.seconds || 0).toFixed(2) + " s", "mono");
        cell(row, stage.log || "—", "wrap");
        body.appendChild(row);
        done += 1;
        progress.value = Math.min(done, progress.max);
        status.textContent = "The " + stage.stage + " stage " + (stage.status === "failed" ? "failed" : "is done") +
          " (" + (stage.seconds || 0).toFixed(2) + " s).";
      });
      events.addEventListener("done", function (event) {
        events.close();
        var run = JSON.parse(event.data);
        status.textContent = run.status === "ok" ? "Built. Loading the result…" : "The build failed. Loading what failed…";
        window.location.replace(here);
      });
      events.onerror = function () {
        events.close();
        window.location.replace(here);
      };
    }).catch(function () {
      form.submit();  // the server builds it and comes back
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-stream-build]");
    if (!form || !window.fetch || !window.EventSource) return;
    event.preventDefault();
    start(form);
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-stream-build][data-autostart]");
    if (form && window.fetch && window.EventSource) start(form);
  });
})();
