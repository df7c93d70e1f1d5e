package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

var testStart = time.Date(2026, 11, 22, 12, 5, 0, 123456000, time.UTC)

func testHeader(camera string) Header {
	h := Header{Epoch: EpochFor(testStart), Camera: camera, Start: testStart}
	copy(h.KeyID[:], "0123456789abcdef")
	return h
}

func testKey(t testing.TB) *DataKey {
	t.Helper()
	k, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// units are plaintext write units of varied sizes (an init section, then
// fragments), deterministic per seed.
func units(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 1+r.IntN(3000))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = b
	}
	return out
}

// sealUnits writes units as one record each; closed adds the end marker.
func sealUnits(t testing.TB, h Header, k *DataKey, us [][]byte, closed bool) []byte {
	t.Helper()
	var f bytes.Buffer
	w, err := NewWriter(&f, h, k)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		if i%2 == 0 {
			// Write in two pieces and Flush: the recorder's path.
			if _, err := w.Write(u[:len(u)/2]); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(u[len(u)/2:]); err != nil {
				t.Fatal(err)
			}
			if err := w.FlushMeta(testMeta(i)); err != nil {
				t.Fatal(err)
			}
		} else if err := w.WriteRecord(u, testMeta(i)); err != nil {
			t.Fatal(err)
		}
	}
	if closed {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if w.Size() != int64(f.Len()) {
		t.Fatalf("Size %d, wrote %d", w.Size(), f.Len())
	}
	return f.Bytes()
}

// testMeta is record i's clear metadata: none on every third record.
func testMeta(i int) []byte {
	if i%3 == 2 {
		return nil
	}
	return []byte(fmt.Sprintf(`{"fragment":%d,"duration_ms":1000}`, i))
}

// plaintext reads rd whole through ReadAt.
func plaintext(rd *Reader) ([]byte, error) {
	b := make([]byte, rd.Size())
	n, err := rd.ReadAt(b, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return b[:n], err
	}
	return b, nil
}

// recordOffsets is where each record (length field) starts in file.
func recordOffsets(t testing.TB, file []byte) []int64 {
	t.Helper()
	_, hl, err := ReadHeader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(hl); off+6 <= int64(len(file)); {
		offs = append(offs, off)
		off += 6 + int64(binary.BigEndian.Uint16(file[off+4:])) + int64(binary.BigEndian.Uint32(file[off:]))
	}
	return offs
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t)
	us := units(1, 12)
	file := sealUnits(t, testHeader("yard"), k, us, true)
	want := bytes.Join(us, nil)

	rd, err := Open(bytes.NewReader(file), int64(len(file)), k)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Size() != int64(len(want)) || rd.Records() != len(us) {
		t.Fatalf("size %d records %d, want %d and %d", rd.Size(), rd.Records(), len(want), len(us))
	}
	if tl := rd.Tail(); !tl.Complete || tl.Torn != 0 || tl.Keep != int64(len(file)) {
		t.Errorf("tail %+v of a closed file", tl)
	}
	h := rd.Header()
	if h.Camera != "yard" || !h.Start.Equal(testStart) || h.Epoch != EpochFor(testStart) || h.KeyID != testHeader("yard").KeyID {
		t.Errorf("header %+v", h)
	}
	got, err := plaintext(rd)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("plaintext differs (err %v)", err)
	}
	if err := rd.Verify(); err != nil {
		t.Fatal(err)
	}
	// The clear metadata: read with no key by Scan, authenticated by Meta.
	_, infos, tl, err := Scan(bytes.NewReader(file), int64(len(file)))
	if err != nil || len(infos) != len(us) || !tl.Complete {
		t.Fatalf("scan: %d records, %+v, %v", len(infos), tl, err)
	}
	for i, in := range infos {
		m, err := rd.Meta(i)
		if err != nil || !bytes.Equal(in.Meta, testMeta(i)) || !bytes.Equal(m, testMeta(i)) || in.Size != len(us[i]) {
			t.Fatalf("record %d: meta %q / %q (%v), size %d, want %q and %d", i, in.Meta, m, err, in.Size, testMeta(i), len(us[i]))
		}
	}
	var out bytes.Buffer
	if _, err := rd.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("WriteTo differs (err %v)", err)
	}
	// Random reads across record boundaries, as a box parser does.
	r := rand.New(rand.NewPCG(2, 2))
	for range 500 {
		off := r.Int64N(int64(len(want)))
		n := 1 + r.IntN(5000)
		b := make([]byte, n)
		m, err := rd.ReadAt(b, off)
		end := min(off+int64(n), int64(len(want)))
		if m != int(end-off) || !bytes.Equal(b[:m], want[off:end]) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes, want %d", n, off, m, end-off)
		}
		if end < off+int64(n) && !errors.Is(err, io.EOF) {
			t.Fatalf("short ReadAt without EOF: %v", err)
		}
		if end == off+int64(n) && err != nil {
			t.Fatalf("ReadAt: %v", err)
		}
	}
	if _, err := rd.ReadAt(make([]byte, 1), rd.Size()); !errors.Is(err, io.EOF) {
		t.Errorf("read at the end: %v, want EOF", err)
	}
	// An unclosed file reads the same, and says it was not closed.
	open := sealUnits(t, testHeader("yard"), k, us, false)
	rd2, err := Open(bytes.NewReader(open), int64(len(open)), k)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := plaintext(rd2); err != nil || !bytes.Equal(got, want) || rd2.Tail().Complete {
		t.Fatalf("unclosed file: err %v, complete %v", err, rd2.Tail().Complete)
	}
}

// mustFail opens file and reads it all; it must fail with want (or, for
// changes that shorten what the file claims, say it is not complete).
func mustFail(t *testing.T, what string, file []byte, k *DataKey, want error) {
	t.Helper()
	rd, err := Open(bytes.NewReader(file), int64(len(file)), k)
	if err == nil {
		err = rd.Verify()
	}
	if err == nil {
		t.Fatalf("%s: opened and verified", what)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func TestTamperFlipByte(t *testing.T) {
	k := testKey(t)
	file := sealUnits(t, testHeader("yard"), k, units(3, 4), true)
	offs := recordOffsets(t, file)
	// A byte of a middle record's ciphertext, and of the end marker's tag.
	for _, pos := range []int64{offs[1] + 4 + 7, offs[len(offs)-1] + 4 + 3} {
		bad := bytes.Clone(file)
		bad[pos] ^= 0x20
		mustFail(t, "flipped ciphertext byte", bad, k, ErrAuth)
	}
	// A byte of a record's clear metadata.
	bad := bytes.Clone(file)
	bad[offs[1]+6] ^= 0x20
	mustFail(t, "flipped metadata byte", bad, k, ErrAuth)
	// Every byte of the file: no flip goes unnoticed. A flip in a length
	// field may instead make the file look cut short: then it is reported
	// as not closed, which a reader of a finished segment refuses.
	for pos := range file {
		bad := bytes.Clone(file)
		bad[pos] ^= 0x01
		rd, err := Open(bytes.NewReader(bad), int64(len(bad)), k)
		if err == nil {
			err = rd.Verify()
		}
		if err == nil && rd.Tail().Complete {
			t.Fatalf("flip at byte %d of %d: opened, verified and complete", pos, len(file))
		}
	}
}

func TestTamperSwapRecords(t *testing.T) {
	k := testKey(t)
	file := sealUnits(t, testHeader("yard"), k, units(4, 5), true)
	offs := recordOffsets(t, file)
	a := file[offs[1]:offs[2]]
	b := file[offs[2]:offs[3]]
	swapped := append(append(append(bytes.Clone(file[:offs[1]]), b...), a...), file[offs[3]:]...)
	if len(swapped) != len(file) {
		t.Fatal("swap changed the length")
	}
	mustFail(t, "records 1 and 2 swapped", swapped, k, ErrAuth)

	dropped := append(bytes.Clone(file[:offs[1]]), file[offs[2]:]...)
	mustFail(t, "record 1 cut out", dropped, k, ErrAuth)
}

func TestTamperMoveRecordBetweenFiles(t *testing.T) {
	k := testKey(t)
	us := units(5, 4)
	// Even under the same data key (which never happens: keys are per
	// segment), a record of another segment is refused: the header of its
	// file is bound into it.
	h2 := testHeader("yard")
	h2.Start = testStart.Add(time.Minute)
	f1 := sealUnits(t, testHeader("yard"), k, us, true)
	f2 := sealUnits(t, h2, k, us, true)
	o1, o2 := recordOffsets(t, f1), recordOffsets(t, f2)
	moved := append(append(bytes.Clone(f1[:o1[2]]), f2[o2[2]:o2[3]]...), f1[o1[3]:]...)
	if len(moved) != len(f1) {
		t.Fatal("move changed the length")
	}
	mustFail(t, "record 2 of the next minute's segment moved in", moved, k, ErrAuth)

	// Under another segment's key: refused too.
	f3 := sealUnits(t, testHeader("yard"), testKey(t), us, true)
	o3 := recordOffsets(t, f3)
	moved = append(append(bytes.Clone(f1[:o1[2]]), f3[o3[2]:o3[3]]...), f1[o1[3]:]...)
	mustFail(t, "record 2 of a segment under another key moved in", moved, k, ErrAuth)
}

func TestTamperHeader(t *testing.T) {
	k := testKey(t)
	file := sealUnits(t, testHeader("yard"), k, units(6, 3), true)
	for _, c := range []struct {
		what string
		edit func(b []byte)
	}{
		{"camera changed", func(b []byte) { copy(b[41:], "lobb") }},
		{"start moved a second", func(b []byte) {
			binary.BigEndian.PutUint64(b[32:], uint64(testStart.Add(time.Second).UnixNano()))
		}},
		{"epoch changed", func(b []byte) { b[31]++ }},
		{"key id changed", func(b []byte) { b[12]++ }},
	} {
		bad := bytes.Clone(file)
		c.edit(bad)
		mustFail(t, c.what, bad, k, ErrAuth)
	}
	bad := bytes.Clone(file)
	bad[40] = 5 // camera length no longer matches the header length
	mustFail(t, "camera length changed", bad, k, ErrCorrupt)
}

func TestTornTailEveryOffset(t *testing.T) {
	k := testKey(t)
	us := units(7, 4)
	file := sealUnits(t, testHeader("yard"), k, us, true)
	offs := recordOffsets(t, file)
	lastData := offs[len(offs)-2]
	marker := offs[len(offs)-1]
	whole := bytes.Join(us[:len(us)-1], nil)
	all := bytes.Join(us, nil)
	for cut := lastData; cut < int64(len(file)); cut++ {
		torn := file[:cut]
		keep, want := lastData, whole
		if cut >= marker {
			keep, want = marker, all
		}
		tl, err := Recover(bytes.NewReader(torn), cut)
		if err != nil {
			t.Fatalf("cut at %d: Recover: %v", cut, err)
		}
		if tl.Keep != keep || tl.Torn != cut-keep || tl.Complete {
			t.Fatalf("cut at %d: tail %+v, want keep %d", cut, tl, keep)
		}
		rd, err := Open(bytes.NewReader(torn), cut, k)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		got, err := plaintext(rd)
		if err != nil || !bytes.Equal(got, want) || rd.Tail().Complete {
			t.Fatalf("cut at %d: %d bytes (err %v), want the %d of the whole records", cut, len(got), err, len(want))
		}
		// Truncated to Keep, the file is a clean unclosed segment.
		rd, err = Open(bytes.NewReader(torn[:tl.Keep]), tl.Keep, k)
		if err != nil || rd.Tail().Torn != 0 || rd.Size() != int64(len(want)) {
			t.Fatalf("cut at %d, truncated to %d: err %v", cut, tl.Keep, err)
		}
	}
	// A header alone (crash before the init section) holds nothing.
	_, hl, _ := ReadHeader(bytes.NewReader(file), int64(len(file)))
	tl, err := Recover(bytes.NewReader(file[:hl+3]), int64(hl+3))
	if err != nil || tl.Keep != int64(hl) || tl.Records != 0 {
		t.Fatalf("header and 3 bytes: %+v %v", tl, err)
	}
}

func TestCorruptStructure(t *testing.T) {
	k := testKey(t)
	file := sealUnits(t, testHeader("yard"), k, units(8, 3), true)
	offs := recordOffsets(t, file)
	bad := bytes.Clone(file)
	binary.BigEndian.PutUint32(bad[offs[1]:], 3) // shorter than a tag
	if _, err := Recover(bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("length 3 mid-file: %v, want ErrCorrupt", err)
	}
	binary.BigEndian.PutUint32(bad[offs[1]:], MaxRecord+tagSize+1)
	if _, err := Open(bytes.NewReader(bad), int64(len(bad)), k); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge length mid-file: %v, want ErrCorrupt", err)
	}
	after := append(bytes.Clone(file), file[offs[0]:offs[1]]...)
	if _, err := Open(bytes.NewReader(after), int64(len(after)), k); !errors.Is(err, ErrCorrupt) {
		t.Errorf("record after the end marker: %v, want ErrCorrupt", err)
	}
	plain := []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso6")
	if _, err := Open(bytes.NewReader(plain), int64(len(plain)), k); !errors.Is(err, ErrNotSealed) {
		t.Errorf("plain MP4: %v, want ErrNotSealed", err)
	}
	if _, err := Open(bytes.NewReader(nil), 0, k); !errors.Is(err, ErrNotSealed) {
		t.Errorf("empty file: %v, want ErrNotSealed", err)
	}
	if _, err := Open(bytes.NewReader(file[:20]), 20, k); !errors.Is(err, ErrCorrupt) {
		t.Errorf("header cut: %v, want ErrCorrupt", err)
	}
	// The wrong key fails at the end marker already.
	if _, err := Open(bytes.NewReader(file), int64(len(file)), testKey(t)); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong key: %v, want ErrAuth", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return len(p) / 2, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriterStopsAfterAFailedWrite(t *testing.T) {
	w, err := NewWriter(&failWriter{after: 2}, testHeader("yard"), testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord([]byte("init"), nil); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord([]byte("fragment"), nil); err == nil {
		t.Fatal("failed write not reported")
	}
	if _, err := w.Write([]byte("more")); !errors.Is(err, ErrClosed) {
		t.Errorf("write after a failure: %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("close after a failure: %v, want ErrClosed", err)
	}
}

func TestHeaderRefusesBadFields(t *testing.T) {
	var f bytes.Buffer
	for _, h := range []Header{{Camera: "", Start: testStart}, {Camera: string(make([]byte, 65)), Start: testStart}, {Camera: "yard"}} {
		if _, err := NewWriter(&f, h, testKey(t)); err == nil {
			t.Errorf("header %+v accepted", h)
		}
	}
	if f.Len() != 0 {
		t.Error("a refused header wrote bytes")
	}
}

func FuzzOpen(f *testing.F) {
	k := new(DataKey)
	copy(k.b[:], "fuzz key fuzz key fuzz key fuzz!")
	// Small seeds: Go's coverage-guided fuzzer crawls on inputs of a few
	// KB of random bytes (a handful of execs a second).
	small := [][]byte{[]byte("ftyp+moov"), []byte("moof+mdat 1"), []byte("moof+mdat 2")}
	f.Add(sealUnits(f, testHeader("yard"), k, small, true))
	f.Add(sealUnits(f, testHeader("lobby-2"), k, small[:2], false))
	f.Add([]byte("VHTSEAL\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		tl, rerr := Recover(r, int64(len(b)))
		if rerr == nil && (tl.Keep+tl.Torn != int64(len(b)) || tl.Keep > int64(len(b))) {
			t.Fatalf("tail %+v of %d bytes", tl, len(b))
		}
		_, infos, stl, serr := Scan(r, int64(len(b)))
		if (serr == nil) != (rerr == nil) || stl != tl {
			t.Fatalf("Scan %+v %v, Recover %+v %v", stl, serr, tl, rerr)
		}
		if serr == nil && len(infos) != tl.Records-map[bool]int{true: 1}[tl.Complete] {
			t.Fatalf("%d records scanned, tail %+v", len(infos), tl)
		}
		rd, err := Open(r, int64(len(b)), k)
		if err != nil {
			return
		}
		if rerr != nil {
			t.Fatalf("Open accepted what Recover refused: %v", rerr)
		}
		if rd.Size() > int64(len(b)) {
			t.Fatalf("plaintext %d bytes from a %d-byte file", rd.Size(), len(b))
		}
		if _, err := plaintext(rd); err != nil && !errors.Is(err, ErrAuth) {
			t.Fatalf("read: %v", err)
		}
		_ = rd.Verify()
	})
}

// TestReaderConcurrent: Reader is an io.ReaderAt, which callers may use
// from several goroutines at once (run with -race).
func TestReaderConcurrent(t *testing.T) {
	k := testKey(t)
	us := units(14, 20)
	want := bytes.Join(us, nil)
	file := sealUnits(t, testHeader("yard"), k, us, true)
	rd, err := Open(bytes.NewReader(file), int64(len(file)), k)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for range 300 {
				off := r.Int64N(int64(len(want)))
				b := make([]byte, min(1+r.Int64N(4000), int64(len(want))-off))
				if _, err := rd.ReadAt(b, off); err != nil || !bytes.Equal(b, want[off:off+int64(len(b))]) {
					errs <- fmt.Errorf("ReadAt(%d, %d): %v", len(b), off, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
