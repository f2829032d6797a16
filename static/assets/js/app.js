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

// The menu button folds the navigation away on small screens: shown only
// where this script runs, so that without it the navigation stays open.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector(".menu-toggle");
  var menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!menu) {
    return;
  }
  var bar = button.closest(".topbar");
  bar.classList.add("folding");
  button.hidden = false;
  var set = function (open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("open", open);
  };
  button.addEventListener("click", function () {
    set(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      set(false);
      button.focus();
    }
  });
});

// On small screens a results table shows each row as a card; each cell is
// labelled with its column's heading, copied here from the table's head.
function labelCells(root) {
  root.querySelectorAll("table.results").forEach(function (table) {
    var heads = Array.from(table.querySelectorAll("thead th"), function (th) { return th.textContent.trim(); });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      Array.from(tr.children).forEach(function (cell, i) {
        if (heads[i] && !cell.hasAttribute("data-label")) {
          cell.setAttribute("data-label", heads[i]);
        }
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", function () { labelCells(document); });
document.addEventListener("htmx:afterSwap", function (e) { labelCells(e.target); });

// A fold (details with data-fold-below="WIDTH") is open on screens wider
// than WIDTH px and folded on narrower ones, also when the window changes
// width (a tablet turned, a window narrowed): the administration menu, a
// sidebar on wide screens, and a list's filters. Folded on a wide screen,
// it would be gone, as its summary is hidden there. data-keep-open keeps
// it open on small screens too (filters in use).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("details[data-fold-below]").forEach(function (d) {
    var narrow = window.matchMedia("(max-width: " + d.dataset.foldBelow + "px)");
    var fold = function () { d.open = !narrow.matches || d.hasAttribute("data-keep-open"); };
    fold();
    narrow.addEventListener("change", fold);
  });
});

// The org chart's "Expand all" and "Collapse all", and every branch open
// when it is printed.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-org-toggle]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var open = b.dataset.orgToggle === "open";
      document.querySelectorAll(".orgchart details").forEach(function (d) { d.open = open; });
    });
  });
});
window.addEventListener("beforeprint", function () {
  document.querySelectorAll(".orgchart details").forEach(function (d) { d.open = true; });
});

// On a person's first visit their browser's time zone is stored (the page
// says which person has none yet), so that every later page shows times in
// it; it never replaces a zone the person chose.
document.addEventListener("DOMContentLoaded", function () {
  if (!document.body.hasAttribute("data-learn-time-zone") || !window.Intl || !window.fetch) {
    return;
  }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  if (!zone || !headers["X-CSRF-Token"]) {
    return;
  }
  headers["Content-Type"] = "application/x-www-form-urlencoded";
  fetch("/settings/time-zone", {
    method: "POST", credentials: "same-origin", headers: headers,
    body: new URLSearchParams({ time_zone: zone, learned: "1" }).toString(),
  }).then(function (r) {
    if (r.ok) {
      document.body.removeAttribute("data-learn-time-zone");
      document.body.setAttribute("data-time-zone-learned", zone);
    }
  });
});
