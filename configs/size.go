package configs

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FreeSpace is a free-space floor: either a percentage of the filesystem or
// an absolute number of bytes.
type FreeSpace struct {
	Percent float64 // 0..100, used when Bytes == 0
	Bytes   uint64
}

var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
}

// ParseFreeSpace parses "5%" or "20GiB".
func ParseFreeSpace(s string) (FreeSpace, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v >= 100 {
			return FreeSpace{}, fmt.Errorf("invalid percentage %q (0%% to 99%%)", s)
		}
		return FreeSpace{Percent: v}, nil
	}
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || v < 0 {
				break
			}
			return FreeSpace{Bytes: uint64(v * float64(u.mult))}, nil
		}
	}
	return FreeSpace{}, fmt.Errorf("invalid size %q (use e.g. 5%% or 20GiB)", s)
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (f *FreeSpace) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseFreeSpace(n.Value)
	if err != nil {
		return nodeError(n, err.Error())
	}
	*f = v
	return nil
}

// Floor returns the number of bytes that must stay free on a filesystem of
// the given total size.
func (f FreeSpace) Floor(total uint64) uint64 {
	if f.Bytes > 0 {
		return f.Bytes
	}
	return uint64(float64(total) * f.Percent / 100)
}

func (f FreeSpace) String() string {
	if f.Bytes > 0 {
		return fmt.Sprintf("%dB", f.Bytes)
	}
	return strconv.FormatFloat(f.Percent, 'f', -1, 64) + "%"
}

// MarshalYAML writes the floor as Parse reads it.
func (f FreeSpace) MarshalYAML() (any, error) { return f.String(), nil }
