// postdesk: live.js. The control panel's menu button on a phone, the
// keyboard shortcuts, and live updates: the page listens to /events
// (Server-Sent Events) and, when a conversation it may show changes,
// fetches itself again and swaps in the list, the panel's counts or the
// thread, keeping scroll and focus. Every text it shows comes from the
// page (the server's catalogue), none is written here.
"use strict";
(function () {
  var convPath = /^\/conversations\/(\d+)$/;

  function conversationId() {
    var el = document.querySelector("[data-conversation-id]");
    if (el) return el.getAttribute("data-conversation-id");
    var m = convPath.exec(location.pathname);
    return m ? m[1] : "";
  }

  function csrf() {
    // The session's token, as the sign-out form in the panel carries it.
    var m = document.querySelector("form.who input[name=csrf]");
    return m ? m.value : "";
  }

  // The menu: without script a checkbox opens it; with script a button
  // that says whether it is open.
  function menu() {
    var panel = document.querySelector(".panel");
    var button = document.querySelector(".menu-button");
    var box = document.getElementById("menu-toggle");
    if (!panel || !button || !box) return;
    box.hidden = true;
    var label = document.querySelector(".menu-label");
    if (label) label.hidden = true;
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      panel.classList.toggle("open", open);
    });
  }

  // Shortcuts, never while typing in a field or with a modifier held.
  function typingInField(e) {
    var t = e.target;
    if (!t || !t.tagName) return false;
    var tag = t.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || t.isContentEditable;
  }

  function listLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("#live-list .convs a[href^='/conversations/']"));
  }

  // The list a conversation was opened from, for j and k on its page.
  function rememberList() {
    var links = listLinks();
    if (!links.length) return;
    try {
      sessionStorage.setItem("postdesk.list", JSON.stringify(links.map(function (a) { return a.getAttribute("href"); })));
    } catch (e) { /* storage off: j and k work in the list only */ }
  }

  function step(by) {
    var links = listLinks();
    if (links.length) {
      var i = links.indexOf(document.activeElement);
      var next = i < 0 ? (by > 0 ? 0 : links.length - 1) : Math.min(Math.max(i + by, 0), links.length - 1);
      links[next].focus();
      return;
    }
    if (!convPath.test(location.pathname)) return;
    var list;
    try { list = JSON.parse(sessionStorage.getItem("postdesk.list") || "[]"); } catch (e) { list = []; }
    var here = list.indexOf(location.pathname);
    if (here >= 0 && list[here + by]) location.href = list[here + by];
  }

  function focusForm(action) {
    var ta = document.querySelector("form[action$='/" + action + "'] textarea");
    if (!ta) return false;
    var d = ta.closest("details");
    if (d) d.open = true;
    ta.focus();
    return true;
  }

  var dialog, opener;
  function showShortcuts() {
    dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    opener = document.activeElement;
    dialog.hidden = false;
    var close = dialog.querySelector(".shortcuts-close");
    if (close) close.focus();
  }
  function hideShortcuts() {
    if (!dialog || dialog.hidden) return;
    dialog.hidden = true;
    if (opener && opener.focus) opener.focus();
  }

  function shortcuts() {
    var open = document.querySelector(".shortcuts-open");
    if (open) {
      open.hidden = false;
      open.addEventListener("click", showShortcuts);
    }
    var close = document.querySelector(".shortcuts-close");
    if (close) close.addEventListener("click", hideShortcuts);
    if (location.hash === "#search") {
      var s = document.getElementById("search");
      if (s) s.focus();
    }
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { hideShortcuts(); return; }
      if (e.ctrlKey || e.metaKey || e.altKey || typingInField(e)) return;
      if (dialog && !dialog.hidden) return;
      switch (e.key) {
      case "r": if (focusForm("reply")) e.preventDefault(); break;
      case "n": if (focusForm("note")) e.preventDefault(); break;
      case "j": step(1); e.preventDefault(); break;
      case "k": step(-1); e.preventDefault(); break;
      case "/":
        e.preventDefault();
        var s = document.getElementById("search");
        if (s) s.focus(); else location.href = "/#search";
        break;
      case "?": e.preventDefault(); showShortcuts(); break;
      }
    });
  }

  // Live updates. A change refreshes this page when it lists
  // conversations or shows the one that changed; elsewhere only the
  // panel's counts, from the inbox, which logs no reading.
  var busy = false, wantSelf = false, wantPanel = false;

  // The first change is fetched at once; what comes while a fetch is under
  // way is fetched once after it.
  function refresh() {
    if (busy || !(wantSelf || wantPanel)) return;
    var self = wantSelf, url = self ? location.href : "/";
    wantSelf = wantPanel = false;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "X-Postdesk-Live": "1" } }).then(function (res) {
      if (!res.ok || res.redirected) throw new Error("refresh: " + res.status);
      return res.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      swap(doc, "#panel-views");
      if (self) {
        swap(doc, "#live-list");
        var cur = document.querySelector("[data-conversation-id] .timeline") || document.querySelector(".timeline");
        var fresh = doc.querySelector("[data-conversation-id] .timeline") || doc.querySelector(".timeline");
        if (cur && fresh) {
          replaceKeepingFocus(cur, fresh);
          hideTyping(); // the reply being written has most likely landed
          // The status and the side panel follow the thread (a Handler
          // taken, a status moved), unless the user is working in the
          // panel: what they are choosing there is not swapped away.
          swap(doc, "[data-conversation-id] .conv-head");
          var side = document.querySelector("[data-conversation-id] aside.side");
          if (side && !side.contains(document.activeElement) && !side.querySelector("details[open]")) {
            swap(doc, "[data-conversation-id] aside.side");
          }
        }
        rememberList();
      }
      document.documentElement.setAttribute("data-live-refreshed", String(Date.now()));
      document.dispatchEvent(new CustomEvent("postdesk:refreshed"));
    }).catch(function () { /* the next change, or a reload, tries again */ }).then(function () {
      busy = false;
      refresh();
    });
  }

  function schedule(self) {
    if (self) wantSelf = true; else wantPanel = true;
    refresh();
  }

  function swap(doc, sel) {
    var cur = document.querySelector(sel), fresh = doc.querySelector(sel);
    if (cur && fresh) replaceKeepingFocus(cur, fresh);
  }

  // The element that had focus is found again by its address or id.
  function replaceKeepingFocus(cur, fresh) {
    var a = document.activeElement, key = null;
    if (a && cur.contains(a)) key = a.getAttribute("href") || (a.id && "#" + a.id);
    var y = window.scrollY;
    cur.replaceWith(document.adoptNode(fresh));
    if (key) {
      var again = key.charAt(0) === "#" ? fresh.querySelector(key) : fresh.querySelector("[href='" + key.replace(/'/g, "\\'") + "']");
      if (again) again.focus({ preventScroll: true });
    }
    window.scrollTo(0, y);
  }

  var typingTimer = null;
  function hideTyping() {
    var el = document.getElementById("typing");
    if (!el) return;
    clearTimeout(typingTimer);
    el.hidden = true;
    el.textContent = "";
  }
  function showTyping(name) {
    var el = document.getElementById("typing");
    if (!el) return;
    el.textContent = (el.getAttribute("data-text") || "").replace("{name}", name);
    el.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 6000);
  }

  function live() {
    var url = document.body.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var conv = conversationId();
    var es = new EventSource(conv ? url + "?c=" + encodeURIComponent(conv) : url);
    var onList = !!document.getElementById("live-list");
    es.addEventListener("conversation", function (e) {
      schedule(onList || e.data === conv);
    });
    es.addEventListener("changed", function () { schedule(true); });
    es.addEventListener("typing", function (e) {
      try {
        var t = JSON.parse(e.data);
        if (String(t.conversation) === conv) showTyping(t.name);
      } catch (err) { /* not ours */ }
    });
    window.addEventListener("pagehide", function () { es.close(); });
    document.documentElement.setAttribute("data-live-ready", "1");
    es.addEventListener("open", function () { document.documentElement.setAttribute("data-live-open", "1"); });

    if (!conv) return;
    var last = 0;
    document.addEventListener("input", function (e) {
      var f = e.target && e.target.form;
      if (!f || e.target.tagName.toLowerCase() !== "textarea") return;
      var action = f.getAttribute("action") || "";
      if (!/\/(reply|note)$/.test(action)) return;
      var now = Date.now();
      if (now - last < 3000) return;
      last = now;
      var body = new URLSearchParams();
      body.set("csrf", csrf());
      fetch("/conversations/" + conv + "/typing", { method: "POST", credentials: "same-origin", body: body });
    });
  }

  function start() {
    menu();
    shortcuts();
    rememberList();
    live();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
