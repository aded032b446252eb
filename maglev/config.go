package maglev

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
)

// Mode selects the table-filling algorithm.
type Mode uint8

const (
	// ModeCilium fills tables exactly as Cilium's pkg/maglev (v1.17 and
	// later) does: same backend hash input, same murmur3 permutations, same
	// turn order and same weight handling, so a table built here is
	// identical, slot for slot, to the one a Cilium agent programs for the
	// same backends, table size and hash seed. It is the zero value.
	ModeCilium Mode = iota
	// ModeNative is this package's own algorithm: the same Maglev
	// permutations, a binary backend key instead of a formatted string, and
	// weights honoured by a virtual-time schedule in exact integer
	// arithmetic. See the package documentation for what it does better.
	ModeNative
)

// String returns "cilium" or "native".
func (m Mode) String() string {
	switch m {
	case ModeCilium:
		return "cilium"
	case ModeNative:
		return "native"
	default:
		return "Mode(" + strconv.Itoa(int(m)) + ")"
	}
}

const (
	// DefaultTableSize is Cilium's default table size (maglev.tableSize,
	// --bpf-lb-maglev-table-size).
	DefaultTableSize = 16381
	// DefaultHashSeed is Cilium's default cluster-wide seed
	// (maglev.hashSeed, --bpf-lb-maglev-hash-seed).
	DefaultHashSeed = "JLfvgnHc2kaSUFaI"
	// MinTableSize and MaxTableSize bound the table size M. They are the
	// smallest and largest sizes Cilium accepts.
	MinTableSize = 251
	MaxTableSize = 131071
	// MaxCiliumWeight is the largest weight ModeCilium accepts: Cilium
	// stores backend weights as uint16.
	MaxCiliumWeight = 1<<16 - 1
	// MaxWeight is the largest weight ModeNative accepts.
	MaxWeight = 1<<31 - 1
)

// CiliumTableSizes lists the table sizes a Cilium agent accepts. Any prime in
// [MinTableSize, MaxTableSize] works here, in both modes, but only these can
// be configured on Cilium itself.
func CiliumTableSizes() []int {
	return []int{251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071}
}

// RecommendedTableSize returns the smallest of CiliumTableSizes that is at
// least 100 times n, as the Maglev paper advises (M > 100*N keeps every
// backend's share of the table within about 1% of its target), or
// MaxTableSize when no listed size is that large.
func RecommendedTableSize(n int) int {
	sizes := CiliumTableSizes()
	for _, m := range sizes {
		if m >= 100*n {
			return m
		}
	}
	return sizes[len(sizes)-1]
}

// Config configures a Builder. The zero value is valid and reproduces
// Cilium's defaults: ModeCilium, DefaultTableSize, DefaultHashSeed.
type Config struct {
	// Mode selects the algorithm; the zero value is ModeCilium.
	Mode Mode
	// TableSize is M, the number of slots. It must be a prime in
	// [MinTableSize, MaxTableSize]; 0 means DefaultTableSize.
	TableSize int
	// HashSeed is the base64 encoding of 12 bytes, as in Cilium's
	// maglev.hashSeed; "" means DefaultHashSeed. Bytes 0-3 seed the backend
	// permutations, bytes 4-7 the IPv4 flow hash, bytes 8-11 the IPv6 flow
	// hash.
	HashSeed string
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.TableSize == 0 {
		c.TableSize = DefaultTableSize
	}
	if c.HashSeed == "" {
		c.HashSeed = DefaultHashSeed
	}
	return c
}

// Validate reports whether c, after defaulting, is usable. The error is a
// *ConfigError wrapping ErrInvalidMode, ErrInvalidTableSize or ErrInvalidSeed.
func (c Config) Validate() error {
	_, _, err := c.resolve()
	return err
}

// resolve defaults and validates c and parses its seed.
func (c Config) resolve() (Config, Seed, error) {
	c = c.withDefaults()
	if c.Mode > ModeNative {
		return c, Seed{}, &ConfigError{Field: "Mode", Value: c.Mode.String(), Reason: "must be ModeCilium or ModeNative", Err: ErrInvalidMode}
	}
	if err := checkTableSize(c.TableSize); err != nil {
		return c, Seed{}, err
	}
	seed, err := ParseSeed(c.HashSeed)
	if err != nil {
		return c, Seed{}, err
	}
	return c, seed, nil
}

func checkTableSize(m int) error {
	value := strconv.Itoa(m)
	if m < MinTableSize || m > MaxTableSize {
		return &ConfigError{Field: "TableSize", Value: value,
			Reason: fmt.Sprintf("must lie in [%d, %d]", MinTableSize, MaxTableSize), Err: ErrInvalidTableSize}
	}
	if !big.NewInt(int64(m)).ProbablyPrime(0) {
		return &ConfigError{Field: "TableSize", Value: value,
			Reason: "must be a prime (Maglev permutations only cover every slot for prime sizes); Cilium's sizes are " + fmt.Sprint(CiliumTableSizes()),
			Err:    ErrInvalidTableSize}
	}
	return nil
}

// Seed is a decoded hash seed. Cilium derives three 32-bit seeds from the 12
// bytes of maglev.hashSeed, each read big-endian.
type Seed struct {
	// Murmur seeds murmur3 over the backend keys (Cilium's SeedMurmur).
	Murmur uint32
	// Flow4 seeds the IPv4 flow hash (Cilium's SeedJhash0, the datapath's
	// hash_init4_seed).
	Flow4 uint32
	// Flow6 seeds the IPv6 flow hash (Cilium's SeedJhash1, the datapath's
	// hash_init6_seed).
	Flow6 uint32
}

// ParseSeed decodes a base64 (standard encoding, padded) string of exactly
// 12 bytes. The error is a *ConfigError wrapping ErrInvalidSeed.
func ParseSeed(s string) (Seed, error) {
	d, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Seed{}, &ConfigError{Field: "HashSeed", Value: s, Reason: "not standard base64: " + err.Error(), Err: ErrInvalidSeed}
	}
	if len(d) != 12 {
		return Seed{}, &ConfigError{Field: "HashSeed", Value: s,
			Reason: fmt.Sprintf("decodes to %d bytes, want 12 (create one with: head -c12 /dev/urandom | base64)", len(d)), Err: ErrInvalidSeed}
	}
	return Seed{
		Murmur: binary.BigEndian.Uint32(d[0:4]),
		Flow4:  binary.BigEndian.Uint32(d[4:8]),
		Flow6:  binary.BigEndian.Uint32(d[8:12]),
	}, nil
}

// MustParseSeed is ParseSeed for constants; it panics on error.
func MustParseSeed(s string) Seed {
	seed, err := ParseSeed(s)
	if err != nil {
		panic(err)
	}
	return seed
}

// String returns the base64 form ParseSeed accepts.
func (s Seed) String() string {
	var d [12]byte
	binary.BigEndian.PutUint32(d[0:4], s.Murmur)
	binary.BigEndian.PutUint32(d[4:8], s.Flow4)
	binary.BigEndian.PutUint32(d[8:12], s.Flow6)
	return base64.StdEncoding.EncodeToString(d[:])
}
