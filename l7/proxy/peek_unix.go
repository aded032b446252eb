//go:build unix && !linux

package proxy

import "golang.org/x/sys/unix"

// peekLive reads one byte of a socket with MSG_PEEK and MSG_DONTWAIT:
// EAGAIN means the idle connection is open and quiet.
func peekLive(fd uintptr) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == unix.EAGAIN
}
