package conversation

import (
	"context"
	"errors"
	"fmt"
	"html"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/sync/errgroup"

	"postdesk/config"
	"postdesk/ingest/mailparse"
	"postdesk/quote"
	"postdesk/senderauth"
	"postdesk/store"
	"postdesk/threading"
)

// Inbound is one mail fetched from a category mailbox.
type Inbound struct {
	Mailbox         string // config name; "" for mail not from IMAP (tests, tools)
	UIDValidity     uint32
	UID             uint32
	Raw             []byte
	TooLarge        bool      // Raw holds only the header: the mail was over the size limit
	Size            int64     // the whole mail's size as the server reported it
	InternalDate    time.Time // when the server received it; zero when unknown
	DefaultCategory string
	// Archive: the mail was in the folder before postdesk first connected
	// (the go-live import): stored and filed, nobody mailed (see import.go).
	Archive bool
}

// Received says what became of an inbound mail.
type Received struct {
	ConversationID int64
	MessageID      int64
	Kind           string
	Duplicate      bool   // already stored: nothing was done but record the copy and move the cursor
	DuplicateBy    string // DuplicateIMAP or DuplicateContent, for a duplicate
	Held           bool   // opened a conversation held for review
	Quarantined    bool   // could not be processed: kept raw for staff (Quarantine)
	From           string // the sender's address ("" when none or a duplicate), for debug logs only
	Decision       threading.Decision
}

// LoopHeader is put on every mail postdesk sends, and recognised coming back.
const LoopHeader = "X-Postdesk-Loop"

// Receive stores one inbound mail and everything that follows from it (the
// conversation change, the outbox rows, the audit record, and the mailbox
// cursor) in one transaction: after a crash either all of it is there or
// none, and the mail is fetched again. A mail already stored (see
// Duplicates in import.go) only records its copy and moves the cursor. A
// mail that cannot be parsed is stored raw with its problems noted, never
// dropped; a panic while receiving is returned as a *PanicError, for the
// caller to Quarantine the mail.
func (s *Service) Receive(ctx context.Context, in Inbound) (*Received, error) {
	if s.signer == nil {
		return nil, errors.New("receive: the service has no reply token signer")
	}
	m, err := s.parseMail(in.Raw)
	if err != nil {
		return nil, fmt.Errorf("receive %s uid %d: parse: %w", in.Mailbox, in.UID, err)
	}
	bound(m)
	key := contentKeyOf(in)
	var res *Received
	err = s.write(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		tx.WriteBehind() // as in ReceiveBatch: the writes go with the reads
		res, err = s.receive(ctx, tx, in, m, key, nil)
		if err != nil {
			return err
		}
		if in.Archive {
			if err := s.fileArchive(ctx, tx, res, m, in); err != nil {
				return err
			}
		}
		if in.Mailbox != "" {
			return tx.AdvanceCursor(ctx, in.Mailbox, in.UIDValidity, in.UID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("receive %s uid %d: %w", in.Mailbox, in.UID, err)
	}
	return res, nil
}

// BatchError is ReceiveBatch failing because of one mail of the batch (at
// Index): nothing of the batch is stored, and the caller receives the mails
// one by one, to store the others and deal with that one alone.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch mail %d: %v", e.Index, e.Err) }

func (e *BatchError) Unwrap() error { return e.Err }

// ReceiveBatch is Receive for several mails of one mailbox, in UID order, in
// ONE transaction with the cursor: they are parsed first, on all cores and
// outside the transaction, then stored in order (a later mail of the batch
// sees the earlier ones, as it answers them), and the cursor moves to the
// last UID with the commit. So the exactly-once argument of Receive holds
// for the batch as a whole: all of it is stored with the cursor past it, or
// none of it and the cursor before it. A mail failing (its parse panics, a
// rule or the database refuses it) fails the whole batch with a
// *BatchError naming it; the database's own errors (connection, commit)
// come unwrapped, as they say nothing about one mail.
func (s *Service) ReceiveBatch(ctx context.Context, ins []Inbound) ([]*Received, error) {
	if s.signer == nil {
		return nil, errors.New("receive: the service has no reply token signer")
	}
	if len(ins) == 0 {
		return nil, nil
	}
	parsed := make([]*mailparse.Message, len(ins))
	keys := make([][]byte, len(ins))
	perr := make([]error, len(ins))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range ins {
		g.Go(func() error {
			m, err := s.parseMail(ins[i].Raw)
			if err == nil {
				bound(m)
			}
			parsed[i], keys[i], perr[i] = m, contentKeyOf(ins[i]), err
			return nil
		})
	}
	_ = g.Wait() // the errors are per mail, in perr
	for i, err := range perr {
		if err != nil {
			return nil, &BatchError{Index: i, Err: fmt.Errorf("receive %s uid %d: parse: %w", ins[i].Mailbox, ins[i].UID, err)}
		}
	}
	out := make([]*Received, len(ins))
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		// The batch's messages, new conversations, audit trail, outbox
		// rows, blobs and participants travel with its next read; a failed
		// one fails the batch. A mail writes its own message and up to two
		// events (routed, held; reopened), and opens at most one
		// conversation.
		if err := tx.ReserveIDs(ctx, 3*len(ins), len(ins)); err != nil {
			return err
		}
		if err := tx.GenericPlans(ctx); err != nil {
			return err
		}
		bs, err := newBatchState(ctx, tx, ins, parsed, keys)
		if err != nil {
			return err
		}
		for i, in := range ins {
			bs.idx = i
			res, err := s.receiveOne(ctx, tx, in, parsed[i], keys[i], bs)
			if err != nil {
				return &BatchError{Index: i, Err: fmt.Errorf("receive %s uid %d: %w", in.Mailbox, in.UID, err)}
			}
			out[i] = res
		}
		last := ins[len(ins)-1]
		if last.Mailbox != "" {
			return tx.AdvanceCursor(ctx, last.Mailbox, last.UIDValidity, last.UID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// receiveOne is one mail's part of a batch; a panic is returned as a
// *PanicError, as Receive does.
func (s *Service) receiveOne(ctx context.Context, tx *store.Tx, in Inbound, m *mailparse.Message, key []byte, bs *batchState) (res *Received, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	if res, err = s.receive(ctx, tx, in, m, key, bs); err != nil {
		return nil, err
	}
	if in.Archive {
		if err := s.fileArchive(ctx, tx, res, m, in); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// batchState is what the mails of one batch transaction share: answers
// read once for the whole batch, and kept true through the batch's own
// writes. It lives for one transaction only, so nothing in it can go stale
// beyond what a transaction begun a moment earlier would have seen.
type batchState struct {
	idx    int                        // the mail being received
	maybe  map[int]bool               // mails that may be stored already (store.MaybeStored)
	raws   map[string]bool            // content keys stored by this batch
	cats   map[string]*store.Category // categoryFor's answers, by recipient list and default
	recent map[string]int             // RecentInbound by lower-case sender, counting the batch's own
	users  map[string]*store.User     // senders' users, by lower-case address
	froms  []string                   // the batch's senders
	// receipts is RecentReceipts by lower-case domain, read at the first
	// acknowledgement for all the senders' domains and counting the
	// batch's own receipts.
	receipts map[string]int
	// roles is RolesByIDs by the list of ids: nothing a mail does changes a
	// role.
	roles map[string][]store.Role
}

// rolesByIDs is tx.RolesByIDs, read once per set of ids in a batch.
func (bs *batchState) rolesByIDs(ctx context.Context, tx *store.Tx, ids []int64) ([]store.Role, error) {
	if bs == nil {
		return tx.RolesByIDs(ctx, ids)
	}
	key := fmt.Sprint(ids)
	if rs, ok := bs.roles[key]; ok {
		return rs, nil
	}
	rs, err := tx.RolesByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	if bs.roles == nil {
		bs.roles = map[string][]store.Role{}
	}
	bs.roles[key] = rs
	return rs, nil
}

// recentReceipts is tx.RecentReceipts(domain, upTo), for the whole batch
// in one query; with no batch, one query for this domain.
func (bs *batchState) recentReceipts(ctx context.Context, tx *store.Tx, domain string, upTo int) (int, error) {
	if bs == nil {
		return tx.RecentReceipts(ctx, domain, upTo)
	}
	if bs.receipts == nil {
		domains := []string{domain}
		for _, f := range bs.froms {
			domains = append(domains, f[strings.LastIndexByte(f, '@')+1:])
		}
		var err error
		if bs.receipts, err = tx.RecentReceiptsOf(ctx, domains, upTo); err != nil {
			return 0, err
		}
	}
	n, ok := bs.receipts[domain]
	if !ok {
		// A sender the batch did not list (its From was unreadable and the
		// user came from elsewhere): asked on its own, then counted on.
		var err error
		if n, err = tx.RecentReceipts(ctx, domain, upTo); err != nil {
			return 0, err
		}
		bs.receipts[domain] = n
	}
	return n, nil
}

func newBatchState(ctx context.Context, tx *store.Tx, ins []Inbound, parsed []*mailparse.Message, keys [][]byte) (*batchState, error) {
	bs := &batchState{raws: map[string]bool{}, cats: map[string]*store.Category{}}
	ks := make([]store.InboundKey, len(ins))
	var froms []string
	for i, in := range ins {
		ks[i] = store.InboundKey{UID: in.UID, RawKey: keys[i]}
		if f := parsed[i].From.Email; f != "" {
			froms = append(froms, f)
		}
	}
	var err error
	if bs.maybe, err = tx.MaybeStored(ctx, ins[0].Mailbox, ins[0].UIDValidity, ks); err != nil {
		return nil, err
	}
	if bs.recent, err = tx.RecentInboundOf(ctx, froms); err != nil {
		return nil, err
	}
	if bs.users, err = tx.UsersByEmail(ctx, froms); err != nil {
		return nil, err
	}
	bs.froms = froms
	return bs, nil
}

// mayBeStored reports whether the current mail must be looked up as stored
// already: it was found by MaybeStored, or its content is that of a mail
// the batch stored before it.
func (bs *batchState) mayBeStored(key []byte) bool {
	return bs == nil || bs.maybe[bs.idx] || (key != nil && bs.raws[string(key)])
}

// receive stores one mail in tx; bs is its batch's state, nil for a mail on
// its own.
func (s *Service) receive(ctx context.Context, tx *store.Tx, in Inbound, m *mailparse.Message, key []byte, bs *batchState) (*Received, error) {
	if bs.mayBeStored(key) {
		if dup, err := tx.InboundStored(ctx, in.Mailbox, in.UIDValidity, in.UID, key); err == nil {
			return s.duplicate(ctx, tx, in, dup)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if bs != nil && key != nil {
		bs.raws[string(key)] = true
	}

	recipients := recipientsOf(m)
	cat, err := s.categoryFor(ctx, tx, recipients, in.DefaultCategory, bs)
	if err != nil {
		return nil, err
	}
	own := threading.OwnMail{MessageIDDomain: s.idDomain, LoopHeader: LoopHeader}
	d, err := threading.Decide(m, recipients, s.signer, &index{ctx: ctx, tx: tx, from: strings.ToLower(strings.TrimSpace(m.From.Email))}, own)
	if err != nil {
		return nil, err
	}
	if in.Archive {
		d.Staff = false // an archived reply is a record: never sent again, its commands never obeyed
	}

	var conv *store.Conversation // the one the mail joins, locked until the commit
	if d.Conversation != 0 {
		// A token or reference may outlive its conversation (the purge took
		// it): the mail then starts a new one rather than failing forever.
		if conv, err = tx.LockConversation(ctx, d.Conversation); errors.Is(err, store.ErrNotFound) {
			d.Note = strings.TrimPrefix(d.Note+"; the conversation it answers no longer exists", "; ")
			d.Conversation, d.By, d.Staff = 0, threading.ByNew, false
			if d.Kind == threading.KindStaff {
				d.Kind = threading.KindCustomer
			}
		} else if err != nil {
			return nil, err
		}
	}

	from := m.From.Email
	msg := &store.Message{Direction: store.DirIn, Kind: string(d.Kind), FromAddr: from, FromName: m.From.Name,
		To: emails(m.To), Cc: emails(m.Cc), Subject: m.Subject, MessageID: m.MessageID, References: m.References,
		Text: m.Text, HTML: m.HTML, Problems: m.Problems, RawKey: key,
		Mailbox: in.Mailbox, UIDValidity: in.UIDValidity, UID: in.UID}
	if len(m.InReplyTo) > 0 {
		msg.InReplyTo = m.InReplyTo[0]
	}
	if msg.Text == "" && msg.HTML != "" {
		msg.Text = textOfHTML(msg.HTML)
	}
	if d.Kind == threading.KindLoop {
		msg.Kind = store.KindAutoReply // stored like one: never answered, never notified
	}
	if in.TooLarge {
		msg.Problems = append(msg.Problems, fmt.Sprintf("The mail is %.1f MB, over the size limit: only its header was kept.", float64(in.Size)/1e6))
	}
	if d.Note != "" {
		msg.Problems = append(msg.Problems, "Threading: "+d.Note)
	}
	check := s.senderCheck(in.Raw, from) // nil without sender_auth
	if msg.RawSHA256, err = tx.PutBlob(ctx, in.Raw); err != nil {
		return nil, err
	}

	// A sender writing more than SenderLimit mails an hour is a loop that got
	// past the headers (or a flood): store everything, notify no one.
	quiet := in.Archive
	if from != "" && !quiet {
		var n int
		if bs != nil {
			n = bs.recent[strings.ToLower(from)]
		} else if n, err = tx.RecentInbound(ctx, from); err != nil {
			return nil, err
		}
		if n >= s.senderLimit {
			quiet = true
			msg.Problems = append(msg.Problems, fmt.Sprintf("%s sent %d mails within an hour: no notifications for this one.", from, n))
		}
	}

	var author *store.User
	if from != "" {
		if author, err = senderUser(ctx, tx, from, m.From.Name, bs); err != nil {
			return nil, err
		}
		msg.AuthorID = &author.ID
	}
	files := attachmentsOf(m)
	res := &Received{Kind: msg.Kind, Decision: d, From: from}

	if d.Conversation == 0 {
		if err := s.openFromMail(ctx, tx, cat, author, msg, files, quiet, res, bs); err != nil {
			return nil, err
		}
	} else {
		stored, err := s.addMail(ctx, tx, conv, d, author, msg, files, quiet, m.Report, check)
		if err != nil {
			return nil, err
		}
		msg = stored
		res.ConversationID, res.Kind = d.Conversation, stored.Kind
	}
	res.MessageID = msg.ID
	if bs != nil && msg.Direction == store.DirIn && msg.FromAddr != "" && !in.Archive {
		// What RecentInbound would count from now on in this transaction.
		bs.recent[strings.ToLower(msg.FromAddr)]++
	}
	if err := recordSender(ctx, tx, msg, check); err != nil {
		return nil, err
	}
	if in.TooLarge && author != nil && d.Kind == threading.KindCustomer && !quiet {
		if err := s.notify(ctx, tx, res.ConversationID, &msg.ID, store.TemplateTooLarge, 0, *author); err != nil {
			return nil, err
		}
	}
	return res, tx.Audit(ctx, nil, "ingest", "received", &res.ConversationID, map[string]any{
		"mailbox": in.Mailbox, "uid": in.UID, "kind": msg.Kind, "by": d.By, "message": msg.ID})
}

// senderUser is the user a mail's sender is, created when new. A known
// sender with a name is only read: EnsureUser's upsert locks the user's row
// until the commit, and a batch transaction holds it for the whole batch, so
// two mailboxes' batches with mail from one person (or two people in
// opposite order: a deadlock) would wait for each other.
func senderUser(ctx context.Context, tx *store.Tx, email, name string, bs *batchState) (*store.User, error) {
	var u *store.User
	var err error
	if bs != nil {
		u = bs.users[strings.ToLower(email)]
	} else if u, err = tx.UserByEmail(ctx, email); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if u != nil && (u.Name != "" || name == "") {
		return u, nil
	}
	if u, err = tx.EnsureUser(ctx, email, name); err != nil {
		return nil, err
	}
	if bs != nil {
		bs.users[u.Email] = u
	}
	return u, nil
}

// openFromMail opens a conversation for a mail that belongs to none. Senders
// outside the category's allow_from, and machine mail (auto-replies, bounces
// and loops that match nothing) are held for review: stored and visible to
// staff, but nobody is notified.
func (s *Service) openFromMail(ctx context.Context, tx *store.Tx, cat *store.Category, author *store.User,
	msg *store.Message, files []store.NewAttachment, quiet bool, res *Received, bs *batchState) error {
	held := ""
	switch {
	case msg.Kind != store.KindCustomer && msg.Kind != store.KindStaff:
		held = "machine-written mail that belongs to no conversation"
	case author == nil:
		held = "the mail has no readable sender"
	case !(&config.Category{AllowFrom: cat.AllowFrom}).AllowsSender(author.Email):
		held = "the sender is not in the category's allow_from"
	}
	subject := threading.CleanSubject(msg.Subject)
	if subject == "" {
		subject = "(no subject)"
	}
	n := store.NewConversation{Subject: subject, CategoryID: cat.ID, CategoryKey: cat.Key, RoleIDs: cat.RoleIDs, HeldForReview: held != "" || quiet}
	if author != nil {
		n.CustomerID, n.CompanyID = &author.ID, author.CompanyID
	}
	conv, err := tx.CreateConversation(ctx, n)
	if err != nil {
		return err
	}
	msg.ConversationID = conv.ID
	if msg.Kind == store.KindStaff {
		msg.Kind = store.KindCustomer // staff powers need a conversation; a new one starts as a request
	}
	if err := tx.InsertMessage(ctx, msg, files); err != nil {
		return err
	}
	if author != nil {
		if err := tx.AddParticipant(ctx, conv.ID, author.Email, &author.ID); err != nil {
			return err
		}
	}
	if held != "" {
		if err := event(ctx, tx, conv.ID, nil, "held", "Held for review: "+held); err != nil {
			return err
		}
	}
	var authorID int64
	actor := "ingest"
	if author != nil {
		authorID, actor = author.ID, author.Email
	}
	res.ConversationID, res.Held = conv.ID, held != ""
	if err := s.route(ctx, tx, conv, msg, authorID, actor, bs); err != nil {
		return err
	}
	// Tell a person who wrote in that the mail arrived and under which
	// number; the acknowledgement carries their reply address. Never for
	// held or machine mail, which must not be answered.
	if held == "" && !quiet {
		return s.acknowledge(ctx, tx, conv.ID, msg.ID, *author, bs)
	}
	return nil
}

// addMail adds a mail to c, the conversation threading chose (locked), and
// returns the message stored (a staff reply from the mail client is stored
// as the answer it becomes).
func (s *Service) addMail(ctx context.Context, tx *store.Tx, c *store.Conversation, d threading.Decision, author *store.User,
	msg *store.Message, files []store.NewAttachment, quiet bool, report *mailparse.DeliveryReport, check *senderauth.Result) (*store.Message, error) {
	msg.ConversationID = c.ID
	switch {
	case d.Kind == threading.KindBounce:
		return msg, s.bounce(ctx, tx, c, d.Bounce, msg, files, quiet, report)
	case msg.Kind == store.KindAutoReply:
		// Stored for the record; never answered, never notified, no status change.
		return msg, tx.InsertMessage(ctx, msg, files)
	case d.Staff && author != nil && s.staffPowersHeld(check) != "":
		return s.holdReply(ctx, tx, author, c, msg, files, s.staffPowersHeld(check))
	case d.Staff && author != nil:
		a, err := actor(ctx, tx, author.ID)
		if err != nil {
			return nil, err
		}
		return s.staffMail(ctx, tx, a, c, msg, files)
	}
	msg.Kind = store.KindCustomer
	if cmd, _ := command(msg.Text); cmd != "" {
		msg.Problems = append(msg.Problems, fmt.Sprintf("The command %s was ignored: the sender has no staff powers on this conversation.", cmd))
	}
	if quiet {
		if err := tx.InsertMessage(ctx, msg, files); err != nil {
			return nil, err
		}
		return msg, tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{})
	}
	return s.customerMessage(ctx, tx, c, msg, files)
}

// Mail commands: the first line of a staff reply from the mail client.
const (
	CommandTake   = "#take"   // claim the conversation; the rest, if any, is sent
	CommandSolved = "#solved" // send the rest, if any, then mark Solved
	CommandNote   = "#note"   // the rest is an internal note, never sent
)

// command splits a leading command line off a reply's text.
func command(text string) (cmd, rest string) {
	trimmed := strings.TrimLeft(text, " \t\r\n")
	line, rest, _ := strings.Cut(trimmed, "\n")
	word, inline, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch w := strings.ToLower(word); w {
	case CommandTake, CommandSolved, CommandNote:
		if inline = strings.TrimSpace(inline); inline != "" {
			rest = inline + "\n" + rest
		}
		return w, strings.Trim(rest, "\r\n")
	}
	return "", text
}

// staffMail handles a reply from a staff member's own mail client: the quoted
// history is cut away, a command on the first line is obeyed, and the new
// text goes to the customer as an answer unless it is a note.
func (s *Service) staffMail(ctx context.Context, tx *store.Tx, a *Actor, c *store.Conversation, in *store.Message, files []store.NewAttachment) (*store.Message, error) {
	cmd, text := command(quote.Strip(in.Text))
	in.HTML = "" // the HTML part still holds the quoted history; the raw source keeps it all
	// A command is obeyed only as Can allows it here, as the same button on
	// the page would be; a refused one is noted on the message for staff.
	v, err := visibility(ctx, tx, a.User.ID, c.ID)
	if err != nil {
		return nil, err
	}
	f := FactsOf(v, c, nil) // no command describes the conversation: its company is not needed
	refuse := func(act Action) bool {
		if err := check(a, f, act); err != nil {
			in.Problems = append(in.Problems, fmt.Sprintf("The command %s was not obeyed: %v.", cmd, err))
			return true
		}
		return false
	}
	writes := strings.TrimSpace(text) != "" || len(files) > 0
	obey := true
	switch cmd {
	case CommandNote:
		// Refused or not, what was meant as a note is never sent to the
		// customer: it stays on record, with the refusal noted.
		refuse(ActNote)
	case CommandTake:
		obey = !(f.Staff && f.handledBy(a)) && !refuse(ActTake) // theirs already, or not theirs to take
	case CommandSolved:
		// Solved from the status the answer leaves (the status table).
		after := f
		if to, moves := Next(c.Status, ActReply, true); writes && moves {
			after.Status = to
		}
		f = after
		obey = !refuse(ActSolve)
	}
	if cmd == CommandNote && obey {
		in.Kind, in.Direction, in.Text = store.KindNote, store.DirInternal, text
		if err := tx.InsertMessage(ctx, in, files); err != nil {
			return nil, err
		}
		if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{}); err != nil {
			return nil, err
		}
		return in, audit(ctx, tx, a, "note", c.ID, map[string]any{"message": in.ID, "by": "mail"})
	}
	if cmd == CommandTake && obey {
		if err := s.setHandler(ctx, tx, a, c, &a.User); err != nil {
			return nil, err
		}
		id := a.User.ID
		c.HandlerID = &id
	}
	var msg *store.Message
	if writes {
		var err error
		if msg, err = s.staffReply(ctx, tx, a, c, text, files, in.MessageID, in); err != nil {
			return nil, err
		}
		if to, moves := Next(c.Status, ActReply, true); moves {
			c.Status = to // as staffReply left it, for the #solved below
		}
	} else {
		// A bare command: keep the mail on record as a note.
		in.Kind, in.Direction, in.Text = store.KindNote, store.DirInternal, cmd
		if err := tx.InsertMessage(ctx, in, nil); err != nil {
			return nil, err
		}
		msg = in
	}
	if cmd == CommandSolved && obey {
		if err := s.solve(ctx, tx, a, c); err != nil {
			return nil, err
		}
	}
	return msg, nil
}

// bounce records a delivery report. Only one that came back to a verified
// return path (row, see threading.Decision.Bounce) counts: that outbox row is
// marked failed, the failure goes in the timeline and the Handler (or the
// roles) is told. Any other report (anyone can write one, naming a
// Message-ID they have seen) is kept for staff, marked unverified, and
// changes nothing. A report is staff-only (store.StaffOnlyKind) and never
// answered.
func (s *Service) bounce(ctx context.Context, tx *store.Tx, c *store.Conversation, row int64, msg *store.Message, files []store.NewAttachment,
	quiet bool, report *mailparse.DeliveryReport) error {
	switch {
	case row == 0:
		msg.Problems = append(msg.Problems, "Unverified delivery report: it did not come back to the signed return path of a mail postdesk sent, so no delivery state was changed and nobody was told.")
		return tx.InsertMessage(ctx, msg, files)
	case report != nil && report.Action != "" && !strings.EqualFold(report.Action, "failed"):
		// RFC 3464 2.3.3: only "failed" is a failure; "delayed" means
		// the remote side is still trying, the others that it delivered.
		msg.Problems = append(msg.Problems, fmt.Sprintf("Delivery report: %s %s; the mail was not marked failed.", report.Action, report.Status))
		return tx.InsertMessage(ctx, msg, files)
	}
	why, status := "", ""
	if report != nil {
		why, status = strings.TrimSpace(report.Status+" "+report.Diagnostic), report.Status
	}
	failed, err := tx.OutboxByID(ctx, row)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || failed.ConversationID == nil || *failed.ConversationID != c.ID || failed.Status == "failed" {
		msg.Problems = append(msg.Problems, "Delivery report about a mail already marked failed: nothing changed.")
		return tx.InsertMessage(ctx, msg, files)
	}
	if err := tx.InsertMessage(ctx, msg, files); err != nil {
		return err
	}
	// The status code only in the timeline: the diagnostic text is the
	// remote side's words and stays in the (staff-only) report.
	timeline := "bounced"
	if status != "" {
		timeline += ": " + status
	}
	_, err = s.DeliveryFailed(ctx, tx, failed, DeliveryFailure{Reason: "bounced: " + why, Timeline: timeline, Quiet: quiet})
	return err
}

// handlerOrRoles is who hears of a conversation's news: its Handler, or with
// none, every member of its receiver roles.
func (s *Service) handlerOrRoles(ctx context.Context, tx *store.Tx, c *store.Conversation) ([]store.User, error) {
	if c.HandlerID != nil {
		h, err := tx.UserByID(ctx, *c.HandlerID)
		if err != nil {
			return nil, err
		}
		return []store.User{*h}, nil
	}
	return Audience(ctx, tx, c, c.RoleIDs)
}

// categoryFor picks the category named by the first recipient address that
// belongs to one (plus-addresses included), else the mailbox's default.
func (s *Service) categoryFor(ctx context.Context, tx *store.Tx, recipients []string, def string, bs *batchState) (*store.Category, error) {
	if bs == nil {
		return s.lookupCategory(ctx, tx, recipients, def)
	}
	k := def + "\x00" + strings.Join(recipients, "\x00")
	if c, ok := bs.cats[k]; ok {
		return c, nil
	}
	c, err := s.lookupCategory(ctx, tx, recipients, def)
	if err != nil {
		return nil, err
	}
	bs.cats[k] = c
	return c, nil
}

func (s *Service) lookupCategory(ctx context.Context, tx *store.Tx, recipients []string, def string) (*store.Category, error) {
	for _, r := range recipients {
		c, err := tx.CategoryByAddress(ctx, r)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	c, err := tx.CategoryByKey(ctx, def)
	if err != nil {
		return nil, fmt.Errorf("default category %q: %w", def, err)
	}
	return c, nil
}

// recipientsOf lists every recipient address: To, Cc, then Delivered-To and
// X-Original-To, each once, lower-case.
func recipientsOf(m *mailparse.Message) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range m.To {
		add(a.Email)
	}
	for _, a := range m.Cc {
		add(a.Email)
	}
	for _, a := range m.DeliveredTo {
		add(a)
	}
	return out
}

func emails(as []mailparse.Address) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.Email)
	}
	return out
}

// attachmentsOf hands the store the mail's files. A large one is not held
// decoded (mailparse.Attachment.Streamed): the store decodes it from the raw
// source a chunk at a time, and only when no blob has its sha256 yet.
func attachmentsOf(m *mailparse.Message) []store.NewAttachment {
	files := make([]store.NewAttachment, 0, len(m.Attachments))
	for _, a := range m.Attachments {
		f := store.NewAttachment{Filename: a.Filename, ContentType: a.ContentType,
			ContentID: a.ContentID, Inline: a.Inline, Data: a.Data}
		if a.Streamed() {
			f.Open, f.SHA256, f.Size = a.Open, a.SHA256[:], a.Size
		}
		files = append(files, f)
	}
	return files
}

var (
	textPolicy = bluemonday.StrictPolicy()
	blockTags  = regexp.MustCompile(`(?i)<(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>`)
	blankRuns  = regexp.MustCompile(`\n[ \t]*\n(?:[ \t]*\n)+`)
	spaceRuns  = regexp.MustCompile(`[ \t]+`)
)

// textOfHTML derives readable text from an HTML-only mail, for search,
// notifications and quoting.
func textOfHTML(h string) string {
	h = blockTags.ReplaceAllString(h, "$0\n")
	t := html.UnescapeString(textPolicy.Sanitize(h))
	t = spaceRuns.ReplaceAllString(t, " ")
	lines := strings.Split(t, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	t = blankRuns.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.TrimSpace(t)
}

// index answers threading's questions inside the ingest transaction.
type index struct {
	ctx context.Context
	tx  *store.Tx
	// from is the mail's sender, lower-case: the Message-ID lookup reads
	// whether they take part in the conversation it finds (found), which
	// threading asks next, in the same round trip.
	from  string
	found struct {
		conv   int64
		member bool
	}
}

func (x *index) ConversationByMessageID(ids []string) (int64, bool, error) {
	c, member, err := x.tx.ConversationByMessageID(x.ctx, ids, x.from)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	x.found.conv, x.found.member = c, member
	return c, true, nil
}

func (x *index) ConversationByNumber(n int64) (int64, bool, error) {
	c, err := x.tx.ConversationByNumber(x.ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return c.ID, true, nil
}

func (x *index) IsParticipant(conv int64, email string) (bool, error) {
	if conv == x.found.conv && email == x.from && email != "" {
		return x.found.member, nil
	}
	return x.tx.IsParticipant(x.ctx, conv, email)
}

func (x *index) UserEmail(userID int64) (string, bool, error) {
	u, err := x.tx.UserByID(x.ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return u.Email, true, nil
}

func (x *index) OutboxConversation(id int64) (int64, bool, error) {
	c, err := x.tx.OutboxConversation(x.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	return c, err == nil, err
}

func (x *index) IsStaffOf(conv int64, email string) (bool, error) {
	u, err := x.tx.UserByEmail(x.ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return isStaffOf(x.ctx, x.tx, u.ID, conv)
}
