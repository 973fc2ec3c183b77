// gilfree site: search, filters and sorting on top of tables that work without JavaScript.
(function () {
  "use strict";

  function text(el) {
    return (el.getAttribute("data-search") || el.textContent || "").toLowerCase();
  }

  function setupFilters(form) {
    var target = document.getElementById(form.getAttribute("data-table"));
    if (!target) { return; }
    var rows = Array.prototype.slice.call(target.querySelectorAll("tbody tr"));
    var search = form.querySelector("input[type=search]");
    var python = form.querySelector("select[name=python]");
    var status = form.querySelector("[role=status]");
    function apply() {
      var q = search ? search.value.trim().toLowerCase() : "";
      var checked = form.querySelector("input[name=readiness]:checked");
      var readiness = checked ? checked.value : "";
      var column = python ? python.value : "0";
      var shown = 0;
      rows.forEach(function (row) {
        var ok = (!q || text(row).indexOf(q) >= 0) &&
          (!readiness || row.getAttribute("data-r" + column) === readiness);
        row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      // Hide sections whose tables have no visible row left (the blockers page).
      Array.prototype.forEach.call(target.querySelectorAll("section"), function (sec) {
        sec.hidden = !sec.querySelector("tbody tr:not([hidden])");
      });
      if (status) { status.textContent = shown + " of " + rows.length + " shown"; }
    }
    var elsewhere = setupElsewhere(form, rows);
    form.addEventListener("input", function () { apply(); elsewhere(); });
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.hidden = false;
    apply();
  }

  // The page file of a project, as `gilfree site` names it.
  function slug(name) {
    var s = name.replace(/[^A-Za-z0-9._-]/g, "_");
    return (s === "" || s.charAt(0) === ".") ? "_" + s : s;
  }

  // Projects on the other pages of the table that match the search, from api/names.json
  // (every project by rank), read once when the search is first used. Served from disk, a
  // browser may refuse the read: the search then covers this page only.
  function setupElsewhere(form, rows) {
    var url = form.getAttribute("data-names");
    var out = form.querySelector(".elsewhere");
    var search = form.querySelector("input[type=search]");
    if (!url || !out || !search || !window.fetch) { return function () {}; }
    var here = {};
    rows.forEach(function (r) { here[r.getAttribute("data-search")] = true; });
    var names = null, asked = false;
    function show() {
      var q = search.value.trim().toLowerCase();
      out.textContent = "";
      if (q.length < 2 || !names) { return; }
      var found = names.filter(function (n) { return !here[n] && n.indexOf(q) >= 0; });
      if (!found.length) { return; }
      out.appendChild(document.createTextNode("On other pages: "));
      found.slice(0, 10).forEach(function (n, i) {
        if (i) { out.appendChild(document.createTextNode(", ")); }
        var a = document.createElement("a");
        a.href = "projects/" + slug(n) + ".html";
        a.textContent = n;
        out.appendChild(a);
      });
      if (found.length > 10) {
        out.appendChild(document.createTextNode(" and " + (found.length - 10) + " more"));
      }
    }
    return function () {
      if (!asked && search.value.trim().length >= 2) {
        asked = true;
        fetch(url).then(function (r) { return r.ok ? r.json() : []; })
          .then(function (list) { names = Array.isArray(list) ? list : []; show(); })
          .catch(function () { names = []; });
      }
      show();
    };
  }

  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell ? (cell.getAttribute("data-value") || cell.textContent.trim()) : "";
    if (numeric) {
      var n = parseFloat(raw);
      return isNaN(n) ? Number.NEGATIVE_INFINITY : n;
    }
    return raw.toLowerCase();
  }

  function setupSorting(table) {
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th[data-sort]"));
    headers.forEach(function (th) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var index = Array.prototype.indexOf.call(th.parentNode.children, th);
        var numeric = th.getAttribute("data-sort") === "num";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
          var c = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.filters"), setupFilters);
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), setupSorting);
  document.documentElement.setAttribute("data-js", "ready");
}());
