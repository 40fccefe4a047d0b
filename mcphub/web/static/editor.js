// The builder's spec editor: Monaco (served by the hub from the pinned npm lock) over the plain <textarea>, which
// stays the form field, so the page works without it. Every change is checked by the hub against the spec format's
// JSON Schema and the compiler's rules; the problems become markers at their lines and a list under the editor.
// Completions and hovers come from the same JSON Schema. No inline script or style: see web/dashboard/monaco.py
// (monaco-env.js loads Monaco under the page's CSP).
(function () {
  "use strict";

  var holder = document.getElementById("spec-editor");
  var form = document.getElementById("spec-form");
  var textarea = document.getElementById("spec-text");
  if (!holder || !form || !textarea || !window.mcphubMonaco) return;

  var base = holder.getAttribute("data-monaco");
  var name = holder.getAttribute("data-name");
  var list = document.getElementById("spec-problems");
  var csrf = form.querySelector('input[name="csrf"]').value;
  // The nonce for Monaco's <style> elements, its workers and its theme: monaco-env.js.
  window.mcphubMonaco(base, function (monaco) {
    var model = monaco.editor.createModel(textarea.value, "yaml", monaco.Uri.parse("file:///" + name));
    var editor = monaco.editor.create(holder, {
      model: model,
      theme: "mcphub",
      renderFinalNewline: "on",
      automaticLayout: true,
      minimap: { enabled: false },
      scrollBeyondLastLine: false,
      fontSize: 13,
      tabSize: 2,
      insertSpaces: true,
      ariaLabel: "Spec YAML " + name,
      accessibilitySupport: "auto"
    });
    holder.hidden = false;
    textarea.hidden = true;
    document.getElementById("spec-label").setAttribute("for", "");
    window.specEditor = editor;  // the browser tests type through Monaco's own API

    var show = function (problems) {
      monaco.editor.setModelMarkers(model, "mcphub", problems.map(function (p) {
        var line = Math.max(1, Math.min(p.line || 1, model.getLineCount()));
        return {
          severity: monaco.MarkerSeverity.Error,
          message: (p.field ? p.field + " " : "") + p.message,
          source: p.source === "schema" ? "JSON Schema" : "mcphub",
          startLineNumber: line, startColumn: p.column || model.getLineFirstNonWhitespaceColumn(line) || 1,
          endLineNumber: line, endColumn: model.getLineMaxColumn(line)
        };
      }));
      list.textContent = "";
      if (!problems.length) {
        var ok = document.createElement("p");
        ok.className = "ok";
        ok.textContent = "No problems found.";
        list.appendChild(ok);
        return;
      }
      var ul = document.createElement("ul");
      problems.forEach(function (p) {
        var li = document.createElement("li");
        var where = document.createElement("span");
        where.className = "mono";
        where.textContent = name + (p.line ? ":" + p.line : "");
        li.appendChild(where);
        li.appendChild(document.createTextNode(" " + (p.field ? p.field + " " : "") + p.message));
        ul.appendChild(li);
      });
      list.appendChild(ul);
    };

    var pending = null;
    var sent = 0;
    var check = function () {
      var mine = ++sent;
      fetch(form.getAttribute("data-check"), {
        method: "POST",
        headers: { "Content-Type": "text/plain; charset=utf-8", "X-CSRF-Token": csrf },
        body: model.getValue(),
        credentials: "same-origin"
      }).then(function (answer) { return answer.json(); }).then(function (body) {
        if (mine === sent && body.problems) show(body.problems);
      }).catch(function () { /* the next change checks again */ });
    };
    model.onDidChangeContent(function () {
      textarea.value = model.getValue();
      if (pending) clearTimeout(pending);
      pending = setTimeout(check, 350);
    });
    form.addEventListener("submit", function () { textarea.value = model.getValue(); });
    var initial = JSON.parse(form.getAttribute("data-problems") || "[]");
    if (initial.length) show(initial);

    // Completions and hovers from the JSON Schema: the keys allowed where the cursor is, with their descriptions.
    fetch(form.getAttribute("data-schema")).then(function (r) { return r.json(); }).then(function (schema) {
      var resolve = function (node) {
        var seen = 0;
        while (node && seen++ < 10) {
          if (node.$ref) { node = schema.$defs[node.$ref.split("/").pop()]; continue; }
          var branches = node.anyOf || node.oneOf;
          if (branches) {
            node = branches.filter(function (b) { return b.$ref || b.type === "object" || b.type === "array" || b.properties; })[0] || branches[0];
            continue;
          }
          break;
        }
        return node || {};
      };
      // The chain of keys above `lineNumber` (by indentation; "- " items step into arrays).
      var pathAt = function (lineNumber, column) {
        var path = [];
        var indent = column - 1;
        var current = model.getLineContent(lineNumber);
        var item = /^(\s*)- /.exec(current);
        if (item && column > item[0].length) { path.unshift("[]"); indent = item[1].length; }
        for (var n = lineNumber - 1; n >= 1 && indent > 0; n--) {
          var text = model.getLineContent(n);
          if (!text.trim() || /^\s*#/.test(text)) continue;
          var m = /^(\s*)(- )?([A-Za-z_][\w-]*)\s*:/.exec(text);
          var lead = /^(\s*)/.exec(text)[1].length;
          if (m && lead < indent) {
            var keyIndent = m[1].length + (m[2] ? 2 : 0);
            if (keyIndent < indent) { path.unshift(m[3]); indent = keyIndent; }
            if (m[2]) { path.unshift("[]"); indent = m[1].length; }
          } else if (/^(\s*)- /.test(text) && lead < indent) {
            path.unshift("[]"); indent = lead;
          }
        }
        return path;
      };
      var nodeAt = function (path) {
        var node = resolve(schema);
        for (var i = 0; i < path.length; i++) {
          if (path[i] === "[]") node = resolve(node.items);
          else node = resolve((node.properties || {})[path[i]] || (node.additionalProperties && typeof node.additionalProperties === "object" ? node.additionalProperties : null));
        }
        return node;
      };
      monaco.languages.registerCompletionItemProvider("yaml", {
        provideCompletionItems: function (m, position) {
          if (m !== model) return { suggestions: [] };
          var node = nodeAt(pathAt(position.lineNumber, position.column));
          var word = m.getWordUntilPosition(position);
          var range = { startLineNumber: position.lineNumber, endLineNumber: position.lineNumber, startColumn: word.startColumn, endColumn: word.endColumn };
          return {
            suggestions: Object.keys(node.properties || {}).map(function (key) {
              return {
                label: key, kind: monaco.languages.CompletionItemKind.Property, insertText: key + ": ",
                documentation: node.properties[key].description || "", range: range
              };
            })
          };
        }
      });
      monaco.languages.registerHoverProvider("yaml", {
        provideHover: function (m, position) {
          if (m !== model) return null;
          var line = m.getLineContent(position.lineNumber);
          var key = /^(\s*)(- )?([A-Za-z_][\w-]*)\s*:/.exec(line);
          if (!key) return null;
          var column = key[1].length + (key[2] ? 2 : 0) + 1;
          var parent = nodeAt(pathAt(position.lineNumber, column));
          var prop = (parent.properties || {})[key[3]];
          if (!prop || !prop.description) return null;
          return { contents: [{ value: "**" + key[3] + "**" }, { value: prop.description }] };
        }
      });
    });
  });
})();
