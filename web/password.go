package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	_ "embed" // the common password list

	"golang.org/x/crypto/argon2"

	"postdesk/store"
)

// Passwords are hashed with argon2id (RFC 9106) and kept in the PHC string
// format, which names the algorithm, version, parameters and salt:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>   (base64 without padding)
//
// The parameters are OWASP's minimum for argon2id; a hash keeps the ones it
// was made with, so raising them later leaves old passwords working.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16

	// MinPasswordLength is the shortest password SetPassword accepts, in characters.
	MinPasswordLength = 10
	maxPasswordLength = 1024 // bytes; longer input is refused before hashing
)

// ErrWeakPassword is returned by SetPassword for a password that is too short.
var ErrWeakPassword = fmt.Errorf("password must have at least %d characters", MinPasswordLength)

// ErrCommonPassword is returned for a password that is, or is built on,
// one of the passwords guessers try first.
var ErrCommonPassword = errors.New("password is too common: it is among the first a guesser tries")

// ErrLongPassword is returned for a password over maxPasswordLength bytes.
var ErrLongPassword = fmt.Errorf("password must be at most %d bytes", maxPasswordLength)

// commonPasswordList is the first 3,903 lines of SecLists'
// 10k-most-common.txt (MIT licence; the file's header names the commit).
//
//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for line := range strings.Lines(commonPasswordList) {
		line = strings.TrimRight(line, "\r\n")
		if line != "" && !strings.HasPrefix(line, "# ") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
})

// CheckNewPassword says why a password may not be set, or nil: shorter
// than MinPasswordLength characters, longer than maxPasswordLength bytes,
// or common. Common is on the list as it is, or once lower-cased and
// stripped of the digits and punctuation people add to pass a length rule
// ("Password2024!"), or the account's own address or its local part, or
// one character repeated.
func CheckNewPassword(pw, email string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return ErrWeakPassword
	}
	if len(pw) > maxPasswordLength {
		return ErrLongPassword
	}
	lower := strings.ToLower(pw)
	stem := strings.TrimRightFunc(lower, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
	stem = strings.TrimLeftFunc(stem, unicode.IsDigit)
	common := commonPasswords()
	email = strings.ToLower(strings.TrimSpace(email))
	local, _, _ := strings.Cut(email, "@")
	switch {
	case common[lower], common[stem], stem == "":
		return ErrCommonPassword
	case email != "" && (lower == email || stem == local || strings.Contains(lower, email)):
		return ErrCommonPassword
	case strings.Count(lower, string([]rune(lower)[0])) == utf8.RuneCountInString(lower):
		return ErrCommonPassword
	}
	return nil
}

// HashPassword returns the argon2id hash of a password with a fresh salt.
func HashPassword(pw string) (string, error) {
	if len(pw) > maxPasswordLength {
		return "", fmt.Errorf("password longer than %d bytes", maxPasswordLength)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether a password matches a hash made by
// HashPassword, comparing in constant time. A hash it cannot read is an error
// (and no match).
func CheckPassword(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errors.New("password hash: not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("password hash: unsupported version %q", parts[2])
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("password hash: bad parameters %q", parts[3])
	}
	// Bounds keep a tampered hash from costing the server gigabytes or minutes.
	if m < 8 || m > 1<<20 || t < 1 || t > 16 || p < 1 || p > 16 {
		return false, fmt.Errorf("password hash: parameters out of range %q", parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errors.New("password hash: bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 128 {
		return false, errors.New("password hash: bad key")
	}
	if len(pw) > maxPasswordLength {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// SetPassword sets a user's password (one CheckNewPassword accepts) and
// ends every session they have, for `postdesk user password`.
func SetPassword(ctx context.Context, st *store.Store, email, password string) error {
	if err := CheckNewPassword(password, email); err != nil {
		return err
	}
	u, err := st.UserByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %s: %w", email, err)
		}
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	if err := st.SetPassword(ctx, u.ID, hash); err != nil {
		return err
	}
	return st.DeleteUserSessions(ctx, u.ID)
}

// dummyHash is checked for unknown users and users without a password, so
// that they take as long to refuse as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck
	h, err := HashPassword(base64.RawStdEncoding.EncodeToString(b))
	if err != nil {
		panic(err)
	}
	return h
})
