package export

import (
	"context"

	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// The real chain: fakecam -> recorder -> segments -> export. What the
// recorder writes (its own fragment marshaller, G.711 as LPCM) must
// stitch, play and verify.
func TestExportOfRecorderSegments(t *testing.T) {
	needTool(t, "ffprobe")
	for _, tc := range []struct {
		name, codec, audio, codecs string
	}{
		{"h264-aac", "h264", "aac", "h264,aac"},
		{"h265-g711", "h265", "g711", "h265,lpcm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard"}, Codec: tc.codec, Audio: tc.audio})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			e := newEnv(t)
			e.ex.Now = time.Now
			rec, err := recorder.New(recorder.Config{Root: e.root, StateDir: e.state,
				Cameras:         []configs.Camera{{ID: "yard", Name: "Piha", URL: srv.URL("yard"), Transport: "tcp"}},
				SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, FsyncInterval: time.Second,
				DB: e.db, Now: time.Now, Log: slog.New(slog.NewTextHandler(testLogW{t}, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- rec.Run(ctx) }()
			var segs []registry.Segment
			deadline := time.Now().Add(30 * time.Second)
			for len(segs) < 3 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				e.db.View(context.Background(), func(tx *registry.Tx) error {
					segs, _ = tx.SegmentsIn("yard", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
					return nil
				})
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("recorder: %v", err)
			}
			if len(segs) < 3 {
				t.Fatalf("%d segments recorded", len(segs))
			}
			from := segs[0].Start.Add(700 * time.Millisecond)
			to := segs[2].End.Add(-300 * time.Millisecond)
			res, err := e.ex.Build(context.Background(), Request{Cameras: []string{"yard"}, From: from, To: to,
				Reason: "e2e", Actor: "k", Source: "test"}, "")
			if err != nil {
				t.Fatal(err)
			}
			m := res.Manifest
			if len(m.Clips) != 1 || len(m.Gaps) != 0 || m.Clips[0].Codecs != tc.codecs {
				t.Fatalf("clips %+v gaps %+v", m.Clips, m.Gaps)
			}
			dir := unzip(t, res.Path)
			clip := filepath.Join(dir, "yard.mp4")
			if tc.audio == "aac" {
				checkClip(t, clip, []string{"h264", "aac"}, m.Clips[0].FromUTC, from, to)
			} else {
				checkVideoOnly(t, clip, m.Clips[0].FromUTC, from, to)
			}
			if _, err := VerifyPackage(res.Path); err != nil {
				t.Error(err)
			}
		})
	}
}

type testLogW struct{ t *testing.T }

func (w testLogW) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
