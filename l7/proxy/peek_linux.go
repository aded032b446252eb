package proxy

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// peekLive reads one byte of a socket with MSG_PEEK and MSG_DONTWAIT, by
// the raw system call (no allocation): EAGAIN means the idle connection is
// open and quiet.
func peekLive(fd uintptr) bool {
	var b [1]byte
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return errno == unix.EAGAIN
}
