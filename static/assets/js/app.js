// Small behaviours that make pages quicker to use; every page works
// without them.

// A checkbox with data-select-all="NAME" checks or clears every checkbox
// named NAME in its form, and follows them: checked when all are.
document.addEventListener("change", function (e) {
  var t = e.target;
  if (!(t instanceof HTMLInputElement) || t.type !== "checkbox" || !t.form) {
    return;
  }
  var all = t.form.querySelector("input[data-select-all]");
  if (!all) {
    return;
  }
  var boxes = t.form.querySelectorAll('input[type="checkbox"][name="' + all.dataset.selectAll + '"]');
  if (t === all) {
    boxes.forEach(function (b) { b.checked = all.checked; });
    return;
  }
  var checked = 0;
  boxes.forEach(function (b) { if (b.checked) { checked++; } });
  all.checked = checked === boxes.length;
  all.indeterminate = checked > 0 && checked < boxes.length;
});

// The select-all box is shown only where this script runs.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-select-all]").forEach(function (b) { b.hidden = false; });
});
