package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStatus reads /proc/self/status: VmRSS, VmHWM, RssAnon and RssFile,
// in bytes.
func procStatus() (memStatus, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	var m memStatus
	fields := map[string]*uint64{"VmRSS": &m.rss, "VmHWM": &m.hwm, "RssAnon": &m.anon, "RssFile": &m.file}
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, val, ok := strings.Cut(s.Text(), ":")
		p := fields[key]
		if !ok || p == nil {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return memStatus{}, fmt.Errorf("/proc/self/status: %s: %w", key, err)
		}
		*p = kb << 10
	}
	return m, s.Err()
}
