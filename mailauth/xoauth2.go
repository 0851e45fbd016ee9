package mailauth

import (
	"encoding/json"
	"fmt"

	"github.com/emersion/go-sasl"
)

// XOAuth2 is the SASL mechanism name.
const XOAuth2 = "XOAUTH2"

// XOAuth2Error is the JSON a server sends as its challenge when it refuses a
// token (Google's "SASL XOAUTH2" documentation); Microsoft sends the same
// shape.
type XOAuth2Error struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

func (e *XOAuth2Error) Error() string {
	return fmt.Sprintf("XOAUTH2 refused (status %s)", e.Status)
}

type xoauth2Client struct {
	username, token string
	// Failure is the server's error challenge, once it sent one.
	failure error
}

// NewXOAuth2Client returns a client of the XOAUTH2 mechanism. Its initial
// response is
//
//	"user=" username ^A "auth=Bearer " token ^A ^A
//
// (^A is 0x01), sent base64-encoded by the IMAP and SMTP clients.
func NewXOAuth2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next answers the only challenge XOAUTH2 has: the server's error report.
// The client must answer it, after which the server ends the exchange with
// its failure reply (NO, or SMTP 535), which is the error the caller sees;
// returning an error here instead would leave the exchange half-way and the
// connection unusable. Google documents an empty answer, but go-imap sends
// an empty continuation as "=", which servers reject (Dovecot: BAD Invalid
// base64), so the answer is OAUTHBEARER's 0x01 (RFC 7628 section 3.2.3),
// which ends the exchange just as well.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.failure != nil {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	e := &XOAuth2Error{}
	if err := json.Unmarshal(challenge, e); err != nil {
		c.failure = fmt.Errorf("XOAUTH2: unreadable server challenge")
	} else {
		c.failure = e
	}
	return []byte{0x01}, nil
}

// oauthBearerClient is go-sasl's OAUTHBEARER client, answering the server's
// error challenge with the 0x01 that RFC 7628 section 3.2.3 asks for (go-sasl
// returns an error there, which leaves the exchange open and the IMAP
// connection waiting).
type oauthBearerClient struct {
	sasl.Client
	failure error
}

func newOAuthBearerClient(username, token string) sasl.Client {
	return &oauthBearerClient{Client: sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: username, Token: token})}
}

func (c *oauthBearerClient) Next(challenge []byte) ([]byte, error) {
	if c.failure != nil {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	_, err := c.Client.Next(challenge)
	c.failure = err
	return []byte{0x01}, nil
}
