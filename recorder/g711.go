package recorder

import "github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"

// MP4 has no G.711 sample entry that players agree on, so G.711 is stored
// as 16-bit big-endian LPCM: a lossless expansion (each 8-bit code maps to
// one 16-bit value), not a transcode. The tables are built once per
// connection from mediacommon's decoder, then applied without allocating.
func g711Table(mulaw bool) *[256][2]byte {
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	var pcm []byte
	if mulaw {
		var m g711.Mulaw
		m.Unmarshal(codes)
		pcm = m
	} else {
		var a g711.Alaw
		a.Unmarshal(codes)
		pcm = a
	}
	var t [256][2]byte
	for i := range t {
		t[i] = [2]byte{pcm[2*i], pcm[2*i+1]}
	}
	return &t
}

func g711ToLPCM(dst, samples []byte, t *[256][2]byte) []byte {
	for _, c := range samples {
		dst = append(dst, t[c][0], t[c][1])
	}
	return dst
}
