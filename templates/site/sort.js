// Sort a table.sortable by the clicked column: numbers numerically, text alphabetically, empty
// cells last; a second click reverses. A cell's data-key, when present, is what is compared.
(function () {
  "use strict";
  function key(row, col) {
    var cell = row.cells[col];
    if (!cell) { return ""; }
    return cell.hasAttribute("data-key") ? cell.getAttribute("data-key") : cell.textContent.trim();
  }
  function compare(a, b) {
    if (a === "" || b === "") { return (a === "") - (b === ""); }
    var x = Number(a), y = Number(b);
    if (!isNaN(x) && !isNaN(y)) { return x - y; }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () {
        var down = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", down ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var ka = key(r, col), kb = key(s, col);
          if (ka === "" || kb === "") { return compare(ka, kb); }
          return down ? compare(kb, ka) : compare(ka, kb);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
}());
