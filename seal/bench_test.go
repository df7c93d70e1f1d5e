package seal

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The ingest cost of sealing. A fragment (one part, about 1 s) of a 4 Mbit/s
// camera is about 512 KiB; a 1 Mbit/s substream about 128 KiB.
//
//	go test ./seal -run '^$' -bench 'Write|Read' -benchtime 2s
//
// BenchmarkWrite/*/discard is the CPU of sealing alone (MB/s of one core);
// */file adds the write(2) into a file, which is what the recorder pays
// either way (plain is the unsealed recorder's cost).
func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{128 << 10, 512 << 10} {
		frag := make([]byte, size)
		for i := range frag {
			frag[i] = byte(i * 7)
		}
		name := map[int]string{128 << 10: "128KiB", 512 << 10: "512KiB"}[size]
		b.Run(name+"/sealed/discard", func(b *testing.B) {
			w, err := NewWriter(io.Discard, testHeader("yard"), testKey(b))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := w.Write(frag); err != nil {
					b.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/sealed-record/discard", func(b *testing.B) {
			w, err := NewWriter(io.Discard, testHeader("yard"), testKey(b))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := w.WriteRecord(frag, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, sealed := range []bool{false, true} {
			kind := map[bool]string{false: "plain", true: "sealed"}[sealed]
			b.Run(name+"/"+kind+"/file", func(b *testing.B) {
				f, err := os.Create(filepath.Join(b.TempDir(), "seg"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				var w io.Writer = f
				var sw *Writer
				if sealed {
					if sw, err = NewWriter(f, testHeader("yard"), testKey(b)); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(size))
				n := 0
				for b.Loop() {
					if sealed {
						err = sw.WriteRecord(frag, nil)
					} else {
						_, err = w.Write(frag)
					}
					if err != nil {
						b.Fatal(err)
					}
					// A segment of 60 fragments, then the next file (keeps
					// the page cache small, as a 60 s segment does).
					if n++; n%60 == 0 {
						if err := f.Truncate(0); err != nil {
							b.Fatal(err)
						}
						if _, err := f.Seek(0, 0); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkReadAt is the decryption cost of export and playback: reading a
// sealed segment's plaintext front to back in 64 KiB reads.
func BenchmarkReadAt(b *testing.B) {
	k := testKey(b)
	us := make([][]byte, 60)
	for i := range us {
		us[i] = make([]byte, 512<<10)
	}
	file := sealUnits(b, testHeader("yard"), k, us, true)
	rd, err := Open(bytes.NewReader(file), int64(len(file)), k)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(rd.Size())
	for b.Loop() {
		for off := int64(0); off < rd.Size(); off += int64(len(buf)) {
			if _, err := rd.ReadAt(buf, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkNewSegmentKey is the recorder's cost per segment (one HPKE
// encapsulation): once a minute per camera.
func BenchmarkNewSegmentKey(b *testing.B) {
	ring, err := NewSite()
	if err != nil {
		b.Fatal(err)
	}
	epub, _, err := NewEpoch(ring.Public(), 7)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		k, _, _, err := NewSegmentKey(epub, "yard", testStart)
		if err != nil {
			b.Fatal(err)
		}
		k.Wipe()
	}
}

// BenchmarkOpenSegmentKey is a reader's cost per segment with the epoch
// key open (an hour's export opens 60 per camera).
func BenchmarkOpenSegmentKey(b *testing.B) {
	ring, err := NewSite()
	if err != nil {
		b.Fatal(err)
	}
	epub, esealed, err := NewEpoch(ring.Public(), EpochFor(testStart))
	if err != nil {
		b.Fatal(err)
	}
	ek, err := ring.OpenEpoch(epub, esealed)
	if err != nil {
		b.Fatal(err)
	}
	_, h, sealed, err := NewSegmentKey(epub, "yard", testStart)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		k, err := ek.OpenDataKey(h, sealed)
		if err != nil {
			b.Fatal(err)
		}
		k.Wipe()
	}
}
