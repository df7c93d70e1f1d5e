package recorder

import (
	"net"
	"syscall"
)

// hushBytes is the socket's receive low-water mark while a batched
// connection waits for its tick: below it, arriving data does not mark
// the socket readable. Small enough that raising it never grows the
// socket's receive buffer or clamps its window (the kernel does both only
// for a mark above half the buffer, 128 KiB by default).
const hushBytes = 32 << 10

// socketHush returns a function that makes c's socket quiet (SO_RCVLOWAT
// hushBytes) or normal (1), or nil when c is not a socket. Why: Go keeps
// every socket in its epoll set, edge-triggered, so each TCP segment that
// arrives wakes the runtime's poller even while the reading goroutine
// sleeps until its tick; at 16 cameras that was some 700 wake-ups a second
// and a third of the recorder's CPU (perf: epoll_wait, task switches).
func socketHush(c net.Conn) func(quiet bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(quiet bool) {
		v := 1
		if quiet {
			v = hushBytes
		}
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v)
		})
	}
}
