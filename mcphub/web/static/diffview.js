// Two specs side by side in Monaco's diff editor (read-only): the versions page's "any two versions" and the
// change the LLM proposes from feedback. The texts come from hidden <textarea>s the server filled; without Monaco
// the page's unified diff stays the view.
(function () {
  "use strict";

  function start() {
    var holder = document.querySelector("[data-diff-view]");
    if (!holder || !window.mcphubMonaco) return;
    var original = document.getElementById(holder.getAttribute("data-original")).value;
    var modified = document.getElementById(holder.getAttribute("data-modified")).value;
    var label = holder.getAttribute("data-label") || "Spec diff";
    window.mcphubMonaco(holder.getAttribute("data-monaco"), function (monaco) {
      var diff = monaco.editor.createDiffEditor(holder, {
        theme: "mcphub",
        readOnly: true,
        originalEditable: false,
        renderSideBySide: true,
        automaticLayout: true,
        minimap: { enabled: false },
        scrollBeyondLastLine: false,
        fontSize: 13,
        ariaLabel: label,
        accessibilitySupport: "auto"
      });
      diff.setModel({
        original: monaco.editor.createModel(original, "yaml"),
        modified: monaco.editor.createModel(modified, "yaml")
      });
      // The two inner editors' input areas need names of their own. Monaco 0.58 leaves them empty whatever the
      // diff editor's options say (originalAriaLabel is not passed on), so they are named on the element.
      var name = function (editor, text) {
        var input = editor.getDomNode() && editor.getDomNode().querySelector(".native-edit-context, textarea");
        if (input && !input.getAttribute("aria-label")) input.setAttribute("aria-label", text);
      };
      var nameBoth = function () {
        name(diff.getOriginalEditor(), label + ": before");
        name(diff.getModifiedEditor(), label + ": after");
      };
      nameBoth();
      diff.getOriginalEditor().onDidChangeConfiguration(nameBoth);
      diff.getModifiedEditor().onDidChangeConfiguration(nameBoth);
      // The diff is computed in a worker: the holder says how many changes once it is known.
      diff.onDidUpdateDiff(function () {
        nameBoth();
        holder.setAttribute("data-changes", String((diff.getLineChanges() || []).length));
      });
      holder.hidden = false;
      window.specDiff = diff;  // the browser tests read the changes through Monaco's own API
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
