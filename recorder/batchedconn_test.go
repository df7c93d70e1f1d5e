package recorder

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedConn returns one scripted chunk per Read.
type scriptedConn struct {
	net.Conn
	chunks [][]byte
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// The batched RTSP reader passes every byte through in order, waits before
// a read only when the read before it emptied the socket, and never when
// the buffer was filled (a camera faster than the batches is not capped).
func TestBatchedConnReadsEverythingAndWaitsOnlyWhenDrained(t *testing.T) {
	var want []byte
	var chunks [][]byte
	for i, n := range []int{10, 3000, rtspReadBuffer, rtspReadBuffer + 500, 7, 1} {
		b := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, b...)
		chunks = append(chunks, b)
	}
	var waits int
	var playing atomic.Bool
	playing.Store(true)
	c := &batchedConn{Conn: &scriptedConn{chunks: chunks}, playing: &playing, sleepFor: func(time.Duration) { waits++ }}
	got, err := io.ReadAll(struct{ io.Reader }{c})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
	}
	// Reads: 10 (drained), 3000 (drained), 64 KiB (full), 64 KiB (full),
	// 500 (drained), 7 (drained), 1 (drained), EOF. A wait precedes each
	// read that follows a drained one: 3000, the first 64 KiB, 7, 1, EOF.
	if waits != 5 {
		t.Errorf("%d waits, want 5", waits)
	}
}

// Until the session plays, the connection carries the RTSP set-up's
// replies, each awaited by the client: they are read at once, never held
// until a tick.
func TestBatchedConnDoesNotWaitDuringSetUp(t *testing.T) {
	replies := [][]byte{[]byte("RTSP/1.0 200 OK\r\n\r\n"), []byte("RTSP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")}
	var waits int
	c := &batchedConn{Conn: &scriptedConn{chunks: replies}, playing: new(atomic.Bool), sleepFor: func(time.Duration) { waits++ }}
	for _, want := range replies {
		p := make([]byte, 1024)
		n, err := c.Read(p)
		if err != nil || !bytes.Equal(p[:n], want) {
			t.Fatalf("read %q (%v), want %q", p[:n], err, want)
		}
	}
	if waits != 0 {
		t.Errorf("%d waits during set-up, want none", waits)
	}
}

// Connections that drain their sockets at different moments within one
// readCoalesce window all wait until the same instant, so the runtime
// wakes once for all of them; the wait is never zero nor longer than
// readCoalesce.
func TestBatchedConnWaitsEndTogether(t *testing.T) {
	base := time.Date(2026, 12, 2, 16, 40, 0, 0, time.UTC) // a tick
	var end time.Time
	for _, off := range []time.Duration{0, time.Nanosecond, time.Millisecond, 25 * time.Millisecond, readCoalesce - time.Nanosecond} {
		now := base.Add(off)
		w := untilTick(now)
		if w <= 0 || w > readCoalesce {
			t.Fatalf("at +%v: wait %v, want (0, %v]", off, w, readCoalesce)
		}
		if e := now.Add(w); end.IsZero() {
			end = e
		} else if !e.Equal(end) {
			t.Errorf("at +%v: the wait ends at %v, the others' at %v", off, e, end)
		}
	}
	if !end.Equal(base.Add(readCoalesce)) {
		t.Errorf("waits end at %v, want the next tick %v", end, base.Add(readCoalesce))
	}
	if w := untilTick(time.Unix(0, -1)); w != time.Nanosecond {
		t.Errorf("before 1970: wait %v, want 1ns", w)
	}
}
