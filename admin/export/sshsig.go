package export

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/ssh"
)

// SSHSIG (OpenSSH's PROTOCOL.sshsig), written by hand so that the standard
// tool verifies packages with nothing from Vahti:
//
//	ssh-keygen -Y verify -f allowed_signers -I vahti -n vahti-export -s manifest.json.sig < manifest.json
const (
	// Namespace binds signatures to this use: a package signature cannot
	// be replayed as, say, a git commit signature.
	Namespace   = "vahti-export"
	SignerID    = "vahti"
	sigMagic    = "SSHSIG"
	sigVersion  = 1
	sigHashAlg  = "sha512"
	armorBegin  = "-----BEGIN SSH SIGNATURE-----"
	armorEnd    = "-----END SSH SIGNATURE-----"
	armorColumn = 70
)

type sshsigBlob struct {
	Magic     [6]byte
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	HashAlg   string
	Signature []byte
}

type sshsigSigned struct {
	Namespace string
	Reserved  string
	HashAlg   string
	Hash      []byte
}

func signedData(namespace, alg string, msg []byte) ([]byte, error) {
	var h hash.Hash
	switch alg {
	case "sha512":
		h = sha512.New()
	case "sha256":
		h = sha256.New()
	default:
		return nil, fmt.Errorf("signature hash %q not supported", alg)
	}
	h.Write(msg)
	return append([]byte(sigMagic), ssh.Marshal(sshsigSigned{namespace, "", alg, h.Sum(nil)})...), nil
}

// SignSSHSIG returns an armored SSHSIG signature of msg.
func SignSSHSIG(signer ssh.Signer, namespace string, msg []byte) ([]byte, error) {
	data, err := signedData(namespace, sigHashAlg, msg)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(nil, data)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	blob := sshsigBlob{Version: sigVersion, PublicKey: signer.PublicKey().Marshal(), Namespace: namespace,
		HashAlg: sigHashAlg, Signature: ssh.Marshal(sig)}
	copy(blob.Magic[:], sigMagic)
	b64 := base64.StdEncoding.EncodeToString(ssh.Marshal(blob))
	var out bytes.Buffer
	out.WriteString(armorBegin + "\n")
	for len(b64) > armorColumn {
		out.WriteString(b64[:armorColumn] + "\n")
		b64 = b64[armorColumn:]
	}
	out.WriteString(b64 + "\n" + armorEnd + "\n")
	return out.Bytes(), nil
}

// VerifySSHSIG checks an armored SSHSIG signature of msg in namespace and
// returns the public key that made it. The caller decides whether it
// trusts that key.
func VerifySSHSIG(armored []byte, namespace string, msg []byte) (ssh.PublicKey, error) {
	s := strings.TrimSpace(string(armored))
	if !strings.HasPrefix(s, armorBegin) || !strings.HasSuffix(s, armorEnd) {
		return nil, errors.New("not an armored SSH signature")
	}
	s = strings.Join(strings.Fields(s[len(armorBegin):len(s)-len(armorEnd)]), "")
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("signature base64: %w", err)
	}
	var blob sshsigBlob
	if err := ssh.Unmarshal(raw, &blob); err != nil {
		return nil, fmt.Errorf("signature blob: %w", err)
	}
	if string(blob.Magic[:]) != sigMagic || blob.Version != sigVersion {
		return nil, errors.New("not an SSHSIG v1 signature")
	}
	if blob.Namespace != namespace {
		return nil, fmt.Errorf("signature namespace %q, want %q", blob.Namespace, namespace)
	}
	pub, err := ssh.ParsePublicKey(blob.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signature public key: %w", err)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(blob.Signature, &sig); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	data, err := signedData(blob.Namespace, blob.HashAlg, msg)
	if err != nil {
		return nil, err
	}
	if err := pub.Verify(data, &sig); err != nil {
		return nil, fmt.Errorf("signature does not match: %w", err)
	}
	return pub, nil
}
