//go:build !linux

package recorder

import "net"

// socketHush: only Linux is known to keep a quiet socket from waking the
// poller; elsewhere the batches still save the reads.
func socketHush(net.Conn) func(quiet bool) { return nil }
