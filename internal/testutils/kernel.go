package testutils

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseKernelRelease parses the version at the start of a Linux kernel release string, as printed by
// `uname -r`: "6.18.0-1-amd64", "5.15.0" and "6.6.30+deb13" give 6.18.0, 5.15.0 and 6.6.30. The version ends
// at the first character that is neither a digit nor a dot. A missing patch level counts as 0 ("6.1-rc3"
// gives 6.1.0) and components after the third are ignored ("5.15.167.4-microsoft-standard-WSL2" gives
// 5.15.167).
func ParseKernelRelease(release string) (major, minor, patch int, err error) {
	end := strings.IndexFunc(release, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(release)
	}
	parts := strings.SplitN(release[:end], ".", 4)
	if len(parts) < 2 {
		return 0, 0, 0, fmt.Errorf("parse kernel release %q: want major.minor[.patch]", release)
	}
	var version [3]int
	for i := range min(len(parts), len(version)) {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return 0, 0, 0, fmt.Errorf("parse kernel release %q: component %d: %w", release, i+1, err)
		}
		version[i] = n
	}
	return version[0], version[1], version[2], nil
}
