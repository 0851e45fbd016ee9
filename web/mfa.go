package web

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"postdesk/store"
)

// TOTP (RFC 6238) with the authenticator apps' defaults: SHA-1, 6 digits,
// 30 s. A code is accepted for the step before and after the current one
// (clock drift), and never twice: the newest step used is kept
// (store.UseStep), so a code seen over a shoulder is worthless once typed.
const (
	totpIssuer    = "postdesk"
	totpPeriod    = 30
	recoveryCodes = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// mfaCipher encrypts TOTP secrets at rest under a key derived from the
// server secret: a copy of the database alone does not give anyone the
// codes.
func mfaCipher(secret []byte) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("postdesk totp secret key"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("totp cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

func (s *server) sealTOTP(userID int64, secret string) []byte {
	nonce := make([]byte, s.mfaAEAD.NonceSize())
	rand.Read(nonce) //nolint:errcheck // never fails
	return s.mfaAEAD.Seal(nonce, nonce, []byte(secret), fmt.Appendf(nil, "user %d", userID))
}

func (s *server) openTOTP(userID int64, sealed []byte) (string, error) {
	n := s.mfaAEAD.NonceSize()
	if len(sealed) < n {
		return "", errors.New("totp secret: too short")
	}
	b, err := s.mfaAEAD.Open(nil, sealed[:n], sealed[n:], fmt.Appendf(nil, "user %d", userID))
	if err != nil {
		return "", fmt.Errorf("totp secret: %w", err)
	}
	return string(b), nil
}

// mfaEnrolled reports whether a user has a second factor enabled.
func (s *server) mfaEnrolled(r *http.Request, userID int64) (bool, error) {
	m, err := s.st.MFAOf(r.Context(), userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return m.EnabledAt != nil, nil
}

// signInStage is the stage a password sign-in starts in: owing a code
// when a second factor is enrolled, owing an enrolment when a role
// requires one (require_mfa, enforced from the next sign-in on), else full.
func (s *server) signInStage(r *http.Request, userID int64) (string, error) {
	on, err := s.mfaEnrolled(r, userID)
	if err != nil {
		return "", err
	}
	if on {
		return store.StageMFA, nil
	}
	a, err := s.svc.Actor(r.Context(), userID)
	if err != nil {
		return "", err
	}
	if s.requiresMFA(a.Roles) {
		return store.StageEnrol, nil
	}
	return store.StageFull, nil
}

// checkTOTP reports whether code is valid now for secret, and spends its
// step: a code already used (or older than one used) is refused.
func (s *server) checkTOTP(r *http.Request, userID int64, secret, code string) (bool, error) {
	code = strings.TrimSpace(strings.ReplaceAll(code, " ", ""))
	if len(code) != 6 {
		return false, nil
	}
	now := s.now()
	cur := now.Unix() / totpPeriod
	for _, step := range []int64{cur, cur - 1, cur + 1} {
		ok, err := totp.ValidateCustom(code, secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return false, nil // not a code at all
		}
		if ok {
			return s.st.UseStep(r.Context(), userID, step)
		}
	}
	return false, nil
}

// recoveryHash is what is kept of a recovery code: its SHA-256, after
// lower-casing and dropping dashes and spaces, as people type them.
func recoveryHash(code string) []byte {
	code = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	sum := sha256.Sum256([]byte("postdesk recovery\x00" + code))
	return sum[:]
}

// newRecoveryCodes makes ten codes of 50 random bits each, xxxxx-xxxxx.
func newRecoveryCodes() (codes []string, hashes [][]byte) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range recoveryCodes {
		b := make([]byte, 7)
		rand.Read(b) //nolint:errcheck // never fails
		c := strings.ToLower(enc.EncodeToString(b))[:10]
		codes = append(codes, c[:5]+"-"+c[5:])
		hashes = append(hashes, recoveryHash(c))
	}
	return codes, hashes
}

type mfaData struct {
	page
	Enabled  bool
	Pending  bool
	Secret   string   // for typing into an app that cannot scan
	Recovery []string // shown once, right after enrolling
	Left     int      // unused recovery codes
	Required bool     // a role requires it and the session waits for it
}

// mfaPage is the enrolment page: status, or the QR code of a pending
// enrolment and the form for its first code. A session that must enrol
// (require_mfa) gets a pending enrolment at once.
func (s *server) mfaPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	uid := rq.actor.User.ID
	d := mfaData{page: s.base(w, r, rq, msgKey("Second factor"), "settings"), Required: rq.stage == store.StageEnrol}
	m, err := s.st.MFAOf(ctx, uid)
	if errors.Is(err, store.ErrNotFound) && d.Required {
		if err = s.startMFA(r, uid); err == nil {
			m, err = s.st.MFAOf(ctx, uid)
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.fail(w, r, rq, err)
		return
	case m.EnabledAt != nil:
		d.Enabled = true
		if d.Left, err = s.st.RecoveryCodesLeft(ctx, uid); err != nil {
			s.fail(w, r, rq, err)
			return
		}
	default:
		d.Pending = true
		if d.Secret, err = s.openTOTP(uid, m.Secret); err != nil {
			s.fail(w, r, rq, err)
			return
		}
	}
	s.render(w, http.StatusOK, "mfa", d)
}

// startMFA makes a new pending enrolment with a fresh secret.
func (s *server) startMFA(r *http.Request, userID int64) error {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: "postdesk", Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	return s.st.StartMFA(r.Context(), userID, s.sealTOTP(userID, key.Secret()))
}

// mfaStart begins (or begins again) an enrolment that is not yet enabled.
func (s *server) mfaStart(w http.ResponseWriter, r *http.Request, rq *request) {
	if on, err := s.mfaEnrolled(r, rq.actor.User.ID); err != nil || on {
		if err != nil {
			s.fail(w, r, rq, err)
			return
		}
		redirect(w, r, "/settings/mfa")
		return
	}
	if err := s.startMFA(r, rq.actor.User.ID); err != nil {
		s.fail(w, r, rq, err)
		return
	}
	redirect(w, r, "/settings/mfa")
}

// mfaQR is the QR code of the pending enrolment (an image of the
// otpauth:// URL an authenticator app scans), served from here because
// the Content-Security-Policy allows images from the app only.
func (s *server) mfaQR(w http.ResponseWriter, r *http.Request, rq *request) {
	uid := rq.actor.User.ID
	m, err := s.st.MFAOf(r.Context(), uid)
	if err != nil || m.EnabledAt != nil {
		s.errorPage(w, r, rq, http.StatusNotFound, msgKey("No enrolment is waiting."))
		return
	}
	secret, err := s.openTOTP(uid, m.Secret)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	v := url.Values{"secret": {secret}, "issuer": {totpIssuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + totpIssuer + ":" + rq.actor.User.Email, RawQuery: v.Encode()}
	key, err := otp.NewKeyFromURL(u.String())
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	img, err := key.Image(240, 240)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		s.fail(w, r, rq, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(buf.Bytes()) //nolint:errcheck
}

// mfaConfirm enables the pending enrolment with its first code and shows
// the ten recovery codes, once.
func (s *server) mfaConfirm(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	uid := rq.actor.User.ID
	m, err := s.st.MFAOf(ctx, uid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.EnabledAt != nil) {
		redirect(w, r, "/settings/mfa")
		return
	} else if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	secret, err := s.openTOTP(uid, m.Secret)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	ok, err := s.checkTOTP(r, uid, secret, r.PostFormValue("code"))
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	d := mfaData{page: s.base(w, r, rq, msgKey("Second factor"), "settings"), Pending: true, Secret: secret, Required: rq.stage == store.StageEnrol}
	if !ok {
		d.Error = msgKey("That code is not right (or was used already). Type the code your app shows now.")
		s.render(w, http.StatusBadRequest, "mfa", d)
		return
	}
	codes, hashes := newRecoveryCodes()
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.ConfirmMFA(ctx, uid, s.now(), hashes); err != nil {
			return err
		}
		// Every other session signed in without it.
		if err := tx.DeleteOtherSessions(ctx, uid, rq.hash); err != nil {
			return err
		}
		return tx.SetSessionStage(ctx, rq.hash, store.StageFull)
	})
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.record(r, store.SigninEvent{UserID: &uid, Email: rq.actor.User.Email, Event: store.EventMFAEnrolled, Method: "totp"})
	d = mfaData{page: s.base(w, r, rq, msgKey("Second factor"), "settings"), Enabled: true, Recovery: codes, Left: len(codes)}
	s.render(w, http.StatusOK, "mfa", d)
}

type loginMFAData struct {
	page
}

// loginMFAPage asks a session signed in by password for its code.
func (s *server) loginMFAPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if rq.stage != store.StageMFA {
		redirect(w, r, "/")
		return
	}
	s.render(w, http.StatusOK, "login_mfa", loginMFAData{page: s.base(w, r, rq, msgKey("Second factor"), "")})
}

// loginMFASubmit checks a TOTP code or a recovery code, throttled like the
// password, and turns the session into a full one under a new id.
func (s *server) loginMFASubmit(w http.ResponseWriter, r *http.Request, rq *request) {
	if rq.stage != store.StageMFA {
		redirect(w, r, "/")
		return
	}
	ctx := r.Context()
	u := rq.actor.User
	ip := s.clientIP(r)
	d := loginMFAData{page: s.base(w, r, rq, msgKey("Second factor"), "")}
	wait, err := s.limiter.wait(ctx, "mfa:"+u.Email, ip)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		l := s.loc(r, rq)
		d.Error = l.T("Too many wrong codes from here. Please wait %s and try again.", l.Wait(secs))
		s.render(w, http.StatusTooManyRequests, "login_mfa", d)
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	method, ok := "totp", false
	if strings.ContainsAny(code, "-abcdefghijklmnopqrstuvwxyz") || len(code) > 8 {
		method = "recovery"
		ok, err = s.st.UseRecoveryCode(ctx, u.ID, recoveryHash(code), s.now())
	} else {
		var m *store.MFA
		if m, err = s.st.MFAOf(ctx, u.ID); err == nil {
			var secret string
			if secret, err = s.openTOTP(u.ID, m.Secret); err == nil {
				ok, err = s.checkTOTP(r, u.ID, secret, code)
			}
		}
	}
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if !ok {
		if err := s.limiter.failed(ctx, "mfa:"+u.Email, ip); err != nil {
			s.log.Error("mfa: throttle", "err", err)
		}
		s.record(r, store.SigninEvent{UserID: &u.ID, Email: u.Email, Event: store.EventSignInFailed, Method: method,
			Detail: map[string]any{"reason": "wrong or used code"}})
		d.Error = msgKey("That code is not right, or was used already.")
		s.render(w, http.StatusUnauthorized, "login_mfa", d)
		return
	}
	if err := s.limiter.succeeded(ctx, "mfa:"+u.Email, ip); err != nil {
		s.log.Error("mfa: throttle", "err", err)
	}
	// A new id for the full session: the half-signed-in one is worthless.
	if err := s.st.DeleteSession(ctx, rq.hash); err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if err := s.newSession(w, r, u.ID); err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.record(r, store.SigninEvent{UserID: &u.ID, Email: u.Email, Event: store.EventSignIn, Method: method,
		Detail: map[string]any{"stage": store.StageFull}})
	redirect(w, r, "/")
}
