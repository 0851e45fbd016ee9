// postdesk: the one script. On "Send new message" it ticks the chosen
// category's preset receivers, so the extra round trip of the
// "Use the category's receivers" button is not needed.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var cat = document.getElementById("category");
  var box = document.getElementById("receivers");
  if (!cat || !box) return;
  document.querySelectorAll(".nojs").forEach(function (el) { el.hidden = true; });
  cat.addEventListener("change", function () {
    var opt = cat.options[cat.selectedIndex];
    var want = (opt && opt.dataset.roles || "").split(" ");
    box.querySelectorAll("input[name=roles]").forEach(function (cb) {
      cb.checked = want.indexOf(cb.value) >= 0;
    });
  });
});
