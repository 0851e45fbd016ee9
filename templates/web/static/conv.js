// postdesk: conv.js, the conversation page's small helpers. The page works
// without it; with it, long messages fold and the Print link prints.
"use strict";
(function () {
  function setup(root) {
    root.querySelectorAll(".body.long").forEach(function (body) {
      var more = body.parentElement.querySelector("button.more");
      if (!more || more.dataset.ready) { return; }
      more.dataset.ready = "1";
      body.classList.add("folded");
      more.hidden = false;
      more.setAttribute("aria-expanded", "false");
      more.addEventListener("click", function () {
        var folded = body.classList.toggle("folded");
        more.textContent = folded ? more.dataset.more : more.dataset.less;
        more.setAttribute("aria-expanded", folded ? "false" : "true");
      });
    });
    root.querySelectorAll("[data-print]").forEach(function (a) {
      if (a.dataset.ready) { return; }
      a.dataset.ready = "1";
      a.addEventListener("click", function (e) {
        e.preventDefault();
        // Printing shows every quoted part: what is folded on screen is
        // still part of the record on paper.
        document.querySelectorAll("details.quoted").forEach(function (d) { d.open = true; });
        window.print();
      });
    });
  }
  function start() { setup(document); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  // live.js replaces the conversation in place; fold what it brings.
  document.addEventListener("postdesk:updated", start);
})();
