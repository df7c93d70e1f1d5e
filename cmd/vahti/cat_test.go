package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// keeperPassword is the login password of the keepers the tests make.
const keeperPassword = "kolme iloista kilpikonnaa uimassa"

// initKeys runs vahti keys init and writes the printed recovery key to a
// file, as the data protection officer would type it from the printout.
func initKeys(t *testing.T, c *cli) (rkFile string) {
	t.Helper()
	var res struct {
		RecoveryKey string `json:"recovery_key"`
	}
	if err := json.Unmarshal([]byte(c.ok("keys", "init", "--config", "$CONFIG", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	rkFile = filepath.Join(c.dir, "recovery.txt")
	if err := os.WriteFile(rkFile, []byte(res.RecoveryKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return rkFile
}

// fmp4Units splits a fragmented MP4 into the recorder's write units: the
// init section (everything before the first moof) and each moof+mdat.
func fmp4Units(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var units [][]byte
	start, off := 0, 0
	for off < len(b) {
		if len(b)-off < 8 {
			t.Fatalf("fmp4: short box header at %d", off)
		}
		size := int(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		if size == 1 {
			size = int(binary.BigEndian.Uint64(b[off+8:]))
		}
		if size < 8 || off+size > len(b) {
			t.Fatalf("fmp4: box %q at %d has size %d", typ, off, size)
		}
		if typ == "moof" && off > start {
			units = append(units, b[start:off])
			start = off
		}
		off += size
	}
	return append(units, b[start:])
}

// sealCatalogued rewrites every catalogued segment of camera as a sealed
// file, as the sealing recorder writes it: the key stored first, one record
// for the init section and one per fragment, the end marker; the row's
// bytes and SHA-256 are the sealed file's. It returns the plain bytes of
// each segment by path.
func sealCatalogued(t *testing.T, c *cli, camera string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	db, err := registry.Open(filepath.Join(c.dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var segs []registry.Segment
	var site seal.SitePublicKey
	err = db.View(ctx, func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err != nil {
			return err
		}
		if site, err = seal.ParseSitePublicKey(s.PublicKey); err != nil {
			return err
		}
		segs, err = tx.SegmentsIn(camera, time.Unix(0, 0), time.Now().Add(365*24*time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	plain := map[string][]byte{}
	root := filepath.Join(c.dir, "rec")
	for _, s := range segs {
		day := seal.EpochFor(s.Start)
		var epub seal.EpochPublicKey
		err := db.Update(ctx, func(tx *registry.Tx) error {
			ep, err := tx.Epoch(int64(day))
			if err == nil {
				epub, err = seal.ParseEpochPublicKey(day, ep.PublicKey)
				return err
			}
			pub, sealed, err := seal.NewEpoch(site, day)
			if err != nil {
				return err
			}
			epub = pub
			return tx.AddEpoch(int64(day), pub.Bytes(), sealed)
		})
		if err != nil {
			t.Fatal(err)
		}
		abs := filepath.Join(root, filepath.FromSlash(s.Path))
		b, err := os.ReadFile(abs)
		if err != nil {
			t.Fatal(err)
		}
		plain[s.Path] = b
		k, h, sealedKey, err := seal.NewSegmentKey(epub, s.Camera, s.Start)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(ctx, func(tx *registry.Tx) error {
			return tx.PutSegmentKey(registry.SegmentKey{KeyID: h.KeyID[:], Camera: s.Camera, Start: s.Start, EpochDay: int64(day), SealedKey: sealedKey})
		}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		w, err := seal.NewWriter(&out, h, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range fmp4Units(t, b) {
			if err := w.WriteRecord(u, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		k.Wipe()
		if err := os.WriteFile(abs, out.Bytes(), 0o640); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(out.Bytes())
		row := s
		row.Bytes, row.SHA256 = int64(out.Len()), hex.EncodeToString(sum[:])
		if err := db.Update(ctx, func(tx *registry.Tx) error {
			if err := tx.DeleteSegmentRow(s.ID); err != nil {
				return err
			}
			return tx.AddSegment(&row)
		}); err != nil {
			t.Fatal(err)
		}
	}
	return plain
}

// ffprobeFrames counts the video frames ffprobe decodes from b on stdin.
func ffprobeFrames(t *testing.T, b []byte) int {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", "-")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe -: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe output %q", out)
	}
	return n
}

// auditOf lists the audit entries whose kind is prefix or under it.
func auditOf(t *testing.T, c *cli, prefix string) []registry.Entry {
	t.Helper()
	db, err := registry.Open(filepath.Join(c.dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var es []registry.Entry
	if err := db.View(context.Background(), func(tx *registry.Tx) (err error) {
		es, err = tx.AuditEntries(registry.AuditFilter{Kind: prefix})
		return
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

// TestCatSealed: vahti cat decrypts a sealed segment (or any copy of it)
// to stdout byte for byte, so ffprobe - plays it with every frame; the
// keeper's password and the recovery key both open it; a wrong password,
// a mistyped recovery key, a keeper without a grant and a copy cut short
// are refused with nothing on stdout; every viewing is audited.
func TestCatSealed(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "operaattori"
	c.euid = 0
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	rkFile := initKeys(t, c)
	plain := sealCatalogued(t, c, "yard")
	rel := registry.SegmentPath("yard", base.Add(2*time.Second))
	seg := filepath.Join(c.dir, "rec", filepath.FromSlash(rel))
	if sealed, _ := os.ReadFile(seg); !bytes.HasPrefix(sealed, seal.Magic[:]) || bytes.Contains(sealed, plain[rel][len(plain[rel])/2:len(plain[rel])/2+64]) {
		t.Fatal("the test segment is not sealed")
	}

	// A keeper granted with the recovery key at user add.
	out, errs, code := c.run(keeperPassword+"\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper",
		"--recovery-key-file", rkFile)
	if code != 0 || !strings.Contains(out, "can open sealed footage") {
		t.Fatalf("user add --recovery-key-file: exit %d\n%s%s", code, out, errs)
	}
	if n := len(auditOf(t, c, kindKeysGrant)); n != 1 {
		t.Errorf("%d keys.grant entries, want 1", n)
	}

	// Without the flags: refused, naming them.
	_, errs, code = c.run("", "cat", "--config", "$CONFIG", seg)
	if code == 0 || !strings.Contains(errs, "--user") || !strings.Contains(errs, "--recovery-key-file") {
		t.Errorf("cat without keys: exit %d: %s", code, errs)
	}

	out, errs, code = c.run(keeperPassword+"\n", "cat", "--config", "$CONFIG", "--user", "liisa", seg)
	if code != 0 {
		t.Fatalf("cat --user: exit %d: %s", code, errs)
	}
	if !bytes.Equal([]byte(out), plain[rel]) {
		t.Fatalf("cat wrote %d bytes, not the %d plain bytes of the segment", len(out), len(plain[rel]))
	}
	if strings.Contains(errs, keeperPassword) {
		t.Error("the password was echoed to stderr")
	}
	if n := ffprobeFrames(t, []byte(out)); n != 50 {
		t.Errorf("ffprobe - decoded %d frames, want 50 (2 s at 25 fps)", n)
	}

	// Wrong password: refused, nothing on stdout, the attempt audited.
	out, errs, code = c.run("nämä eivät ole oikeat sanat\n", "cat", "--config", "$CONFIG", "--user", "liisa", seg)
	if code == 0 || out != "" || !strings.Contains(errs, "wrong password") {
		t.Errorf("wrong password: exit %d, %d bytes on stdout: %s", code, len(out), errs)
	}
	if n := len(auditOf(t, c, kindKeysUnlockFail)); n != 1 {
		t.Errorf("%d keys.unlock.fail entries, want 1", n)
	}

	// A copy elsewhere, opened with the recovery key; and CAMERA START.
	cp := filepath.Join(t.TempDir(), "evidence.bin")
	b, _ := os.ReadFile(seg)
	os.WriteFile(cp, b, 0o600)
	if out := c.ok("cat", "--config", "$CONFIG", "--recovery-key-file", rkFile, cp); !bytes.Equal([]byte(out), plain[rel]) {
		t.Error("cat of a copy with the recovery key: not the plain segment")
	}
	if out := c.ok("cat", "--config", "$CONFIG", "--recovery-key-file", rkFile, "yard", base.Add(3*time.Second).Format(time.RFC3339)); !bytes.Equal([]byte(out), plain[rel]) {
		t.Error("cat CAMERA START: not the segment holding START")
	}

	// A copy cut at a record boundary (the end marker gone) plays as if
	// whole unless refused.
	cut := filepath.Join(t.TempDir(), "cut.bin")
	os.WriteFile(cut, b[:len(b)-22], 0o600)
	out, errs, code = c.run("", "cat", "--config", "$CONFIG", "--recovery-key-file", rkFile, cut)
	if code == 0 || out != "" || !strings.Contains(errs, "end marker") {
		t.Errorf("cut copy: exit %d, %d bytes: %s", code, len(out), errs)
	}

	// A mistyped recovery key is named as a typo.
	rk, _ := os.ReadFile(rkFile)
	typo := []byte(strings.TrimSpace(string(rk)))
	if typo[0] == 'A' {
		typo[0] = 'B'
	} else {
		typo[0] = 'A'
	}
	typoFile := filepath.Join(c.dir, "typo.txt")
	os.WriteFile(typoFile, typo, 0o600)
	out, errs, code = c.run("", "cat", "--config", "$CONFIG", "--recovery-key-file", typoFile, seg)
	if code == 0 || out != "" || !strings.Contains(errs, "mistyped") {
		t.Errorf("mistyped recovery key: exit %d: %s", code, errs)
	}

	// A keeper made without the recovery key: told, and opens nothing.
	_, errs, code = c.run(keeperPassword+"\n", "user", "add", "--config", "$CONFIG", "--name", "pekka", "--role", "keeper")
	if code != 0 || !strings.Contains(errs, "no access") {
		t.Errorf("user add keeper without grant: exit %d: %s", code, errs)
	}
	out, errs, code = c.run(keeperPassword+"\n", "cat", "--config", "$CONFIG", "--user", "pekka", seg)
	if code == 0 || out != "" || !strings.Contains(errs, "no access") {
		t.Errorf("keeper without a wrap: exit %d: %s", code, errs)
	}

	plays := auditOf(t, c, kindFootagePlay)
	if len(plays) != 3 {
		t.Fatalf("%d footage.play entries, want 3 (one per cat that wrote footage)", len(plays))
	}
	for _, p := range plays {
		if p.Actor != "operaattori" || p.Object != "camera:yard" || !strings.Contains(string(p.Detail), `"via":"cat"`) {
			t.Errorf("footage.play entry: %+v %s", p, p.Detail)
		}
	}
	if !strings.Contains(string(plays[0].Detail), `"keeper":"liisa"`) {
		t.Errorf("the first viewing does not name the keeper: %s", plays[0].Detail)
	}
	ok := 0
	for _, e := range auditOf(t, c, kindKeysUnlock) {
		if e.Kind == kindKeysUnlock {
			ok++
		}
	}
	if ok != 4 {
		t.Errorf("%d keys.unlock entries, want 4 (every cat that opened the keys)", ok)
	}

	// A purged segment's key is gone: its bytes open with nothing, even
	// with the recovery key.
	db, err := registry.Open(filepath.Join(c.dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx *registry.Tx) error {
		_, err := tx.DeleteSegmentKeyAt("yard", base.Add(2*time.Second))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, errs, code = c.run("", "cat", "--config", "$CONFIG", "--recovery-key-file", rkFile, cp)
	if code == 0 || out != "" || !strings.Contains(errs, "purged") {
		t.Errorf("cat after the key was destroyed: exit %d, %d bytes: %s", code, len(out), errs)
	}

	// export and request export without the flags: refused, naming them.
	errs = c.fail("export", "--config", "$CONFIG", "--camera", "yard", "--from", base.Format(time.RFC3339),
		"--to", base.Add(6*time.Second).Format(time.RFC3339), "--reason", "testi", "--out", filepath.Join(c.dir, "x.zip"))
	if !strings.Contains(errs, "sealed") || !strings.Contains(errs, "--recovery-key-file") {
		t.Errorf("export of sealed footage without keys: %s", errs)
	}
}

// TestCatPlain: a plain segment is copied as it is, no keys needed, and
// the viewing is audited.
func TestCatPlain(t *testing.T) {
	c := newCLI(t)
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	seg := filepath.Join(c.dir, "rec", filepath.FromSlash(registry.SegmentPath("yard", base)))
	want, _ := os.ReadFile(seg)
	if out := c.ok("cat", "--config", "$CONFIG", seg); !bytes.Equal([]byte(out), want) {
		t.Error("cat of a plain segment changed its bytes")
	}
	if es := auditOf(t, c, kindFootagePlay); len(es) != 1 || !strings.Contains(string(es[0].Detail), `"sealed":false`) {
		t.Errorf("footage.play entries: %+v", es)
	}
}
