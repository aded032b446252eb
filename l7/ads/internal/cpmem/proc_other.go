//go:build !linux

package main

import "errors"

// procStatus needs Linux's /proc.
func procStatus() (memStatus, error) {
	return memStatus{}, errors.New("VmRSS and VmHWM are read from /proc/self/status: Linux only")
}
