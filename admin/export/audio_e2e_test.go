package export

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// streamTimes is where each stream starts and ends by ffprobe, as a user
// checking an export reads it: start_time and start_time + duration of
// each stream, checked against the packets (the first packet starts at
// start_time; the last one starts before the stream's end). Not the
// last packet's pts + duration: for a track that begins with an empty
// edit (audio starting after the first video frame) ffmpeg cuts the last
// packet's duration short by the edit's length.
func streamTimes(t *testing.T, path string) (vStart, vEnd, aStart, aEnd float64) {
	t.Helper()
	needTool(t, "ffprobe")
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_entries",
		"stream=index,codec_type,start_time,duration:packet=stream_index,pts_time", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res struct {
		Streams []struct {
			Index     int    `json:"index"`
			CodecType string `json:"codec_type"`
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
		} `json:"streams"`
		Packets []struct {
			Stream int    `json:"stream_index"`
			PTS    string `json:"pts_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	first, last := map[int]float64{}, map[int]float64{}
	for _, p := range res.Packets {
		pts, err := strconv.ParseFloat(p.PTS, 64)
		if err != nil {
			t.Fatalf("%s: packet without pts: %+v", path, p)
		}
		if f, ok := first[p.Stream]; !ok || pts < f {
			first[p.Stream] = pts
		}
		last[p.Stream] = max(last[p.Stream], pts)
	}
	seen := 0
	for _, s := range res.Streams {
		st, err1 := strconv.ParseFloat(s.StartTime, 64)
		d, err2 := strconv.ParseFloat(s.Duration, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: stream %d without start_time or duration: %+v", path, s.Index, s)
		}
		f, ok := first[s.Index]
		if !ok {
			t.Fatalf("%s: stream %d (%s) has no packets", path, s.Index, s.CodecType)
		}
		if math.Abs(f-st) > 0.001 || last[s.Index] >= st+d {
			t.Errorf("%s: %s stream %.3f–%.3f s, its packets start %.3f–%.3f s", path, s.CodecType, st, st+d, f, last[s.Index])
		}
		switch s.CodecType {
		case "video":
			vStart, vEnd = st, st+d
			seen |= 1
		case "audio":
			aStart, aEnd = st, st+d
			seen |= 2
		}
	}
	if seen != 3 {
		t.Fatalf("%s: streams %+v, want video and audio", path, res.Streams)
	}
	return
}

// audioCovers says whether a recorded segment's audio covers the start
// and/or the end of its video, to within one audio packet, by ffprobe's
// packets.
func audioCovers(t *testing.T, path string, packet float64, atStart, atEnd bool) bool {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_entries",
		"stream=index,codec_type:packet=stream_index,pts_time,duration_time", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res struct {
		Streams []struct {
			Index     int    `json:"index"`
			CodecType string `json:"codec_type"`
		} `json:"streams"`
		Packets []struct {
			Stream   int    `json:"stream_index"`
			PTS      string `json:"pts_time"`
			Duration string `json:"duration_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	kind := map[int]string{}
	for _, s := range res.Streams {
		kind[s.Index] = s.CodecType
	}
	start, end := map[string]float64{}, map[string]float64{}
	for _, p := range res.Packets {
		pts, err := strconv.ParseFloat(p.PTS, 64)
		if err != nil {
			continue
		}
		d, _ := strconv.ParseFloat(p.Duration, 64) // "N/A" on some first AAC packets: 0
		k := kind[p.Stream]
		if v, ok := start[k]; !ok || pts < v {
			start[k] = pts
		}
		end[k] = max(end[k], pts+d)
	}
	if _, ok := start["audio"]; !ok {
		return false
	}
	ok := (!atStart || start["audio"] <= start["video"]+packet+0.002) && (!atEnd || end["audio"] >= end["video"]-packet-0.002)
	if !ok {
		t.Logf("%s: video %.3f–%.3f s, audio %.3f–%.3f s: not used", filepath.Base(path), start["video"], end["video"], start["audio"], end["audio"])
	}
	return ok
}

// The chain with a camera whose video arrives 300 ms after its audio:
// recorder -> segments -> export. The export's audio ends within 40 ms of
// its video (by ffprobe's stream start and duration) with G.711 (20 ms packets) and with AAC (16 kHz, 64 ms frames:
// an AAC frame is not cut, so the exporter picks the frame boundary
// nearest the video's end), and starts within one audio packet of it.
func TestExportAudioEndsWithItsVideo(t *testing.T) {
	needTool(t, "ffprobe")
	for _, tc := range []struct {
		audio  string
		packet float64 // one audio packet: the fakecam's G.711 20 ms, AAC 1024 samples at 16 kHz
	}{
		{"g711", 0.020},
		{"aac", 0.064},
	} {
		t.Run(tc.audio, func(t *testing.T) {
			t.Parallel()
			srv, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard"}, Codec: "h264",
				Audio: tc.audio, VideoDelay: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			e := newEnv(t)
			e.ex.Now = time.Now
			rec, err := recorder.New(recorder.Config{Root: e.root, StateDir: e.state,
				Cameras:         []configs.Camera{{ID: "yard", Name: "Piha", URL: srv.URL("yard"), Transport: "tcp"}},
				SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, FsyncInterval: time.Second,
				DB: e.db, Now: time.Now, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- rec.Run(ctx) }()
			var segs []registry.Segment
			deadline := time.Now().Add(30 * time.Second)
			for len(segs) < 6 && time.Now().Before(deadline) {
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
			if len(segs) < 4 {
				t.Fatalf("%d segments recorded", len(segs))
			}
			// Two consecutive segments, after the first (which began before
			// the recorder had audio), whose recorded audio covers the
			// window's start and end: what the export does with the sound
			// it has. (The fakecam's AAC clip leaves a gap at its loop
			// point, and on a starved box the recorder may lose a stretch of
			// audio; that is the recorder's tests' business, and no export
			// can put it back.)
			k := -1
			for i := 1; i+1 < len(segs) && k < 0; i++ {
				if audioCovers(t, e.abs(segs[i]), tc.packet, true, false) && audioCovers(t, e.abs(segs[i+1]), tc.packet, false, true) {
					k = i
				}
			}
			if k < 0 {
				t.Fatalf("no two consecutive recorded segments of %d have audio covering their video", len(segs))
			}
			// From segment k to the end of k+1: the export ends at a cut.
			for _, w := range []struct {
				name     string
				from, to time.Time
			}{
				{"at a cut", segs[k].Start, segs[k+1].End},
				{"mid-segment", segs[k].Start.Add(500 * time.Millisecond), segs[k+1].End.Add(-700 * time.Millisecond)},
			} {
				res, err := e.ex.Build(context.Background(), Request{Cameras: []string{"yard"}, From: w.from, To: w.to,
					Reason: "e2e", Actor: "k", Source: "test"}, "")
				if err != nil {
					t.Fatal(err)
				}
				clip := filepath.Join(unzip(t, res.Path), "yard.mp4")
				vs, ve, as, ae := streamTimes(t, clip)
				t.Logf("%s: video %.3f–%.3f s, audio %.3f–%.3f s: start %+.3f s, end %+.3f s", w.name, vs, ve, as, ae, as-vs, ae-ve)
				if d := ae - ve; math.Abs(d) > 0.040 {
					t.Errorf("%s: the export's audio ends %+.3f s from its video, want within 0.040 s", w.name, d)
				}
				if d := as - vs; math.Abs(d) > tc.packet+0.001 {
					t.Errorf("%s: the export's audio starts %+.3f s from its video, want within one packet (%.3f s)", w.name, d, tc.packet)
				}
			}
		})
	}
}
