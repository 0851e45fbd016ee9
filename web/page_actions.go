package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"postdesk/conversation"
	"postdesk/store"
)

// conversationAction runs one posted action of the conversation page through
// the rules, then sends the browser back to the page (post/redirect/get)
// with a message. A refused action shows the page again with its reason.
func (s *server) conversationAction(w http.ResponseWriter, r *http.Request, rq *request) {
	id, ok := pathID(r)
	if !ok {
		s.errorPage(w, r, rq, http.StatusNotFound, "")
		return
	}
	ctx, a := r.Context(), rq.actor
	form := &convForm{Reply: r.PostFormValue("body"), Note: r.PostFormValue("note"),
		Company: r.PostFormValue("company"), Person: r.PostFormValue("person"), Assignee: r.PostFormValue("assignee")}
	action := r.PathValue("action")
	var flash string
	var err error
	switch action {
	case "take":
		err, flash = s.svc.Take(ctx, a, id), msgKey("You are now the Handler.")
	case "assign":
		err, flash = s.svc.Assign(ctx, a, id, r.PostFormValue("user")), "The Handler was changed."
	case "reply":
		var files []store.NewAttachment
		if files, err = formFiles(r); err == nil {
			var m *store.Message
			m, err = s.svc.Reply(ctx, a, id, form.Reply, files)
			if err == nil && m.Kind == store.KindStaff {
				flash = msgKey("Your reply was sent to the customer.")
			} else {
				flash = msgKey("Your message was sent.")
			}
		}
	case "note":
		var files []store.NewAttachment
		if files, err = formFiles(r); err == nil {
			_, err = s.svc.Note(ctx, a, id, form.Note, files)
			flash = msgKey("The internal note was added.")
		}
	case "receivers":
		err, flash = s.svc.ChangeReceivers(ctx, a, id, r.PostForm["roles"]), msgKey("The receivers were changed.")
	case "describe":
		err = s.describe(r, rq, id, form)
		flash = msgKey("Saved.")
	case "release":
		// A held reply: only the staff member it claims to be from may
		// send it, as their own reply (conversation.ReleaseHeld decides).
		msgID, perr := strconv.ParseInt(r.PostFormValue("message"), 10, 64)
		if perr != nil || msgID <= 0 {
			s.errorPage(w, r, rq, http.StatusNotFound, "")
			return
		}
		var m *store.Message
		if m, err = s.svc.ReleaseHeld(ctx, a, msgID); err == nil {
			id, flash = m.ConversationID, msgKey("Your reply was sent to the customer.")
		}
	case "solve":
		err, flash = s.svc.Solve(ctx, a, id), msgKey("Marked Solved.")
	case "reopen":
		err, flash = s.svc.Reopen(ctx, a, id), msgKey("Reopened.")
	case "hold":
		hold := r.PostFormValue("hold") == "1"
		err, flash = s.svc.SetLegalHold(ctx, a, id, hold), msgKey("Legal hold released: the retention period applies again.")
		if hold {
			flash = msgKey("Legal hold set: this conversation is kept past its retention period.")
		}
	default:
		s.errorPage(w, r, rq, http.StatusNotFound, "")
		return
	}
	if err != nil {
		if errors.Is(err, conversation.ErrInvalid) {
			s.showConversation(w, r, rq, id, http.StatusBadRequest, action, invalidMessage(err), form)
			return
		}
		s.fail(w, r, rq, err)
		return
	}
	s.setFlash(w, r, flash)
	to := convURL(id)
	if action == "reply" || action == "note" || action == "release" {
		to += "#latest"
	}
	redirect(w, r, to)
}

// describe saves company, person and customer assignee, each only when changed.
func (s *server) describe(r *http.Request, rq *request, id int64, form *convForm) error {
	ctx := r.Context()
	v, err := s.svc.Get(ctx, rq.actor, id)
	if err != nil {
		return err
	}
	l := newLookup(ctx, s.st)
	company, person, assignee := l.company(v.Conversation.CompanyID), l.person(v.Conversation.PersonID), l.email(v.Conversation.AssigneeID)
	if l.err != nil {
		return l.err
	}
	changed := false
	if strings.TrimSpace(form.Company) != company || strings.TrimSpace(form.Person) != person {
		if err := s.svc.Describe(ctx, rq.actor, id, form.Company, form.Person); err != nil {
			return err
		}
		changed = true
	}
	if !strings.EqualFold(strings.TrimSpace(form.Assignee), assignee) {
		if err := s.svc.SetAssignee(ctx, rq.actor, id, form.Assignee); err != nil {
			return err
		}
		changed = true
	}
	if !changed && !v.Can.Describe() {
		// Nothing to save, but a user without the right still hears so.
		return fmt.Errorf("set company or person: %w", conversation.ErrForbidden)
	}
	return nil
}

// formFiles reads the files of a multipart form ("files", any number).
func formFiles(r *http.Request) ([]store.NewAttachment, error) {
	if r.MultipartForm == nil {
		return nil, nil
	}
	var out []store.NewAttachment
	var total int64
	for _, fh := range r.MultipartForm.File["files"] {
		if fh.Filename == "" && fh.Size == 0 {
			continue // the empty part of a file input left alone
		}
		total += fh.Size
		if total > maxUpload {
			return nil, fmt.Errorf("%w: the files are larger than %d MB in all", conversation.ErrInvalid, maxUpload>>20)
		}
		data, err := readPart(fh)
		if err != nil {
			return nil, err
		}
		out = append(out, store.NewAttachment{Filename: cleanFilename(fh.Filename),
			ContentType: declaredType(fh.Header.Get("Content-Type"), data), Data: data})
	}
	return out, nil
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxUpload+1))
}

// declaredType keeps the browser's content type when it parses, else sniffs.
// It is only a label: attachments are served with a safe type whatever it is.
func declaredType(ct string, data []byte) string {
	if mt, _, err := mime.ParseMediaType(ct); err == nil && strings.Contains(mt, "/") {
		return mt
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	return mt
}

// cleanFilename keeps the last path element, without control characters,
// at most 200 bytes.
func cleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(strings.TrimSpace(name), ".")
	for len(name) > 200 {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		_, size := utf8.DecodeLastRuneInString(name[:len(name)-len(ext)])
		name = name[:len(name)-len(ext)-size] + ext
	}
	if name == "" {
		return "attachment"
	}
	return name
}
