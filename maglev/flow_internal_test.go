package maglev

import "encoding/binary"

// jhash is the kernel's jhash over a byte string (Bob Jenkins' lookup3
// hashlittle). It backs the test that ties jhashMix and jhashFinal to
// lookup3's published test vectors.
func jhash(key []byte, initval uint32) uint32 {
	n := uint32(len(key))
	a := jhashInit + n + initval
	b, c := a, a
	for len(key) > 12 {
		a += binary.LittleEndian.Uint32(key[0:])
		b += binary.LittleEndian.Uint32(key[4:])
		c += binary.LittleEndian.Uint32(key[8:])
		a, b, c = jhashMix(a, b, c)
		key = key[12:]
	}
	if len(key) == 0 {
		return c
	}
	var tail [12]byte
	copy(tail[:], key)
	a += binary.LittleEndian.Uint32(tail[0:])
	b += binary.LittleEndian.Uint32(tail[4:])
	c += binary.LittleEndian.Uint32(tail[8:])
	return jhashFinal(a, b, c)
}
