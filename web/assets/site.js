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
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.hidden = false;
    apply();
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
