// Package privacy answers one person's data-subject requests (GDPR
// Articles 15 and 17): Export writes everything postdesk holds about them
// into one zip file, and Erase deletes or anonymises it (store.Erase).
//
// Which conversations are about a person is one rule, store's personIn: the
// person is the customer or customer assignee, a participant, the sender,
// author or a recipient of a message, or a recipient in the outbox. Export
// and Erase both use it, so what is erased is what an export shows.
//
// An export holds, per conversation, every message as an .eml file (the
// raw source as received for inbound mail, a message built from the stored
// text otherwise; in a conversation that is not the person's own, as
// customer, only the mail they sent or received), every attachment byte for
// byte, and in index.json the
// conversation's facts, its messages and the audit entries about it; a
// README in the person's language explains the files. Internal notes and
// delivery reports (staff-only) are left out unless WithNotes.
//
// The export reads the database conversation by conversation on the pool
// and writes as it goes: no transaction is held while the zip is written to
// a file or, from the web, to the network.
package privacy

import (
	"archive/zip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-message/mail"

	"postdesk/store"
)

// ExportOptions are the choices of one export.
type ExportOptions struct {
	// WithNotes includes internal notes and delivery reports, which are
	// the staff's and not always owed to the person.
	WithNotes bool
	// Actor is who asked, for the audit record ("cli", a user's email).
	Actor string
	Now   time.Time
}

// ExportReport counts what an export holds.
type ExportReport struct {
	Conversations, Messages, Attachments int
	Bytes                                int64
}

// index.json's shape.
type (
	indexFile struct {
		Person        string              `json:"person"`
		Name          string              `json:"name,omitempty"`
		ExportedAt    time.Time           `json:"exported_at"`
		WithNotes     bool                `json:"with_notes"`
		Conversations []indexConversation `json:"conversations"`
		OwnActions    []indexAudit        `json:"own_actions"`
	}
	indexConversation struct {
		Number    int64          `json:"number"`
		Subject   string         `json:"subject"`
		Category  string         `json:"category"`
		Status    string         `json:"status"`
		As        []string       `json:"as"`
		LegalHold bool           `json:"legal_hold"`
		CreatedAt time.Time      `json:"created_at"`
		UpdatedAt time.Time      `json:"updated_at"`
		SolvedAt  *time.Time     `json:"solved_at,omitempty"`
		Messages  []indexMessage `json:"messages"`
		Audit     []indexAudit   `json:"audit"`
	}
	indexMessage struct {
		Kind        string            `json:"kind"`
		From        string            `json:"from,omitempty"`
		To          []string          `json:"to,omitempty"`
		Cc          []string          `json:"cc,omitempty"`
		Subject     string            `json:"subject,omitempty"`
		At          time.Time         `json:"at"`
		Event       string            `json:"event,omitempty"`
		File        string            `json:"file,omitempty"`
		Attachments []indexAttachment `json:"attachments,omitempty"`
	}
	indexAttachment struct {
		Filename    string `json:"filename"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
		SHA256      string `json:"sha256"`
		File        string `json:"file"`
	}
	indexAudit struct {
		At           time.Time `json:"at"`
		Action       string    `json:"action"`
		By           string    `json:"by"`
		Conversation int64     `json:"conversation,omitempty"`
	}
)

// Export writes the zip of everything about the person with address email
// to w and records the export in the audit trail (counts, never content).
// A person postdesk knows nothing about gets a zip with an empty index.
func Export(ctx context.Context, st *store.Store, email string, opts ExportOptions, w io.Writer) (*ExportReport, error) {
	addr := strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(addr, "@") || opts.Actor == "" {
		return nil, fmt.Errorf("export: want an address and an actor: %w", store.ErrInvalidInput)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	convs, user, err := st.PersonConversations(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	cats, err := st.Categories(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	catName := map[int64]string{}
	for _, c := range cats {
		catName[c.ID] = c.Name
	}
	z := zip.NewWriter(w)
	rep := &ExportReport{}
	idx := indexFile{Person: addr, ExportedAt: opts.Now.UTC(), WithNotes: opts.WithNotes, Conversations: []indexConversation{}, OwnActions: []indexAudit{}}
	lang := "en"
	if user != nil {
		idx.Name, lang = user.Name, user.Language
	}
	var uid *int64
	if user != nil {
		uid = &user.ID
	}
	numbers := map[int64]int64{}
	for _, pc := range convs {
		numbers[pc.ID] = pc.Number
	}
	for _, pc := range convs {
		ic, err := exportConversation(ctx, st, z, pc, catName[pc.CategoryID], addr, uid, opts, rep, numbers)
		if err != nil {
			return nil, fmt.Errorf("export #%d: %w", pc.Number, err)
		}
		idx.Conversations = append(idx.Conversations, ic)
		rep.Conversations++
	}
	if user != nil {
		own, err := st.AuditByActor(ctx, user.ID)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		idx.OwnActions = auditEntries(own, numbers)
	}
	if err := writeJSON(z, "index.json", idx); err != nil {
		return nil, err
	}
	if err := writeFile(z, "README.txt", []byte(readme(lang, addr, opts.Now, rep, opts.WithNotes))); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	detail := map[string]any{"conversations": rep.Conversations, "messages": rep.Messages, "attachments": rep.Attachments,
		"bytes": rep.Bytes, "with_notes": opts.WithNotes}
	if err := st.Audit(context.WithoutCancel(ctx), nil, opts.Actor, "export", nil, detail); err != nil {
		return rep, fmt.Errorf("export: %w", err)
	}
	return rep, nil
}

// involves reports whether the person sent, wrote or received m.
func involves(m store.Message, addr string, uid *int64) bool {
	if m.FromAddr == addr || slices.Contains(m.To, addr) || slices.Contains(m.Cc, addr) {
		return true
	}
	return uid != nil && m.AuthorID != nil && *m.AuthorID == *uid
}

func exportConversation(ctx context.Context, st *store.Store, z *zip.Writer, pc store.PersonConversation, category string,
	addr string, uid *int64, opts ExportOptions, rep *ExportReport, numbers map[int64]int64) (indexConversation, error) {
	c := pc.Conversation
	ic := indexConversation{Number: c.Number, Subject: c.Subject, Category: category, Status: c.Status, As: pc.As,
		LegalHold: c.LegalHold, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), Messages: []indexMessage{}}
	if c.SolvedAt != nil {
		t := c.SolvedAt.UTC()
		ic.SolvedAt = &t
	}
	msgs, err := st.Messages(ctx, c.ID, opts.WithNotes)
	if err != nil {
		return ic, err
	}
	// In their own conversations (as customer) the person gets everything
	// they may see; in the others only the mail they sent or received: the
	// rest is other people's.
	own := slices.Contains(pc.As, "customer")
	dir := "conversations/" + strconv.FormatInt(c.Number, 10) + "/"
	for i, m := range msgs {
		if !own && !involves(m, addr, uid) {
			continue
		}
		im := indexMessage{Kind: m.Kind, From: m.FromAddr, To: m.To, Cc: m.Cc, Subject: m.Subject, At: m.CreatedAt.UTC(), Event: m.Event}
		seq := fmt.Sprintf("%03d", i+1)
		if m.Kind != store.KindEvent {
			im.File = dir + seq + "-" + m.Kind + ".eml"
			raw, err := emlOf(ctx, st, m)
			if err != nil {
				return ic, err
			}
			if err := writeFile(z, im.File, raw); err != nil {
				return ic, err
			}
			rep.Messages++
			rep.Bytes += int64(len(raw))
		}
		for j, a := range m.Attachments {
			data, err := st.Blob(ctx, a.SHA256)
			if err != nil {
				return ic, fmt.Errorf("attachment %s: %w", a.ID, err)
			}
			ia := indexAttachment{Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, SHA256: hex.EncodeToString(a.SHA256),
				File: dir + "attachments/" + seq + "-" + strconv.Itoa(j+1) + "-" + safeName(a.Filename)}
			if err := writeFile(z, ia.File, data); err != nil {
				return ic, err
			}
			im.Attachments = append(im.Attachments, ia)
			rep.Attachments++
			rep.Bytes += int64(len(data))
		}
		ic.Messages = append(ic.Messages, im)
	}
	trail, err := st.AuditTrail(ctx, c.ID)
	if err != nil {
		return ic, err
	}
	ic.Audit = auditEntries(trail, numbers)
	return ic, nil
}

// emlOf is a message as a mail file: the raw source for mail received, a
// message built from what is stored for the rest (web posts, answers).
func emlOf(ctx context.Context, st *store.Store, m store.Message) ([]byte, error) {
	if len(m.RawSHA256) > 0 {
		raw, err := st.Blob(ctx, m.RawSHA256)
		if err == nil {
			return raw, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	var h mail.Header
	h.SetDate(m.CreatedAt)
	h.SetSubject(m.Subject)
	if m.FromAddr != "" {
		h.SetAddressList("From", []*mail.Address{{Name: m.FromName, Address: m.FromAddr}})
	}
	h.SetAddressList("To", addresses(m.To))
	if len(m.Cc) > 0 {
		h.SetAddressList("Cc", addresses(m.Cc))
	}
	if m.MessageID != "" {
		h.SetMessageID(strings.Trim(m.MessageID, "<>"))
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var b strings.Builder
	wc, err := mail.CreateSingleInlineWriter(&b, h)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(wc, m.Text); err != nil {
		return nil, err
	}
	if err := wc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func addresses(as []string) []*mail.Address {
	out := make([]*mail.Address, 0, len(as))
	for _, a := range as {
		out = append(out, &mail.Address{Address: a})
	}
	return out
}

func auditEntries(es []store.AuditEntry, numbers map[int64]int64) []indexAudit {
	out := make([]indexAudit, 0, len(es))
	for _, e := range es {
		ia := indexAudit{At: e.At.UTC(), Action: e.Action, By: e.Actor}
		if e.ConversationID != nil {
			ia.Conversation = numbers[*e.ConversationID]
		}
		out = append(out, ia)
	}
	return out
}

// safeName keeps a file name inside its folder and readable everywhere.
func safeName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		name = "file"
	}
	return name
}

func writeFile(z *zip.Writer, name string, data []byte) error {
	f, err := z.Create(name)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	return nil
}

func writeJSON(z *zip.Writer, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	return writeFile(z, name, b)
}

// ErrConfigured refuses to erase a user the config file lists: serve would
// create them again at its next start, with the old address.
var ErrConfigured = errors.New("a user of the config file: remove them from users (and restart serve) first")

// Erase deletes or anonymises everything about the person (store.Erase).
func Erase(ctx context.Context, st *store.Store, req store.EraseRequest) (*store.EraseReport, error) {
	u, err := st.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(req.Email)))
	if err == nil && u.FromConfig {
		return nil, fmt.Errorf("erase %s: %w", u.Email, ErrConfigured)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("erase: %w", err)
	}
	return st.Erase(ctx, req)
}
