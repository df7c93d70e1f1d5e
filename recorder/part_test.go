package recorder

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// The hand-written fragment marshaller must produce exactly what
// mediacommon's fmp4.Part.Marshal does, for video with and without
// composition offsets and non-sync samples, with and without audio.
func TestPartMatchesMediacommon(t *testing.T) {
	mk := func() []*track {
		v := &track{id: 1, timeScale: 90000, isVideo: true}
		a := &track{id: 2, timeScale: 16000}
		return []*track{v, a}
	}
	cases := []struct {
		name  string
		fill  func(v, a *track)
		audio bool
	}{
		{"video keyframe only", func(v, a *track) {
			v.arena = append(v.arena, 1, 2, 3)
			v.add(0, 3600, 0, false, 0)
		}, false},
		{"video gop with cto", func(v, a *track) {
			for i := 0; i < 5; i++ {
				st := len(v.arena)
				v.arena = append(v.arena, bytes.Repeat([]byte{byte(i)}, 10+i)...)
				v.add(int64(90000+i*3600), 3600, int32((i%3)*3600-3600), i > 0, st)
			}
		}, false},
		{"video and audio", func(v, a *track) {
			for i := 0; i < 3; i++ {
				st := len(v.arena)
				v.arena = append(v.arena, bytes.Repeat([]byte{9}, 100)...)
				v.add(int64(i*3600), 3600, 0, i > 0, st)
			}
			for i := 0; i < 4; i++ {
				st := len(a.arena)
				a.arena = append(a.arena, bytes.Repeat([]byte{7}, 20)...)
				a.add(int64(1024*i+77), 1024, 0, false, st)
			}
		}, true},
		{"audio only", func(v, a *track) {
			a.arena = append(a.arena, 1, 2)
			a.add(5, 1024, 0, false, 0)
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours, theirs := mk(), mk()
			c.fill(ours[0], ours[1])
			c.fill(theirs[0], theirs[1])

			var want seekablebuffer.Buffer
			p := fmp4.Part{SequenceNumber: 1}
			for _, tr := range theirs {
				if len(tr.samples) > 0 {
					pt := &fmp4.PartTrack{}
					tr.partTrack(pt)
					p.Tracks = append(p.Tracks, pt)
				}
			}
			if err := p.Marshal(&want); err != nil {
				t.Fatal(err)
			}
			var b partBuilder
			pieces, err := b.build(ours)
			if err != nil {
				t.Fatal(err)
			}
			got := bytes.Join(pieces, nil)
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("fragment differs from mediacommon's:\n got %x\nwant %x", got, want.Bytes())
			}
			if len(ours[0].samples)+len(ours[1].samples) != 0 {
				t.Error("tracks not reset after build")
			}
		})
	}
}
