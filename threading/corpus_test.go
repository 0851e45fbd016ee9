package threading

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postdesk/ingest/mailparse"
)

// corpusDir holds real-world mails (NAME.eml) with their expected parse
// (NAME.json); "kind" is the classification threading must reach.
const corpusDir = "../ingest/mailparse/testdata/corpus"

// TestCorpus parses each corpus mail and checks Classify and Decide against its
// kind. The reply tokens in the corpus are placeholders signed by no one, so a
// staff mail is checked twice: as it is (the placeholder must not verify, no
// staff power) and with its plus-address re-signed by the test signer for a
// user who is staff of the conversation.
func TestCorpus(t *testing.T) {
	emls, _ := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if len(emls) == 0 {
		t.Skip("no corpus at " + corpusDir)
	}
	s := testSigner(t)
	for _, path := range emls {
		name := strings.TrimSuffix(filepath.Base(path), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			js, err := os.ReadFile(strings.TrimSuffix(path, ".eml") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var want struct {
				Kind Kind `json:"kind"`
			}
			if err := json.Unmarshal(js, &want); err != nil {
				t.Fatal(err)
			}
			m := mailparse.Parse(raw, nil)

			wantClass := want.Kind
			if wantClass == KindStaff {
				wantClass = KindCustomer // only Decide, with a token, makes staff
			}
			if got := Classify(m, testOwn); got != wantClass {
				t.Errorf("Classify = %q, want %q", got, wantClass)
			}

			// The world this mail answers: conversation 1, number from the
			// subject tag, holding our Message-IDs it refers to, with the
			// sender as participant (and staff, for a staff mail).
			const conv = 1
			sender := m.From.Email
			idx := &memIndex{
				messages:     map[string]int64{},
				numbers:      map[int64]int64{},
				participants: map[int64][]string{conv: {sender}},
				staff:        map[int64][]string{},
				users:        map[int64]string{1: sender},
			}
			known := false
			for _, id := range append(append([]string{}, m.InReplyTo...), m.References...) {
				if isOwnID(id, testOwn) {
					idx.messages[id], known = conv, true
				}
			}
			if m.Report != nil && isOwnID(m.Report.OriginalMessageID, testOwn) {
				idx.messages[m.Report.OriginalMessageID], known = conv, true
			}
			if n, ok := Tag(m.Subject); ok {
				idx.numbers[n], known = conv, true
			}
			if want.Kind == KindStaff {
				idx.staff[conv] = []string{sender}
			}
			var rcpts []string
			for _, a := range append(append([]mailparse.Address{}, m.To...), m.Cc...) {
				rcpts = append(rcpts, a.Email)
			}
			rcpts = append(rcpts, m.DeliveredTo...)

			d, err := Decide(m, rcpts, s, idx, testOwn)
			if err != nil {
				t.Fatal(err)
			}
			if d.Staff || d.Token != nil {
				t.Errorf("placeholder token gave %+v", d)
			}
			if want.Kind != KindLoop && known && d.Conversation != conv {
				t.Errorf("Decide = %+v, want conversation %d", d, conv)
			}

			if want.Kind == KindStaff {
				resigned := make([]string, len(rcpts))
				for i, r := range rcpts {
					base, tag := SplitPlus(r)
					resigned[i] = r
					if tag != "" {
						resigned[i], err = PlusAddress(base, s.Sign(Token{conv, 1}))
						if err != nil {
							t.Fatal(err)
						}
					}
				}
				d, err := Decide(m, resigned, s, idx, testOwn)
				if err != nil {
					t.Fatal(err)
				}
				if d.Kind != KindStaff || !d.Staff || d.By != ByToken || d.Conversation != conv {
					t.Errorf("with a valid token: Decide = %+v, want staff in conversation %d", d, conv)
				}
			} else if d.Kind != want.Kind {
				t.Errorf("Decide kind = %q, want %q", d.Kind, want.Kind)
			}

			// The same mail from a stranger gets in nowhere, except a bounce
			// of our own mail.
			stranger := *m
			stranger.From = mailparse.Address{Email: "mallory@evil.example"}
			d, err = Decide(&stranger, rcpts, s, idx, testOwn)
			if err != nil {
				t.Fatal(err)
			}
			if d.Conversation != 0 && d.Kind != KindBounce {
				t.Errorf("stranger with this mail's headers: Decide = %+v", d)
			}
		})
	}
}
