package threading

// memIndex is an in-memory Index: the facts a store would answer, as maps.
type memIndex struct {
	messages     map[string]int64 // stored Message-ID -> conversation
	numbers      map[int64]int64  // conversation number -> conversation
	participants map[int64][]string
	staff        map[int64][]string // members of a receiver role
	users        map[int64]string
	outbox       map[int64]int64 // outbox row -> conversation
	err          error           // returned by every call when set

	asked []string // emails passed to IsParticipant / IsStaffOf, to check normalisation
}

func (x *memIndex) ConversationByMessageID(ids []string) (int64, bool, error) {
	if x.err != nil {
		return 0, false, x.err
	}
	var newest int64
	for _, id := range ids {
		if c, ok := x.messages[id]; ok && c > newest {
			newest = c // conversation ids grow with time
		}
	}
	return newest, newest != 0, nil
}

func (x *memIndex) ConversationByNumber(n int64) (int64, bool, error) {
	if x.err != nil {
		return 0, false, x.err
	}
	c, ok := x.numbers[n]
	return c, ok, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (x *memIndex) IsParticipant(conv int64, email string) (bool, error) {
	if x.err != nil {
		return false, x.err
	}
	x.asked = append(x.asked, email)
	return contains(x.participants[conv], email), nil
}

func (x *memIndex) UserEmail(id int64) (string, bool, error) {
	if x.err != nil {
		return "", false, x.err
	}
	e, ok := x.users[id]
	return e, ok, nil
}

func (x *memIndex) IsStaffOf(conv int64, email string) (bool, error) {
	if x.err != nil {
		return false, x.err
	}
	x.asked = append(x.asked, email)
	return contains(x.staff[conv], email), nil
}

func (x *memIndex) OutboxConversation(id int64) (int64, bool, error) {
	if x.err != nil {
		return 0, false, x.err
	}
	c, ok := x.outbox[id]
	return c, ok, nil
}

// Users of the test world.
const (
	userAlice = 1 // customer in conversation 10 (#42) and 12 (#44)
	userBob   = 2 // payroll staff: receiver role of 10 and 11
	userCarol = 3 // customer in conversation 11 (#43)
	userErin  = 5 // HR staff: receiver role of 10 only
	userGone  = 9 // a user id no longer known
)

// testIndex is the stored state the Decide tests run against.
func testIndex() *memIndex {
	return &memIndex{
		messages: map[string]int64{
			"m1@customer.example":     10, // Alice's first mail
			"n1@postdesk.example.com": 10, // our notification to Bob
			"r1@postdesk.example.com": 10, // Bob's reply, sent by us to Alice
			"c1@other.example":        11,
			"r2@postdesk.example.com": 11,
			"old@customer.example":    12,
		},
		numbers: map[int64]int64{42: 10, 43: 11, 44: 12},
		outbox:  map[int64]int64{700: 10, 701: 11}, // 702: purged with its conversation
		participants: map[int64][]string{
			10: {"alice@customer.example", "bob@example.com"},
			11: {"carol@other.example", "bob@example.com"},
			12: {"alice@customer.example"},
		},
		staff: map[int64][]string{
			10: {"bob@example.com", "erin@example.com"},
			11: {"bob@example.com"},
		},
		users: map[int64]string{
			userAlice: "alice@customer.example",
			userBob:   "Bob@Example.com", // stored in mixed case
			userCarol: "carol@other.example",
			userErin:  "erin@example.com",
		},
	}
}
