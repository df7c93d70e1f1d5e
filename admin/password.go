package admin

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's cost parameters. They travel inside every
// encoded hash, so raising them later only affects new passwords.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultHashParams is what production accounts use (64 MiB, 3 passes):
// about a tenth of a second on the recorder box, slow enough to make
// guessing a stolen database expensive.
func DefaultHashParams() HashParams { return HashParams{Memory: 64 * 1024, Time: 3, Threads: 2} }

const saltLen, keyLen = 16, 32

// HashPassword returns the PHC string
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash> (unpadded base64).
func HashPassword(password string, p HashParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password hash: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// unmatchableHash returns a well-formed hash with the given costs that no
// password matches: verifying against it costs exactly one argon2 run, so a
// login for an unknown name takes as long as a real one, without paying
// 64 MiB of argon2 memory at start-up to make it.
func unmatchableHash(p HashParams) (string, error) {
	b := make([]byte, saltLen+keyLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("password hash: %w", err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(b[:saltLen]), b64.EncodeToString(b[saltLen:])), nil
}

// VerifyPassword reports whether password matches an encoded hash, in
// constant time with respect to the hash contents.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash: not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, fmt.Errorf("password hash: unsupported version %q", parts[2])
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, fmt.Errorf("password hash: bad parameters %q", parts[3])
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 4<<20 {
		return false, fmt.Errorf("password hash: bad parameters %q", parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errors.New("password hash: bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errors.New("password hash: bad key")
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 12

//go:embed common-passwords.txt
var commonPasswordList string

// ErrWeakPassword wraps every password policy refusal.
var ErrWeakPassword = errors.New("password refused")

// CheckPasswordPolicy refuses passwords that are short, well known, or the
// account name itself. The message tells a person what to do instead.
func CheckPasswordPolicy(password, name string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		return fmt.Errorf("%w: it has %d characters, at least %d are needed (a few unrelated words make a good one)",
			ErrWeakPassword, n, MinPasswordLen)
	}
	lower := strings.ToLower(password)
	if name != "" && strings.Contains(lower, strings.ToLower(name)) {
		return fmt.Errorf("%w: it contains the account name", ErrWeakPassword)
	}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordList))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") && lower == w {
			return fmt.Errorf("%w: it is on the list of commonly used passwords", ErrWeakPassword)
		}
	}
	if strings.Count(lower, lower[:1]) == len(lower) {
		return fmt.Errorf("%w: it repeats one character", ErrWeakPassword)
	}
	return nil
}
