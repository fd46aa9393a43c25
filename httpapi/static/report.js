// Progressive enhancement only: the report reads the same without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.documentElement.setAttribute("data-report-js", "ran");
  document.addEventListener("DOMContentLoaded", function () {
    var quick = document.getElementById("quick");
    var table = document.getElementById("offenders");
    if (!quick || !table) {
      return;
    }
    quick.addEventListener("input", function () {
      var needle = quick.value.toLowerCase();
      var rows = table.tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) {
        rows[i].hidden = needle !== "" && rows[i].textContent.toLowerCase().indexOf(needle) < 0;
      }
    });
  });
})();
