// Monaco on the builder's pages, loaded from this hub under the pages' strict CSP (see web/dashboard/monaco.py):
// every <style> Monaco adds gets this response's nonce, its web workers come from this origin (not blob: URLs),
// and its line numbers and diff colours keep WCAG AA contrast. `window.mcphubMonaco(base, ready)` calls ready(monaco) once
// the editor is loaded; the spec editor (editor.js) and the diff views (diffview.js) both start it this way.
(function () {
  "use strict";

  var patched = false;
  var waiting = null;

  function patchStyles() {
    if (patched) return;
    patched = true;
    var meta = document.querySelector('meta[name="csp-nonce"]');
    var nonce = meta ? meta.getAttribute("content") : "";
    var createElement = document.createElement;
    document.createElement = function (tag, options) {
      var element = createElement.call(document, tag, options);
      if (nonce && String(tag).toLowerCase() === "style") element.setAttribute("nonce", nonce);
      return element;
    };
  }

  window.mcphubMonaco = function (base, ready) {
    if (!window.require) return;
    patchStyles();
    if (waiting) { waiting.push(ready); return; }
    waiting = [ready];
    window.require.config({ paths: { vs: base + "/vs" } });
    window.require(["vs/editor/editor.main"], function () {
      var monaco = window.monaco;
      self.MonacoEnvironment = {
        getWorker: function () { return new Worker(base + "/editor-worker.js"); }
      };
      monaco.editor.defineTheme("mcphub", {
        // Token colours a shade darker than vs's, so they keep AA contrast on a diff's changed lines too.
        base: "vs", inherit: true,
        rules: [
          { token: "type", foreground: "00676b" },
          { token: "comment", foreground: "2b6b2b" },
          { token: "number", foreground: "066343" },
          { token: "string", foreground: "8a1212" },
          { token: "keyword", foreground: "0000c8" }
        ],
        colors: {
          "editorLineNumber.foreground": "#5f5f5f",
          "editorLineNumber.activeForeground": "#1f1f1f",
          "editorLineNumber.dimmedForeground": "#5f5f5f",
          // Light diff backgrounds, so every token colour keeps AA contrast on a changed line.
          "diffEditor.insertedLineBackground": "#eefaf1",
          "diffEditor.insertedTextBackground": "#dcf5e3",
          "diffEditor.removedLineBackground": "#fdf1f1",
          "diffEditor.removedTextBackground": "#fbe3e3"
        }
      });
      var callbacks = waiting;
      waiting = [];
      callbacks.forEach(function (callback) { callback(monaco); });
      waiting = null;
      window.mcphubMonaco = function (_, later) { later(monaco); };
    });
  };
})();
