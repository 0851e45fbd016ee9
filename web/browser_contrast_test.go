package web_test

import (
	"fmt"
	"strings"
	"testing"
)

// contrastScript lists the texts of the page whose colour against their
// background is below WCAG 2.1 AA: 4.5:1, or 3:1 for large text (24 px, or
// 18.66 px bold). The background is the first opaque one up the tree;
// hidden elements are skipped.
const contrastScript = `(function () {
  function rgb(s) { var m = s.match(/[\d.]+/g) || []; return { r: +m[0], g: +m[1], b: +m[2], a: m.length > 3 ? +m[3] : 1 }; }
  function lum(c) {
    var f = function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function bg(el) {
    for (; el; el = el.parentElement) {
      var c = rgb(getComputedStyle(el).backgroundColor);
      if (c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  }
  var bad = [];
  document.querySelectorAll("body *").forEach(function (el) {
    var own = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
    if (!own) return;
    var st = getComputedStyle(el);
    if (st.visibility === "hidden" || el.getClientRects().length === 0 || el.closest("[hidden], .sr")) return;
    var fg = rgb(st.color), b = bg(el);
    var l1 = lum(fg), l2 = lum(b);
    var ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    var size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    var need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName.toLowerCase() + "." + el.className + " \"" + el.textContent.trim().slice(0, 40) + "\" " + ratio.toFixed(2) + " < " + need);
  });
  return bad.join("\n");
})()`

// Every text of the inbox, a conversation and the new-message form meets
// WCAG AA contrast, on a desktop and on a phone, in Finnish.
func TestBrowserContrast(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	c := f.open("cara.customer@acme.example", "payroll", "Lomakorvaus puuttuu")
	dir := artifacts(t)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1366, 900, false}, {"phone", 390, 844, true}} {
		p := newPage(t, f, dir, size.width, size.height, size.mobile)
		p.open("/lang?to=fi&back=/login")
		p.login("aino.handler@example.com")
		// The check sees a pale text when there is one.
		probe := eval[string](p, `(function(){ var e = document.createElement("p"); e.textContent = "vaalea teksti";
			e.style.color = "#bbbbbb"; e.style.background = "#ffffff"; document.querySelector("main").appendChild(e);
			var r = `+contrastScript+`; e.remove(); return r; })()`)
		if !strings.Contains(probe, "vaalea teksti") {
			t.Fatalf("the contrast check misses a pale text: %q", probe)
		}
		for _, path := range []string{"/", fmt.Sprintf("/conversations/%d", c.ID), "/new", "/?view=solved"} {
			p.open(path)
			if bad := eval[string](p, contrastScript); bad != "" {
				t.Errorf("%s %s: text below WCAG AA contrast:\n%s", size.name, path, bad)
			}
		}
		if size.mobile {
			p.open("/")
			eval[bool](p, "(function(){ var b = document.querySelector('.menu-button:not([hidden])') || document.querySelector('.menu-label'); b.click(); return true; })()")
			p.waitFor("the menu opens", "getComputedStyle(document.querySelector('.panel-body')).display !== 'none'")
			if bad := eval[string](p, contrastScript); bad != "" {
				t.Errorf("phone menu: text below WCAG AA contrast:\n%s", strings.TrimSpace(bad))
			}
		}
	}
}
