(function () {
  "use strict";
  function value(cell) {
    var raw = cell ? cell.getAttribute("data-sort") : "";
    if (raw === null) { raw = cell.textContent.trim(); }
    return raw;
  }
  function compare(a, b, numeric) {
    if (a === "" || b === "") { return a === b ? 0 : (a === "" ? 1 : -1); }
    if (numeric) { return parseFloat(a) - parseFloat(b); }
    return a.localeCompare(b);
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var headers = table.tHead.rows[0].cells;
    var body = table.tBodies[0];
    Array.prototype.forEach.call(headers, function (header, column) {
      var button = header.querySelector("button.sort");
      if (!button) { return; }
      var numeric = header.getAttribute("data-type") === "number";
      button.addEventListener("click", function () {
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
          return { row: row, key: value(row.cells[column]), index: index };
        });
        rows.sort(function (a, b) {
          var order = compare(a.key, b.key, numeric);
          if (order !== 0 && a.key !== "" && b.key !== "" && !ascending) { order = -order; }
          return order || a.index - b.index;
        });
        rows.forEach(function (entry) { body.appendChild(entry.row); });
      });
    });
  });
})();
