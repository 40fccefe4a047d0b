// The builder's review step: search, select all/none per group, live checks of tool names, the auth picker.
// Loaded from /static (no inline script); without it the form still posts and the server checks everything.
(function () {
  "use strict";

  var NAME = /^[a-zA-Z0-9_-]+$/;

  function ready() {
    var form = document.getElementById("review-form");
    if (!form) return;
    var budget = parseInt(form.getAttribute("data-budget"), 10) || 34;
    var rows = Array.prototype.slice.call(form.querySelectorAll("[data-op]"));
    var count = document.querySelector("[data-testid=selected-count]");
    var submit = form.querySelector("[data-review-submit]");

    var checkNames = function () {
      var seen = {};
      var bad = 0;
      rows.forEach(function (row) {
        var use = row.querySelector("[data-use]");
        var input = row.querySelector("[data-tool-name]");
        if (use.checked) seen[input.value] = (seen[input.value] || 0) + 1;
      });
      rows.forEach(function (row) {
        var use = row.querySelector("[data-use]");
        var input = row.querySelector("[data-tool-name]");
        var out = row.querySelector("[data-name-check]");
        var name = input.value;
        var problem = "";
        if (use.checked) {
          if (!name) problem = "A tool needs a name.";
          else if (!NAME.test(name)) problem = "Only letters, digits, _ and - (e.g. " + name.replace(/[^a-zA-Z0-9_-]+/g, "_").replace(/^_+|_+$/g, "") + ").";
          else if (name.length > budget) problem = "Too long: " + name.length + " characters, at most " + budget + ".";
          else if (seen[name] > 1) problem = "Another selected tool has this name.";
        }
        out.textContent = problem;
        out.classList.toggle("bad", Boolean(problem));
        input.setAttribute("aria-invalid", problem ? "true" : "false");
        if (problem) bad++;
      });
      var selected = rows.filter(function (row) { return row.querySelector("[data-use]").checked; }).length;
      if (count) count.textContent = selected + " selected";
      if (submit) submit.disabled = bad > 0 || selected === 0;
    };

    form.addEventListener("input", function (event) {
      if (event.target.matches("[data-tool-name]")) checkNames();
    });
    form.addEventListener("change", function (event) {
      if (event.target.matches("[data-use]")) checkNames();
    });
    // "Improve with AI": the LLM's proposal (swapped in by htmx under the row) goes into the description field,
    // or away; nothing is saved until the review is submitted.
    form.addEventListener("click", function (event) {
      var accept = event.target.closest("[data-accept]");
      var dismiss = event.target.closest("[data-dismiss]");
      if (!accept && !dismiss) return;
      var proposal = event.target.closest(".proposal");
      if (accept) {
        var field = document.getElementById(accept.getAttribute("data-accept"));
        field.value = proposal.querySelector("[data-proposed]").textContent;
        field.dispatchEvent(new Event("input", { bubbles: true }));
        field.focus();
      }
      proposal.remove();
    });
    form.addEventListener("click", function (event) {
      var button = event.target.closest("[data-select]");
      if (!button) return;
      var group = button.closest("[data-group]");
      var on = button.getAttribute("data-select") === "all";
      group.querySelectorAll("[data-op]").forEach(function (row) {
        if (!row.hidden) row.querySelector("[data-use]").checked = on;
      });
      checkNames();
    });

    var search = form.querySelector("[data-op-search]");
    if (search) {
      var filter = function () {
        var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
        rows.forEach(function (row) {
          var text = row.getAttribute("data-search") + " " + row.querySelector("[data-tool-name]").value.toLowerCase();
          row.hidden = !words.every(function (word) { return text.indexOf(word) >= 0; });
        });
        form.querySelectorAll("[data-group]").forEach(function (group) {
          group.hidden = !group.querySelector("[data-op]:not([hidden])");
        });
      };
      search.addEventListener("input", filter);
      filter();  // what was typed before this script ran
    }

    var authType = form.querySelector("[data-auth-type]");
    var showAuth = function () {
      form.querySelectorAll("[data-auth-for]").forEach(function (part) {
        part.hidden = part.getAttribute("data-auth-for") !== authType.value;
      });
    };
    if (authType) {
      authType.addEventListener("change", showAuth);
      showAuth();
    }
    checkNames();
  }

  document.addEventListener("DOMContentLoaded", ready);
})();
