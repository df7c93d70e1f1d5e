package recorder

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func rcvLowat(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}

// While a batched RTSP connection waits for its tick its socket is quiet
// (a low-water mark, so arriving packets do not wake the runtime), and it
// is back to normal for the read: a camera that sent less than the mark
// is read at once after the wait, and a read that finds the socket empty
// wakes on the next few bytes instead of waiting for 32 KiB that a quiet
// camera may never send.
func TestBatchedConnQuietsTheSocketOnlyWhileWaiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	cam := <-accepted
	defer cam.Close()

	var playing atomic.Bool
	playing.Store(true)
	c := &batchedConn{Conn: raw, playing: &playing, hush: socketHush(raw), drained: true}
	if c.hush == nil {
		t.Fatal("a TCP connection on Linux gets no hush")
	}
	var during []int
	var sendDuring []byte
	c.sleepFor = func(time.Duration) {
		during = append(during, rcvLowat(t, raw))
		if sendDuring != nil {
			cam.Write(sendDuring)
			time.Sleep(50 * time.Millisecond) // it arrives while the socket is quiet
		}
	}

	// A small packet arrives during the wait: the read after it gets it.
	sendDuring = []byte("one RTP packet, far below the mark")
	p := make([]byte, 1024)
	n, err := c.Read(p)
	if err != nil || string(p[:n]) != string(sendDuring) {
		t.Fatalf("read %q (%v), want %q", p[:n], err, sendDuring)
	}
	if len(during) != 1 || during[0] != hushBytes {
		t.Errorf("low-water mark during the wait: %v, want [%d]", during, hushBytes)
	}
	if v := rcvLowat(t, raw); v != 1 {
		t.Errorf("low-water mark after the wait: %d, want 1", v)
	}

	// Nothing during the wait: the read parks, and wakes on 5 bytes.
	sendDuring = nil
	go func() {
		time.Sleep(100 * time.Millisecond)
		cam.Write([]byte("later"))
	}()
	got := make(chan string, 1)
	go func() {
		n, err := c.Read(p)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(p[:n])
	}()
	select {
	case s := <-got:
		if s != "later" {
			t.Errorf("read %q, want %q", s, "later")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read after the wait did not wake on 5 bytes: the socket stayed quiet")
	}
}
