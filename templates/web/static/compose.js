// postdesk: compose.js, the composer (templates/web/compose.html). Without it
// the composer is a text area and a native file input, and works. With it:
// a paper-clip button instead of the native button, files added by drag and
// drop or by pasting (an image pasted from the clipboard becomes an
// attachment), a list of the chosen files with sizes, image previews and a
// remove button (previews drawn on a canvas, see preview), the size limit
// checked before anything is sent, and the
// canned answers inserted at the cursor.
//
// The chosen files live in the file input itself (input.files set from a
// DataTransfer), so the form posts them as it would without the script.
"use strict";
(function () {
  function setup(box) {
    var form = box.closest("form");
    var input = box.querySelector("input[type=file]");
    var text = box.querySelector("textarea");
    var list = box.querySelector(".file-list");
    var status = box.querySelector(".compose-status");
    var error = box.querySelector(".compose-error");
    var clip = box.querySelector(".clip");
    var max = parseInt(box.dataset.maxBytes, 10) || 0;
    var lang = document.documentElement.lang || "en";
    var files = [];
    var pasted = 0;
    if (!input || !form) return;

    // The paper clip stands in for the native button; the input stays in
    // the form (hidden), so that its files are posted.
    clip.hidden = false;
    input.classList.add("visually-hidden");
    input.tabIndex = -1;
    box.querySelector(".drop-hint").hidden = false;
    clip.addEventListener("click", function () { input.click(); });

    function msg(key, name) { return (box.dataset[key] || "").replace("{name}", name); }
    function fail(m) { error.textContent = m; error.hidden = !m; }
    function total(list) { return list.reduce(function (n, f) { return n + f.size; }, 0); }
    function size(n) {
      var fmt = function (v, d) { return new Intl.NumberFormat(lang, { maximumFractionDigits: d }).format(v); };
      if (n < 1000) return fmt(n, 0) + " B";
      if (n < 1e6) return fmt(n / 1e3, 0) + " kB";
      return fmt(n / 1e6, 1) + " MB";
    }

    // preview draws an image file on a canvas. Not an <img> of an object
    // URL: the pages' Content-Security-Policy allows images from the site
    // only (img-src 'self'), and decoding in the script needs no exception.
    function preview(f) {
      var cv = document.createElement("canvas");
      cv.width = cv.height = 96;
      cv.className = "preview";
      cv.setAttribute("aria-hidden", "true");
      createImageBitmap(f).then(function (bm) {
        var k = Math.max(96 / bm.width, 96 / bm.height);
        var w = bm.width * k, h = bm.height * k;
        cv.getContext("2d").drawImage(bm, (96 - w) / 2, (96 - h) / 2, w, h);
        bm.close();
        cv.dataset.drawn = "1";
      }).catch(function () { cv.remove(); });
      return cv;
    }

    // sync puts the list into the input, and draws it.
    function sync() {
      var dt = new DataTransfer();
      files.forEach(function (f) { dt.items.add(f); });
      input.files = dt.files;
      list.textContent = "";
      files.forEach(function (f, i) {
        var li = document.createElement("li");
        if (/^image\//.test(f.type) && window.createImageBitmap) li.appendChild(preview(f));
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = f.name;
        var sz = document.createElement("span");
        sz.className = "size muted";
        sz.textContent = size(f.size);
        var rm = document.createElement("button");
        rm.type = "button";
        rm.className = "quiet remove";
        rm.textContent = "×";
        rm.setAttribute("aria-label", msg("msgRemove", f.name));
        rm.addEventListener("click", function () {
          files.splice(i, 1);
          sync();
          clip.focus();
        });
        li.append(name, " ", sz, " ", rm);
        list.appendChild(li);
      });
    }

    // add takes files in while the total stays within the limit; one that
    // would pass it is refused here, before any byte is sent.
    function add(incoming) {
      var refused = [];
      var names = [];
      Array.prototype.forEach.call(incoming, function (f) {
        if (max && total(files) + f.size > max) {
          refused.push(f.name);
          return;
        }
        files.push(f);
        names.push(f.name);
      });
      fail(refused.length ? msg("msgTooBig", refused.join(", ")) : "");
      status.textContent = names.length ? msg("msgAdded", names.join(", ")) : "";
      sync();
    }

    input.addEventListener("change", function () {
      // The native dialog replaces the input's files: what was chosen
      // before is kept in files, the new ones are added to it.
      var picked = Array.prototype.slice.call(input.files).filter(function (f) { return files.indexOf(f) < 0; });
      add(picked);
    });

    box.addEventListener("dragover", function (e) {
      if (!e.dataTransfer || Array.prototype.indexOf.call(e.dataTransfer.types, "Files") < 0) return;
      e.preventDefault();
      box.classList.add("dragging");
    });
    box.addEventListener("dragleave", function (e) {
      if (!box.contains(e.relatedTarget)) box.classList.remove("dragging");
    });
    box.addEventListener("drop", function (e) {
      box.classList.remove("dragging");
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      add(e.dataTransfer.files);
    });

    // Pasting a file or a screenshot attaches it; pasted text stays text.
    text.addEventListener("paste", function (e) {
      var cd = e.clipboardData;
      if (!cd || !cd.files || !cd.files.length) return;
      e.preventDefault();
      var named = Array.prototype.map.call(cd.files, function (f) {
        if (f.name && f.name !== "image.png") return f;
        pasted++;
        var ext = (f.type.split("/")[1] || "png").replace(/[^a-z0-9]/g, "");
        return new File([f], msg("msgPasted", "") + " " + pasted + "." + ext, { type: f.type });
      });
      add(named);
    });

    form.addEventListener("submit", function (e) {
      if (max && total(files) > max) {
        e.preventDefault();
        fail(msg("msgTooBig", files.map(function (f) { return f.name; }).join(", ")));
      }
    });

    // Canned answers: the server filled the placeholders for this
    // conversation into each option (a fetch would need connect-src in the
    // Content-Security-Policy); the text goes in at the cursor, as text.
    var pick = box.querySelector(".canned-pick");
    if (pick) {
      pick.hidden = false;
      pick.querySelectorAll(".nojs").forEach(function (b) { b.hidden = true; });
      var sel = pick.querySelector("select");
      sel.addEventListener("change", function () {
        var opt = sel.options[sel.selectedIndex];
        if (!opt || !opt.value) return;
        var t = opt.dataset.text || "";
        var at = text.selectionStart || 0;
        var v = text.value;
        text.value = v.slice(0, at) + t + v.slice(text.selectionEnd || at);
        text.selectionStart = text.selectionEnd = at + t.length;
        text.focus();
        text.dispatchEvent(new Event("input", { bubbles: true }));
        sel.value = "";
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".composer").forEach(setup);
  });
})();
