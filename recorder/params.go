package recorder

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// videoParams are the parameter sets of a video track (vps only for H.265).
type videoParams struct {
	vps, sps, pps []byte
}

func (p videoParams) equal(o videoParams) bool {
	return bytes.Equal(p.vps, o.vps) && bytes.Equal(p.sps, o.sps) && bytes.Equal(p.pps, o.pps)
}

func (p videoParams) complete(h265 bool) bool {
	return len(p.sps) > 0 && len(p.pps) > 0 && (!h265 || len(p.vps) > 0)
}

// setFrom updates p with any parameter set carried in au, copying bytes
// only when they change (the au's buffers belong to the depacketiser).
func (p *videoParams) setFrom(au [][]byte, isH265 bool) {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		var dst *[]byte
		if isH265 {
			switch h265.NALUType((n[0] >> 1) & 0b111111) {
			case h265.NALUType_VPS_NUT:
				dst = &p.vps
			case h265.NALUType_SPS_NUT:
				dst = &p.sps
			case h265.NALUType_PPS_NUT:
				dst = &p.pps
			}
		} else {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				dst = &p.sps
			case h264.NALUTypePPS:
				dst = &p.pps
			}
		}
		if dst != nil && !bytes.Equal(*dst, n) {
			*dst = append([]byte(nil), n...)
		}
	}
}

// own replaces the parameter sets in au by p's copies of them (setFrom
// has just made p hold the same bytes), so that nothing kept from au
// points into a buffer its depacketiser reuses.
func (p *videoParams) own(au [][]byte, isH265 bool) {
	for i, n := range au {
		if len(n) == 0 {
			continue
		}
		var src []byte
		if isH265 {
			switch h265.NALUType((n[0] >> 1) & 0b111111) {
			case h265.NALUType_VPS_NUT:
				src = p.vps
			case h265.NALUType_SPS_NUT:
				src = p.sps
			case h265.NALUType_PPS_NUT:
				src = p.pps
			}
		} else {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				src = p.sps
			case h264.NALUTypePPS:
				src = p.pps
			}
		}
		if src != nil && bytes.Equal(src, n) {
			au[i] = src
		}
	}
}

// isKeyframe reports whether au can start decoding (an IDR, or for H.265
// an IDR or CRA picture).
func isKeyframe(au [][]byte, isH265 bool) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if isH265 {
			switch h265.NALUType((n[0] >> 1) & 0b111111) {
			case h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP, h265.NALUType_CRA_NUT:
				return true
			}
		} else if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

// withParams returns au with the parameter sets in front when it lacks
// them, so that every keyframe in a file is self-contained and the DTS
// extractor can start on it. buf is reused.
func withParams(au [][]byte, p videoParams, isH265 bool, buf [][]byte) [][]byte {
	var hasV, hasS, hasP bool
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if isH265 {
			switch h265.NALUType((n[0] >> 1) & 0b111111) {
			case h265.NALUType_VPS_NUT:
				hasV = true
			case h265.NALUType_SPS_NUT:
				hasS = true
			case h265.NALUType_PPS_NUT:
				hasP = true
			}
		} else {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				hasS = true
			case h264.NALUTypePPS:
				hasP = true
			}
		}
	}
	buf = buf[:0]
	if isH265 && !hasV && len(p.vps) > 0 {
		buf = append(buf, p.vps)
	}
	if !hasS && len(p.sps) > 0 {
		buf = append(buf, p.sps)
	}
	if !hasP && len(p.pps) > 0 {
		buf = append(buf, p.pps)
	}
	if len(buf) == 0 {
		return au
	}
	return append(buf, au...)
}

// carriesOtherParams reports whether au holds a parameter set that differs
// from those in p.
func carriesOtherParams(au [][]byte, p videoParams, isH265 bool) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		var cur []byte
		if isH265 {
			switch h265.NALUType((n[0] >> 1) & 0b111111) {
			case h265.NALUType_VPS_NUT:
				cur = p.vps
			case h265.NALUType_SPS_NUT:
				cur = p.sps
			case h265.NALUType_PPS_NUT:
				cur = p.pps
			default:
				continue
			}
		} else {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				cur = p.sps
			case h264.NALUTypePPS:
				cur = p.pps
			default:
				continue
			}
		}
		if !bytes.Equal(cur, n) {
			return true
		}
	}
	return false
}
