package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"postdesk/conversation"
	"postdesk/store"
)

// dropJS drops files made in the page onto the composer, as a drag from
// the desktop would: a DataTransfer in a real drop event.
func dropJS(files ...string) string {
	return `(function(){ var dt = new DataTransfer(); ` + strings.Join(files, " ") + `
	  var box = document.querySelector('.composer');
	  box.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
	  box.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); })()`
}

// pngJS adds a small PNG drawn on a canvas to the DataTransfer dt, named as
// a pasted screenshot is ("image.png").
const pngJS = `var cv = document.createElement('canvas'); cv.width = 40; cv.height = 30;
	  var g = cv.getContext('2d'); g.fillStyle = '#1f5fbf'; g.fillRect(0, 0, 40, 30); g.fillStyle = '#fff'; g.fillRect(8, 8, 24, 14);
	  var b = atob(cv.toDataURL('image/png').split(',')[1]); var u = new Uint8Array(b.length);
	  for (var i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);
	  dt.items.add(new File([u], 'image.png', {type: 'image/png'}));`

func (p *page) fileNames() string {
	return eval[string](p, `Array.from(document.querySelectorAll('.file-list .name')).map(function(e){ return e.textContent; }).join('|')`)
}

// The composer in Finnish, at desktop and phone widths: the paper clip
// instead of the native button, a file dropped and a screenshot pasted
// (with its preview), one removed, a 30 MB file refused in the page before
// any request, a canned answer inserted with its placeholders filled above
// the pre-filled signature, and the message sent with what was chosen.
func TestBrowserCompose(t *testing.T) {
	f := setupOrg(t, cannedOrg)
	f.setPassword("aino.handler@example.com")
	f.setPassword("lea.lead@example.com")
	lea, aino := f.actor("lea.lead@example.com"), f.actor("aino.handler@example.com")
	roles, err := f.st.RolesByKeys(f.ctx, []string{"payroll-team"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SaveCanned(f.ctx, lea, &store.CannedAnswer{RoleID: roles[0].ID, Language: "fi", Title: "Kiitos yhteydenotosta",
		Body: "Kiitos viestistäsi. Selvitämme asian, terveisin {my.name}."}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetRoleSignature(f.ctx, lea, roles[0].ID, "fi", "Palkkatiimi, Esimerkki Oy"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetMySignature(f.ctx, aino, "fi", "Aino Handler"); err != nil {
		t.Fatal(err)
	}
	dir := artifacts(t)
	big := filepath.Join(t.TempDir(), "palkka-arkisto.zip")
	if err := os.WriteFile(big, make([]byte, 30<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	p := newPage(t, f, dir, 1366, 900, false)
	p.login("aino.handler@example.com")
	p.open("/lang?to=fi&back=/new")
	p.waitFor("the composer's script", "!document.querySelector('.clip').hidden")
	if !eval[bool](p, `document.querySelector('input[type=file]').classList.contains('visually-hidden') &&
		document.documentElement.lang === 'fi'`) {
		t.Fatal("the native file button is still shown beside the paper clip")
	}
	p.wantText("Finnish composer", "Lähetä uusi viesti", "Liitä tiedostoja", "Yhteensä enintään 25 Mt.", "Lisää valmisvastaus")
	if got := eval[string](p, "document.querySelector('textarea[name=body]').value"); got != "\n\n-- \nAino Handler\nPalkkatiimi, Esimerkki Oy" {
		t.Fatalf("the signature is not pre-filled: %q", got)
	}
	if eval[string](p, "document.activeElement.className") == "clip" {
		t.Fatal("focus starts on the paper clip")
	}
	p.do("focus the paper clip", chromedp.Focus(chromedp.CSS(".clip")))
	p.shot("01-paper-clip")

	// Drag and drop, then a pasted screenshot with its preview.
	eval[chromedp.Void](p, dropJS(`dt.items.add(new File(['Peruspalkka 3200,00\n'], 'palkkalaskelma-lokakuu.txt', {type: 'text/plain'}));`))
	p.waitFor("the dropped file is listed", "document.querySelectorAll('.file-list li').length === 1")
	if n := eval[int](p, "document.querySelector('input[type=file]').files.length"); n != 1 {
		t.Fatalf("the input holds %d files after the drop, want 1", n)
	}
	p.shot("02-dropped")
	eval[chromedp.Void](p, `(function(){ var dt = new DataTransfer(); `+pngJS+`
	  document.querySelector('textarea[name=body]').dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true})); })()`)
	p.waitFor("the pasted image shows its preview", "document.querySelector('.file-list canvas.preview[data-drawn]')")
	// The preview is the image itself: blue, with the white box in the middle.
	if px := eval[string](p, `(function(){ var g = document.querySelector('.file-list canvas.preview').getContext('2d');
	  return Array.from(g.getImageData(48, 48, 1, 1).data.slice(0, 3)).join(',') + ' ' + Array.from(g.getImageData(2, 2, 1, 1).data.slice(0, 3)).join(','); })()`); px != "255,255,255 31,95,191" {
		t.Fatalf("the preview's pixels are %s, want the pasted image's", px)
	}
	if got := p.fileNames(); got != "palkkalaskelma-lokakuu.txt|liitetty kuva 1.png" {
		t.Fatalf("files %q", got)
	}
	if got := eval[string](p, "document.querySelector('textarea[name=body]').value"); strings.Contains(got, "image.png") {
		t.Fatalf("the paste went into the text: %q", got)
	}
	p.wantText("sizes", "20 B")
	p.shot("03-pasted-preview")
	p.do("remove the text file", chromedp.Click(chromedp.CSS(".file-list li:first-child .remove")))
	p.waitFor("one file left", "document.querySelectorAll('.file-list li').length === 1")
	if got := p.fileNames(); got != "liitetty kuva 1.png" {
		t.Fatalf("after removing: %q", got)
	}
	if eval[string](p, "document.querySelector('.file-list .remove').getAttribute('aria-label')") != "Poista liite liitetty kuva 1.png" {
		t.Fatal("the remove button has no label")
	}

	// 30 MB: refused in the page, by drop and by the file dialog, and the
	// page never sends it.
	eval[chromedp.Void](p, "window.__composeMarker = true")
	eval[chromedp.Void](p, dropJS(`dt.items.add(new File([new Uint8Array(30 * 1024 * 1024)], 'iso-liite.bin'));`))
	p.waitFor("the drop is refused", "!document.querySelector('.compose-error').hidden")
	p.wantText("too big", "iso-liite.bin on liian suuri: liitteitä saa olla yhteensä enintään 25 Mt.")
	p.do("choose 30 MB in the dialog", chromedp.SetUploadFiles(chromedp.CSS("input[type=file]"), []string{big}))
	p.waitFor("the chosen file is refused", "document.querySelector('.compose-error').textContent.indexOf('palkka-arkisto.zip') >= 0")
	if got := p.fileNames(); got != "liitetty kuva 1.png" {
		t.Fatalf("after the refusals: %q", got)
	}
	if n := eval[int](p, "document.querySelector('input[type=file]').files.length"); n != 1 {
		t.Fatalf("the input holds %d files, want the image only", n)
	}
	if !eval[bool](p, `window.__composeMarker === true && performance.getEntriesByType('resource').every(function(e){ return e.initiatorType !== 'fetch' && e.initiatorType !== 'xmlhttprequest'; })`) {
		t.Fatal("the page sent something or reloaded")
	}
	if pg, _ := f.svc.List(f.ctx, aino, conversation.Filter{}); len(pg.Conversations) != 0 {
		t.Fatalf("a conversation was opened: %+v", pg.Conversations)
	}
	p.shot("04-too-big-refused")

	// The canned answer, filled, goes in at the cursor: above the signature.
	if !eval[bool](p, "document.querySelector('.canned-pick button[name=insert]').hidden") {
		t.Fatal("the script-less Insert button is shown beside the script")
	}
	// As a keyboard user would: the pick-list focused, one step down.
	p.do("pick the canned answer", chromedp.Focus(chromedp.CSS(".canned-select")))
	eval[chromedp.Void](p, `(function(){ var s = document.querySelector('.canned-select'); s.selectedIndex = 1;
	  s.dispatchEvent(new Event('change', {bubbles: true})); })()`)
	want := "Kiitos viestistäsi. Selvitämme asian, terveisin Aino Handler.\n\n-- \nAino Handler\nPalkkatiimi, Esimerkki Oy"
	p.waitFor("the canned answer is inserted", "document.querySelector('textarea[name=body]').value === "+jsString(want))
	if eval[string](p, "document.querySelector('.canned-select').value") != "" {
		t.Fatal("the pick-list did not go back to its prompt")
	}
	p.do("subject", chromedp.SendKeys(chromedp.CSS("input[name=subject]"), "Lokakuun palkkalaskelma"))
	p.shot("05-canned-inserted")
	p.click("#new-form button.primary", "location.pathname.startsWith('/conversations/')")
	p.wantText("sent", "Lokakuun palkkalaskelma", "liitetty kuva 1.png", "Kiitos viestistäsi.")
	p.shot("06-sent")
	pg, err := f.svc.List(f.ctx, aino, conversation.Filter{})
	if err != nil || len(pg.Conversations) != 1 {
		t.Fatalf("conversations %v %v", pg, err)
	}
	v, err := f.svc.Get(f.ctx, aino, pg.Conversations[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	m := v.Messages[0]
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "liitetty kuva 1.png" || m.Attachments[0].ContentType != "image/png" {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	if txt := strings.ReplaceAll(m.Text, "\r\n", "\n"); !strings.Contains(txt, "terveisin Aino Handler.") || !strings.Contains(txt, "-- \nAino Handler\nPalkkatiimi, Esimerkki Oy") {
		t.Fatalf("text %q", m.Text)
	}

	// The signature on the settings page and the canned answers page.
	p.open("/settings")
	p.wantText("settings", "Oma allekirjoituksesi")
	p.shot("07-settings-signature")
	l := newPage(t, f, dir, 1366, 900, false)
	l.login("lea.lead@example.com")
	l.open("/lang?to=fi&back=/canned")
	l.wantText("canned page", "Valmisvastaukset", "Kiitos yhteydenotosta", "{customer.name}", "Roolin allekirjoitus")
	sel := fmt.Sprintf("#role-%d details.role-signature", roles[0].ID)
	l.do("open the role's signature", chromedp.Click(chromedp.CSS(sel+" summary")))
	if got := eval[string](l, "document.querySelector('"+sel+" textarea[name=sig-fi]').value"); got != "Palkkatiimi, Esimerkki Oy" {
		t.Fatalf("the role's Finnish signature on /canned: %q", got)
	}
	l.shot("08-canned-page")

	// On a phone.
	m2 := newPage(t, f, dir, 390, 844, true)
	m2.login("aino.handler@example.com")
	m2.open("/lang?to=fi&back=/new")
	m2.waitFor("the composer's script", "!document.querySelector('.clip').hidden")
	m2.shot("09-phone-composer")
	eval[chromedp.Void](m2, dropJS(pngJS, `dt.items.add(new File(['x'], 'hyvin-pitka-tiedostonimi-joka-ei-mahdu-puhelimen-leveyteen-2026-lokakuu.pdf', {type: 'application/pdf'}));`))
	m2.waitFor("two files listed with a preview", "document.querySelectorAll('.file-list li').length === 2 && document.querySelector('.file-list canvas.preview[data-drawn]')")
	if !eval[bool](m2, "Array.from(document.querySelectorAll('.composer, .file-list li')).every(function(e){ return e.getBoundingClientRect().right <= 390; })") {
		t.Fatal("the composer or its file list is wider than the phone")
	}
	eval[chromedp.Void](m2, dropJS(`dt.items.add(new File([new Uint8Array(30 * 1024 * 1024)], 'iso-liite.bin'));`))
	m2.waitFor("refused on the phone", "!document.querySelector('.compose-error').hidden")
	m2.shot("10-phone-files-and-refusal")
	m2.open("/canned")
	m2.wantText("no canned page for Aino", "Ei sallittu")
	m2.shot("11-phone-canned-forbidden")
}

// jsString quotes a Go string for a script.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}
