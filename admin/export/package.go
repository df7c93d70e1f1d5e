package export

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"

	"vahti/directio"
	"vahti/mp4read"
	"vahti/seal"
)

// Fixed names inside a package besides the clips.
const (
	ManifestName       = "manifest.json"
	SignatureName      = "manifest.json.sig"
	AllowedSignersName = "allowed_signers"
	ReadmeName         = "README.txt"
)

// writeZip writes the whole package to path (created or truncated, fsynced).
// A source whose bytes no longer match the catalog ends the attempt with a
// *tamperErr and no error; the caller re-plans without it.
//
// It returns the zip's SHA-256 and size, hashed as it is written.
func (e *Exporter) writeZip(ctx context.Context, path string, plans []*plan, man *Manifest, signer ssh.Signer, progress Progress) (string, int64, *tamperErr, error) {
	var est int64 = 1 << 20
	for _, p := range plans {
		for _, c := range p.clips {
			est += c.size + 1024
		}
	}
	f, sink, err := createPackage(path, est)
	if err != nil {
		return "", 0, nil, err
	}
	defer f.Close()
	defer sink.sum() // stops the hashing goroutine on early returns
	zw := zip.NewWriter(sink)
	created := man.Created.UTC
	pw := newProgressWriter(plans, progress)
	ci := 0
	for _, p := range plans {
		for _, c := range p.clips {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: c.name, Method: zip.Store, Modified: created})
			if err != nil {
				return "", 0, nil, fmt.Errorf("export: %w", err)
			}
			n, sum, terr, err := writeClip(ctx, pw.wrap(w), p, c, true)
			if err != nil || terr != nil {
				return "", 0, terr, err
			}
			if n != c.size {
				return "", 0, nil, fmt.Errorf("export: clip %s: wrote %d bytes, planned %d", c.name, n, c.size)
			}
			man.Clips[ci].SHA256 = sum
			man.Clips[ci].Bytes = n
			ci++
		}
	}
	mj, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return "", 0, nil, fmt.Errorf("export: manifest: %w", err)
	}
	mj = append(mj, '\n')
	sig, err := SignSSHSIG(signer, Namespace, mj)
	if err != nil {
		return "", 0, nil, fmt.Errorf("export: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{ManifestName, mj},
		{SignatureName, sig},
		{AllowedSignersName, []byte(AllowedSigners(signer.PublicKey()))},
		{ReadmeName, []byte(readme(man, signer.PublicKey()))},
	}
	for _, fl := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fl.name, Method: zip.Deflate, Modified: created})
		if err == nil {
			_, err = w.Write(fl.data)
		}
		if err != nil {
			return "", 0, nil, fmt.Errorf("export: %s: %w", fl.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return "", 0, nil, fmt.Errorf("export: %w", err)
	}
	sum, n, err := finishPackage(f, sink)
	return sum, n, nil, err
}

// createPackage creates (or truncates) the package file at path, with
// room for est bytes, and the writer that hashes what goes into it.
// Whole blocks go to the disk by O_DIRECT: a package is written once
// and read back rarely, and through the page cache its copy into new
// cache pages cost more CPU than its SHA-256 (package directio). They go
// from the hashing writer's chunks themselves, 1 MiB a write.
func createPackage(path string, est int64) (*directio.File, *hashingWriter, error) {
	f, err := directio.OpenFile(path, os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	preallocate(f.File(), est)
	if f.Direct() {
		return f, newHashingWriter(f), nil
	}
	return f, newHashingWriter(&writeback{f: f}), nil
}

// finishPackage waits for the package's bytes to reach its file, puts
// the rest in it, drops the unused preallocation, fsyncs and closes, and
// returns the package's SHA-256 and size.
func finishPackage(f *directio.File, sink *hashingWriter) (string, int64, error) {
	sum, err := sink.finish()
	if err == nil {
		err = f.Flush()
	}
	if err == nil {
		err = f.Truncate(sink.n)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return "", 0, fmt.Errorf("export: %w", err)
	}
	return sum, sink.n, nil
}

// writeback writes to f and has the kernel start writing each 32 MiB to
// disk as soon as it is written (see startWriteback), so the disk writes
// while the exporter hashes and the final fsync waits for little. Only
// where f goes through the page cache: direct writes are on the disk
// when they return.
type writeback struct {
	f          *directio.File
	n, started int64
}

const writebackChunk = 32 << 20

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if w.n-w.started >= writebackChunk {
		startWriteback(w.f.File(), w.started, w.n-w.started)
		w.started = w.n
	}
	return n, err
}

// hashingWriter copies what it is given into 1 MiB chunks and hands each
// to two goroutines of its own: one writes it to w, one hashes it. The
// zip's SHA-256 is the third hash over the same bytes (after the
// sources' and the clip's): on two cores it must not run on the
// goroutine building the zip. Nor may the disk: a direct write returns
// only when the disk has the bytes, and in a Go execution trace of a
// one-hour export the zip's goroutine spent 1.09 s of 2.14 s in those
// writes while the hashing behind it ran dry. So Write returns once the
// bytes are copied (the zip's bufio buffer is reused as soon as it
// does); the bounded set of chunks holds the zip back when the disk or
// the hashing falls behind. The chunks are directio buffers, so a
// directio.File writes them to the disk without another copy. A failed
// write to w is returned by the next Write and by finish; the bytes
// after it are not written.
type hashingWriter struct {
	n      int64 // bytes accepted
	cur    *hashChunk
	hash   chan *hashChunk
	disk   chan *hashChunk
	free   chan *hashChunk
	result chan string
	werr   chan error
	failed atomic.Pointer[error]
	done   string
	err    error
	closed bool
}

// hashChunk is a piece of the package on its way to the disk and the
// hash; it is free again once both are done with it.
type hashChunk struct {
	b    []byte
	refs atomic.Int32
}

const (
	hashChunkSize = 1 << 20
	// hashChunks bounds the package bytes in flight: a direct write
	// holds its chunk while the zip fills more.
	hashChunks = 16
)

func newHashingWriter(w io.Writer) *hashingWriter {
	hw := &hashingWriter{
		hash: make(chan *hashChunk, hashChunks), disk: make(chan *hashChunk, hashChunks),
		free: make(chan *hashChunk, hashChunks), result: make(chan string, 1), werr: make(chan error, 1),
	}
	// One allocation for all the chunks, so it can have huge pages.
	slab := directio.Buffer(hashChunks * hashChunkSize)
	for i := 0; i < hashChunks; i++ {
		hw.free <- &hashChunk{b: slab[i*hashChunkSize : i*hashChunkSize : (i+1)*hashChunkSize]}
	}
	go func() {
		h := sha256.New()
		for c := range hw.hash {
			h.Write(c.b)
			hw.release(c)
		}
		hw.result <- hex.EncodeToString(h.Sum(nil))
	}()
	go func() {
		var err error
		for c := range hw.disk {
			if err == nil {
				if _, err = w.Write(c.b); err != nil {
					hw.failed.Store(&err)
				}
			}
			hw.release(c)
		}
		hw.werr <- err
	}()
	return hw
}

func (hw *hashingWriter) release(c *hashChunk) {
	if c.refs.Add(-1) == 0 {
		c.b = c.b[:0]
		hw.free <- c
	}
}

func (hw *hashingWriter) send() {
	hw.cur.refs.Store(2)
	hw.hash <- hw.cur
	hw.disk <- hw.cur
	hw.cur = nil
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	if hw.closed {
		return 0, errors.New("package writer: write after finish")
	}
	if e := hw.failed.Load(); e != nil {
		return 0, *e
	}
	for q := p; len(q) > 0; {
		if hw.cur == nil {
			hw.cur = <-hw.free
		}
		k := copy(hw.cur.b[len(hw.cur.b):cap(hw.cur.b)], q)
		hw.cur.b = hw.cur.b[:len(hw.cur.b)+k]
		q = q[k:]
		if len(hw.cur.b) == cap(hw.cur.b) {
			hw.send()
		}
	}
	hw.n += int64(len(p))
	return len(p), nil
}

// finish waits until every byte is written to w and hashed, and returns
// the hex SHA-256 of everything written and the first write error.
func (hw *hashingWriter) finish() (string, error) {
	if !hw.closed {
		hw.closed = true
		if hw.cur != nil && len(hw.cur.b) > 0 {
			hw.send()
		}
		close(hw.hash)
		close(hw.disk)
		hw.done, hw.err = <-hw.result, <-hw.werr
	}
	return hw.done, hw.err
}

// sum is finish's SHA-256 alone: deferred, it stops both goroutines on
// an early return.
func (hw *hashingWriter) sum() string {
	s, _ := hw.finish()
	return s
}

// loaded is a source file read whole, with its hash checked.
type loaded struct {
	src  int32
	buf  []byte // the fMP4 bytes (a sealed source's plaintext)
	terr *tamperErr
	err  error // the export cannot go on (the keys are gone)
}

// readSource reads a source whole, once: the bytes on disk (the catalog's
// SHA-256 is of these) and its fMP4 bytes, the same slice for a plain
// file, decrypted from the very bytes read for a sealed one. Both come
// from bufPool.
func readSource(path string, unwrap seal.Unwrapper) (disk, plain []byte, sealed bool, err error) {
	sf, err := mp4read.OpenSegment(path, unwrap)
	if err != nil {
		return nil, nil, false, err
	}
	defer sf.Close()
	sealed = sf.Sealed()
	var pbuf []byte
	if sealed {
		pbuf = bufPool.Get().([]byte)
	}
	disk, plain, err = sf.ReadAll(bufPool.Get().([]byte), pbuf)
	return disk, plain, sealed, err
}

var bufPool = sync.Pool{New: func() any { return []byte(nil) }}

// readAhead is how many sources are read, hashed and checked ahead of the
// writer (about that many segment files of memory): enough to keep both
// the disk and the hashing goroutines busy, whatever the clip's length.
const readAhead = 3

// sourceReaders is how many sources are read and checked at once.
const sourceReaders = 2

// loadSource reads source si whole and, with verify, checks it.
func loadSource(p *plan, si int32, verify bool, ic *mp4read.InitCache) loaded {
	s := p.sources[si]
	disk, buf, sealed, err := readSource(s.abs, p.unwrap)
	l := loaded{src: si, buf: buf}
	switch {
	case errors.Is(err, mp4read.ErrLocked):
		// The keys went (the last keeper logged out) while the export
		// ran: not damage, the export fails with the reason.
		l.err = err
	case err != nil:
		l.terr = &tamperErr{seg: s.seg, status: SourceDamaged, detail: "unreadable while exporting: " + err.Error()}
	case verify && s.seg.SHA256 != "":
		l.terr = checkSource(s, disk, buf, sealed, ic)
	}
	if sealed && disk != nil {
		bufPool.Put(disk[:0]) // hashed; only the plaintext is copied
	}
	return l
}

// writeClip writes one clip: the header, then every piece copied from its
// source. Every source byte is read once: each source is read whole in a
// goroutine ahead of the writer, and with verify its SHA-256 compared with
// the catalog, and the sample table the plan used checked against the
// bytes, before any of its bytes is used. The clip's own SHA-256 runs in a
// third goroutine fed the same slices in order, and the package's in a
// fourth (hashingWriter): on two cores the hashing overlaps the reading
// and writing. Memory is a few segment files, whatever the clip's length.
func writeClip(ctx context.Context, w io.Writer, p *plan, c *clipPlan, verify bool) (n int64, sum string, terr *tamperErr, err error) {
	lastUse := map[int32]int{}
	var order []int32
	for i, pc := range c.pieces {
		if pc.src < 0 {
			continue
		}
		if _, ok := lastUse[pc.src]; !ok {
			order = append(order, pc.src)
		}
		lastUse[pc.src] = i
	}
	ctx, cancel := context.WithCancel(ctx)
	// Sources are read by sourceReaders goroutines, each taking the next
	// source in order once one of readAhead slots is free, and handed to
	// the writer in order through res (each buffered: a reader never
	// waits on the writer). Two at once keep a cold disk's queue and both
	// cores busy at a clip's start, when nothing else can run yet: the
	// writer needs a source checked before it uses a byte of it. The
	// lowest source not yet handed over always holds a slot, so the
	// writer never waits for a reader that waits for a slot.
	res := make([]chan loaded, len(order))
	for i := range res {
		res[i] = make(chan loaded, 1)
	}
	slots := make(chan struct{}, readAhead)
	var next atomic.Int32
	var wg sync.WaitGroup
	for range min(sourceReaders, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ic := &mp4read.InitCache{}
			for {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1)) - 1
				if i >= len(order) {
					return
				}
				if j := i + sourceReaders; j < len(order) {
					prefetch(p.sources[order[j]].abs)
				}
				res[i] <- loadSource(p, order[i], verify, ic)
			}
		}()
	}
	taken := 0
	defer func() {
		cancel()
		wg.Wait()
		for _, r := range res[taken:] {
			select {
			case l := <-r:
				bufPool.Put(l.buf[:0])
			default:
			}
		}
	}()
	type hashItem struct{ data, release []byte }
	hch := make(chan hashItem, 256)
	hdone := make(chan string)
	go func() {
		h := sha256.New()
		for it := range hch {
			h.Write(it.data)
			if it.release != nil {
				bufPool.Put(it.release[:0])
			}
		}
		hdone <- hex.EncodeToString(h.Sum(nil))
	}()
	hashClosed := false
	finishHash := func() string {
		if hashClosed {
			return ""
		}
		hashClosed = true
		close(hch)
		return <-hdone
	}
	defer finishHash()
	held := map[int32][]byte{}
	for i, pc := range c.pieces {
		if pc.src < 0 {
			k, err := w.Write(c.header)
			n += int64(k)
			if err != nil {
				return n, "", nil, err
			}
			hch <- hashItem{data: c.header}
			continue
		}
		buf, ok := held[pc.src]
		if !ok {
			if taken == len(res) {
				return n, "", nil, fmt.Errorf("clip %s: internal error: more sources than planned", c.name)
			}
			var l loaded
			select {
			case l = <-res[taken]:
				taken++
				<-slots
			case <-ctx.Done():
				return n, "", nil, ctx.Err()
			}
			if l.src != pc.src {
				return n, "", nil, fmt.Errorf("clip %s: internal error: sources out of order", c.name)
			}
			if l.err != nil {
				bufPool.Put(l.buf[:0])
				return n, "", nil, fmt.Errorf("clip %s: %w", c.name, l.err)
			}
			if l.terr != nil {
				bufPool.Put(l.buf[:0])
				return n, "", l.terr, nil
			}
			buf = l.buf
			held[pc.src] = buf
		}
		if pc.srcOff+pc.n > int64(len(buf)) {
			s := p.sources[pc.src]
			return n, "", &tamperErr{seg: s.seg, status: SourceDamaged, detail: "changed size while exporting"}, nil
		}
		data := buf[pc.srcOff : pc.srcOff+pc.n]
		k, err := w.Write(data)
		n += int64(k)
		if err != nil {
			return n, "", nil, err
		}
		it := hashItem{data: data}
		if lastUse[pc.src] == i {
			delete(held, pc.src)
			it.release = buf
		}
		hch <- it
	}
	return n, finishHash(), nil, nil
}

// statusIndex: the sidecar index a source was planned from does not match
// the source's bytes. Not a manifest status: the export plans that
// segment again from the file itself.
const statusIndex = "index-mismatch"

// checkSource compares a source read whole with its catalogued SHA-256
// (of disk, the bytes on disk: a sealed file as sealed), then the sample
// table its plan came from with the table of these very bytes (plain, the
// fMP4 bytes): a forged or stale index must not move or drop a frame. A
// plain source planned from its own boxes gets its sidecar index
// (re)written here, from bytes just verified against the catalogue; a
// sealed one does not (an index in clear would show each frame's size,
// more than a sealed file's record lengths do).
func checkSource(s *source, disk, plain []byte, sealed bool, ic *mp4read.InitCache) *tamperErr {
	h := sha256.Sum256(disk)
	if got := hex.EncodeToString(h[:]); got != s.seg.SHA256 {
		return &tamperErr{seg: s.seg, status: SourceTampered, detail: fmt.Sprintf("file SHA-256 %s, catalog %s", got, s.seg.SHA256)}
	}
	seg, err := mp4read.Read(bytes.NewReader(plain), int64(len(plain)), ic)
	var ix []byte
	if err == nil {
		ix, err = mp4read.EncodeIndex(seg, s.seg.SHA256)
	}
	if s.indexSum != nil {
		if err != nil || !bytes.Equal(ix[len(ix)-32:], s.indexSum[:]) {
			return &tamperErr{seg: s.seg, status: statusIndex, detail: "its index does not match the segment"}
		}
		return nil
	}
	if err == nil && !sealed {
		_ = mp4read.WriteIndex(s.abs, ix) // best effort: only a cache
	}
	return nil
}

// prefetch asks the kernel to start reading a source that comes next.
func prefetch(path string) {
	if f, err := os.Open(path); err == nil {
		willNeed(f)
		f.Close()
	}
}

func readme(m *Manifest, pub ssh.PublicKey) string {
	fp := Fingerprint(pub)
	return fmt.Sprintf(`VAHTI – TALLENNEPAKETTI / EVIDENCE PACKAGE
Paketti / Package: %[1]s
Luotu / Created: %[2]s (%[3]s)

SUOMEKSI
========
Tämä paketti sisältää valvontakameratallenteita muuttamattomina (ei uudelleenpakkausta)
MP4-tiedostoina, sekä tiedoston manifest.json, joka luettelee jokaisen tiedoston
SHA-256-tiivisteen, lähdetallenteet, pyydetyn ja toteutuneen aikavälin (UTC ja Suomen aika),
tallennuskatkot, viejän, syyn ja asiaviitteen. manifest.json on allekirjoitettu laitteen
Ed25519-avaimella (manifest.json.sig, OpenSSH SSHSIG -muoto, nimiavaruus %[4]q).

Tarkistus (OpenSSH 8.2 tai uudempi), pura paketti ja aja hakemistossa:

  ssh-keygen -Y verify -f allowed_signers -I %[5]s -n %[4]s -s manifest.json.sig < manifest.json
  sha256sum <tiedosto>.mp4      (vertaa manifest.json:n "clips"-kohdan sha256-arvoon)

tai Vahti-laitteella:  vahti verify-export PAKETTI.zip

Tärkeää: allowed_signers-tiedosto on paketin sisällä, joten se todistaa vain, että
allekirjoittaja hallitsi sitä avainta. Vertaa avaimen sormenjälkeä laitteen julkaistuun
avaimeen (laitteella: vahti pubkey --json tai ssh-keygen -lf):  %[6]s

IN ENGLISH
==========
This package holds CCTV recordings, unmodified (no re-encoding), as MP4 files, and
manifest.json, which lists every file's SHA-256, the source recordings, the requested and
actual time ranges (UTC and Finnish local time), recording gaps, the exporter, the reason
and the case reference. manifest.json is signed with the recorder box's Ed25519 key
(manifest.json.sig, OpenSSH SSHSIG format, namespace %[4]q).

To verify (OpenSSH 8.2 or newer), unzip the package and run in its folder:

  ssh-keygen -Y verify -f allowed_signers -I %[5]s -n %[4]s -s manifest.json.sig < manifest.json
  sha256sum <file>.mp4          (compare with the sha256 under "clips" in manifest.json)

or on a Vahti box:  vahti verify-export PACKAGE.zip

Important: allowed_signers travels inside the package, so on its own it only proves that
the signer held that key. Compare the key's fingerprint with the box's published key
(on the box: vahti pubkey --json, or ssh-keygen -lf):  %[6]s
`, m.PackageID, m.Created.UTC.Format("2006-01-02T15:04:05Z"), m.Created.Local, Namespace, SignerID, fp)
}
