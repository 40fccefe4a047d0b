// The builder's playground: a form generated from the chosen tool's inputSchema (nested objects, arrays, enums,
// defaults), serialized into the arguments JSON the form posts. Without this script the JSON box is the form.
(function () {
  "use strict";

  var counter = 0;

  function resolve(schema) {
    var seen = 0;
    while (schema && (schema.anyOf || schema.oneOf) && seen++ < 5) {
      var branches = (schema.anyOf || schema.oneOf).filter(function (b) { return b.type !== "null"; });
      schema = Object.assign({}, schema, branches[0] || {});
      delete schema.anyOf; delete schema.oneOf;
    }
    return schema || {};
  }

  function typeOf(schema) {
    if (schema.enum) return "enum";
    var type = Array.isArray(schema.type) ? schema.type.filter(function (t) { return t !== "null"; })[0] : schema.type;
    if (!type && schema.properties) return "object";
    return type || "json";
  }

  function hint(text) {
    var p = document.createElement("p");
    p.className = "hint";
    p.textContent = text;
    return p;
  }

  // node(schema, label, required, initial) → {element, value(): the value, or undefined when left out}; `initial`
  // (the arguments of the last call) fills the fields, else the schema's defaults do.
  function node(raw, label, required, initial) {
    var schema = resolve(raw);
    var type = typeOf(schema);
    var id = "pg-field-" + (++counter);
    var wrap = document.createElement("div");
    wrap.className = "field";
    if (type === "object") {
      var set = document.createElement("fieldset");
      var legend = document.createElement("legend");
      legend.textContent = label + (required ? " (required)" : "");
      set.appendChild(legend);
      if (schema.description) set.appendChild(hint(schema.description));
      var children = [];
      var needed = schema.required || [];
      Object.keys(schema.properties || {}).forEach(function (key) {
        var start = initial && typeof initial === "object" ? initial[key] : undefined;
        var child = node(schema.properties[key], key, needed.indexOf(key) >= 0, start);
        children.push([key, child]);
        set.appendChild(child.element);
      });
      return {
        element: set,
        value: function () {
          var out = {};
          var any = false;
          children.forEach(function (pair) {
            var v = pair[1].value();
            if (v !== undefined) { out[pair[0]] = v; any = true; }
          });
          return any || required ? out : undefined;
        }
      };
    }
    if (type === "array") {
      var box = document.createElement("fieldset");
      var title = document.createElement("legend");
      title.textContent = label + (required ? " (required)" : "") + " — a list";
      box.appendChild(title);
      if (schema.description) box.appendChild(hint(schema.description));
      var items = [];
      var list = document.createElement("div");
      box.appendChild(list);
      var add = document.createElement("button");
      add.type = "button";
      add.className = "small";
      add.textContent = "Add an item to " + label;
      var addItem = function (start) {
        var row = document.createElement("div");
        row.className = "pg-item";
        var child = node(schema.items || {}, label + " item " + (items.length + 1), true, start);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "small";
        remove.textContent = "Remove";
        var entry = { row: row, child: child };
        remove.addEventListener("click", function () {
          items.splice(items.indexOf(entry), 1);
          row.remove();
          changed();
        });
        row.appendChild(child.element);
        row.appendChild(remove);
        list.appendChild(row);
        items.push(entry);
        changed();
      };
      add.addEventListener("click", function () { addItem(undefined); });
      box.appendChild(add);
      (Array.isArray(initial) ? initial : Array.isArray(schema.default) ? schema.default : []).forEach(addItem);
      return {
        element: box,
        value: function () {
          if (!items.length) return required ? [] : undefined;
          return items.map(function (e) { return e.child.value(); }).filter(function (v) { return v !== undefined; });
        }
      };
    }
    var labelEl = document.createElement("label");
    labelEl.setAttribute("for", id);
    labelEl.textContent = label + (required ? " (required)" : "");
    wrap.appendChild(labelEl);
    var input;
    if (type === "enum") {
      input = document.createElement("select");
      var options = (required ? [] : [""]).concat(schema.enum);
      options.forEach(function (v) {
        var option = document.createElement("option");
        option.value = v === "" ? "" : JSON.stringify(v);
        option.textContent = v === "" ? "(leave out)" : String(v);
        input.appendChild(option);
      });
    } else if (type === "boolean") {
      input = document.createElement("select");
      (required ? ["true", "false"] : ["", "true", "false"]).forEach(function (v) {
        var option = document.createElement("option");
        option.value = v;
        option.textContent = v || "(leave out)";
        input.appendChild(option);
      });
    } else if (type === "json") {
      input = document.createElement("textarea");
      input.rows = 2;
      input.placeholder = "any JSON value";
    } else {
      input = document.createElement("input");
      input.type = type === "integer" || type === "number" ? "number" : "text";
      if (type === "integer") input.step = "1";
      if (type === "number") input.step = "any";
    }
    var given = initial !== undefined ? initial : schema.default;
    if (given !== undefined) {
      if (type === "enum") input.value = JSON.stringify(given);
      else if (type === "json") input.value = JSON.stringify(given);
      else input.value = String(given);
    }
    input.id = id;
    if (required) input.required = true;
    wrap.appendChild(input);
    if (schema.description) {
      var described = hint(schema.description);
      described.id = id + "-hint";
      input.setAttribute("aria-describedby", described.id);
      wrap.appendChild(described);
    }
    return {
      element: wrap,
      value: function () {
        var v = input.value;
        if (v === "") return undefined;
        if (type === "enum") return JSON.parse(v);
        if (type === "boolean") return v === "true";
        if (type === "integer") return parseInt(v, 10);
        if (type === "number") return parseFloat(v);
        if (type === "json") { try { return JSON.parse(v); } catch (e) { return v; } }
        return v;
      }
    };
  }

  var root = null;
  var output = null;
  function changed() {
    if (root && output) output.value = JSON.stringify(root.value() || {}, null, 2);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-playground]");
    if (!form) return;
    var holder = document.getElementById("pg-fields");
    output = document.getElementById("pg-args");
    var schema = JSON.parse(form.getAttribute("data-schema") || "{}");
    var previous = {};
    try { previous = JSON.parse(output.value || "{}"); } catch (e) { previous = {}; }
    root = node(Object.assign({ type: "object" }, schema), "Arguments", true, previous);
    holder.appendChild(root.element);
    holder.hidden = false;
    output.readOnly = true;
    document.getElementById("pg-args-label").textContent = "Arguments as they will be sent (JSON)";
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    changed();
  });
})();
