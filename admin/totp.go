package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"

	"vahti/registry"
)

// TOTP is RFC 6238 with the parameters every authenticator app assumes:
// HMAC-SHA1, 30-second steps, 6 digits.
const totpStep = 30

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh 160-bit secret, base32 without padding.
func NewTOTPSecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("totp secret: %w", err)
	}
	return b32.EncodeToString(b), nil
}

// TOTPCode returns the code for a secret at a time.
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := b32.DecodeString(strings.ToUpper(strings.ReplaceAll(secret, " ", "")))
	if err != nil {
		return "", fmt.Errorf("totp secret: %w", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/totpStep))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000), nil
}

// CheckTOTP accepts the code of the current step or one step either side,
// for clocks that drift and people who type slowly.
func CheckTOTP(secret, code string, now time.Time) bool {
	_, ok := MatchTOTP(secret, code, now)
	return ok
}

// MatchTOTP is CheckTOTP that also returns the step (Unix time / 30) whose
// code matched, so the caller can refuse a code already used: a code seen
// over a shoulder or in a proxy log must not log in a second time.
func MatchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	var step int64
	for _, d := range []int64{-1, 0, 1} {
		at := now.Add(time.Duration(d*totpStep) * time.Second)
		want, err := TOTPCode(secret, at)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step = at.Unix() / totpStep
		}
	}
	return step, step != 0
}

// freshTOTP accepts a code only for a step later than the last one the
// account used; it returns that step, to be stored as TOTPLastStep in the
// transaction that acts on the code.
func freshTOTP(u registry.User, code string, now time.Time) (int64, bool) {
	step, ok := MatchTOTP(u.TOTPSecret, code, now)
	if !ok || step <= u.TOTPLastStep {
		return 0, false
	}
	return step, true
}

// acceptTOTP is freshTOTP for the login's checks: it stores the step in
// *step, to be spent in the transaction that starts the session. A code
// already used reads as a wrong one ("wrong or missing one-time code").
func acceptTOTP(u registry.User, code string, now time.Time, step *int64) bool {
	var ok bool
	*step, ok = freshTOTP(u, code, now)
	return ok
}

// TOTPURI is the otpauth:// URI an authenticator app enrols from.
func TOTPURI(issuer, account, secret string) string {
	label := url.PathEscape(issuer + ":" + account)
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}
