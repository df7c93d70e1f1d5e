package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/pion/rtp"

	"vahti/configs"
	"vahti/registry"
)

// Reconnect policy. A camera that refuses the password is asked again only
// every authRetry: a tight loop would fill logs and may lock the account.
const (
	backoffMin = time.Second
	backoffMax = 30 * time.Second
	authRetry  = 30 * time.Second
	// stableAfter is how long a connection must have recorded before the
	// backoff starts again from backoffMin.
	stableAfter = 10 * time.Second
	// stallAfter is how long a playing connection may go without a video
	// packet before it is dropped: RTCP alone keeps the client's read
	// timeout happy, so a camera that stops mid-frame would otherwise hold
	// its half-written segment open for ever.
	stallAfter = 10 * time.Second
)

// session is the supervised ingest of one camera: it connects, records
// until the connection fails, and reconnects with capped exponential
// backoff and jitter.
type session struct {
	cam configs.Camera
	cfg *Config
	log *slog.Logger
	st  statusBox

	// timing knobs (tests shorten them)
	backoffMin, backoffMax, authRetry time.Duration
}

func newSession(c configs.Camera, cfg *Config) *session {
	s := &session{cam: c, cfg: cfg,
		log:        cfg.Log.With("camera", c.ID),
		backoffMin: backoffMin, backoffMax: backoffMax, authRetry: authRetry}
	s.st.s = CameraStatus{ID: c.ID, Name: c.Name, State: StateConnecting, Since: cfg.Now().UTC()}
	if c.Disabled {
		s.st.s.State = StateDisabled
	}
	return s
}

func (s *session) status() CameraStatus { return s.st.get() }

// errAuth marks a refused password.
var errAuth = errors.New("authentication failed (check the camera's user and password)")

// errPanic marks a connection ended by a recovered panic.
var errPanic = errors.New("panic while handling the camera's stream")

// errStalled marks a connection that stopped sending video.
var errStalled = fmt.Errorf("no video for %s", stallAfter)

func (s *session) run(ctx context.Context) {
	if s.cam.Disabled {
		<-ctx.Done()
		return
	}
	s.log.Info("camera session started", "url", configs.RedactURL(s.cam.URL), "transport", s.cam.Transport)
	attempt := 0
	for first := true; ; first = false {
		if !first {
			s.st.update(func(st *CameraStatus) { st.Reconnects++ })
		}
		s.st.setState(StateConnecting, s.cfg.Now().UTC(), s.st.get().Error)
		recorded, err := s.connectGuarded(ctx)
		if ctx.Err() != nil {
			return
		}
		if recorded >= stableAfter {
			attempt = 0
		}
		var wait time.Duration
		msg := s.redact(err)
		switch {
		case errors.Is(err, errAuth):
			s.st.setState(StateAuthFailed, s.cfg.Now().UTC(), msg)
			wait = s.authRetry
			s.log.Warn("camera refused the credentials; retrying slowly", "error", msg, "retry_in", wait.String())
		case errors.Is(err, errPanic):
			s.st.setState(StateError, s.cfg.Now().UTC(), msg)
			wait = s.backoff(attempt)
			attempt++
			s.log.Error("camera session failed; reconnecting", "error", msg, "retry_in", wait.String())
		default:
			s.st.setState(StateOffline, s.cfg.Now().UTC(), msg)
			wait = s.backoff(attempt)
			attempt++
			s.log.Warn("camera connection ended; reconnecting", "error", msg, "retry_in", wait.String())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is min·2^attempt capped at max, plus up to 20 % jitter so that
// many cameras behind one failed switch do not reconnect in step.
func (s *session) backoff(attempt int) time.Duration {
	d := s.backoffMax
	if attempt < 16 {
		d = min(s.backoffMin<<attempt, s.backoffMax)
	}
	d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	return min(d, s.backoffMax)
}

// redact returns err's text without the camera's password.
func (s *session) redact(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if u, perr := url.Parse(s.cam.URL); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(p), "xxxxx")
		}
	}
	return msg
}

// connectGuarded is connect with a panic turned into errPanic: whatever a
// camera sends, it can end only its own connection, never the process.
func (s *session) connectGuarded(ctx context.Context) (rec time.Duration, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(r, debug.Stack())
		}
	}()
	return s.connect(ctx)
}

// panicked logs a recovered panic and counts it; the error it returns
// wraps errPanic.
func (s *session) panicked(r any, stack []byte) error {
	err := fmt.Errorf("%w: %v", errPanic, r)
	s.log.Error("recovered panic in camera session", "error", s.redact(err), "stack", string(stack))
	s.st.update(func(st *CameraStatus) { st.Dropped.Panics++ })
	return err
}

// connect records one connection until it fails or ctx ends. It returns
// how long it recorded.
func (s *session) connect(ctx context.Context) (time.Duration, error) {
	u, err := base.ParseURL(s.cam.URL)
	if err != nil {
		return 0, fmt.Errorf("camera URL: %w", err)
	}
	// Every connection the client dials (it may dial again, to switch
	// from UDP to TCP) batches its reads once the session plays.
	var playing atomic.Bool
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialBuffered(ctx, network, addr, &playing)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, ReadTimeout: 10 * time.Second, DialContext: dial}
	switch s.cam.Transport {
	case "tcp":
		v := gortsplib.TransportTCP
		c.Transport = &v
	case "udp":
		v := gortsplib.TransportUDP
		c.Transport = &v
	}
	c.OnDecodeError = func(err error) {
		s.log.Debug("rtp decode error", "error", s.redact(err))
		s.st.update(func(st *CameraStatus) { st.Dropped.BadRTP++ })
	}
	c.OnPacketsLost = func(n uint64) { s.log.Debug("rtp packets lost", "count", n) }
	if err := c.Start2(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	defer close(done)
	// A callback that panicked reports here; the client cannot be closed
	// from inside its own callback.
	failed := make(chan error, 1)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-failed:
			c.Close()
		case <-done:
		}
	}()
	defer c.Close()

	desc, _, err := c.Describe(u)
	if err != nil {
		var bad liberrors.ErrClientBadStatusCode
		if errors.As(err, &bad) && bad.Code == base.StatusUnauthorized {
			return 0, errAuth
		}
		return 0, err
	}
	in, err := s.newIngest(c, desc)
	if err != nil {
		return 0, err
	}
	in.failed = failed
	for _, m := range in.medias {
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			return 0, err
		}
	}
	in.register()
	if _, err := c.Play(nil); err != nil {
		return 0, err
	}
	playing.Store(true) // from now on, batches (see readCoalesce)
	s.log.Info("camera connected", "codecs", strings.Join(in.codecs, ","), "unsupported", strings.Join(in.unsupported, ","))
	go in.watchStall(done)
	err = c.Wait()
	c.Close()
	in.finish()
	if eerr := in.endErr.Load(); eerr != nil {
		err = *eerr
	}
	var rec time.Duration
	if !in.firstAt.IsZero() {
		rec = s.cfg.Now().Sub(in.firstAt)
	}
	if ctx.Err() != nil {
		return rec, nil
	}
	return rec, err
}

// An RTSP (TCP) connection is read in batches: a camera sends every RTP
// packet on its own, so reading each as it comes costs a goroutine wakeup
// and a system call per packet, some 350 a second per 4 Mbit/s camera: at
// 32 cameras a perf profile had a fifth of the recorder's time in those
// reads. After a read that emptied the socket, the next waits until
// readCoalesce has passed since, and then takes everything that arrived
// meanwhile (up to rtspReadBuffer); a read that filled the buffer is
// followed at once, so the rate a camera can send is not capped. The
// kernel's socket buffer holds the packets meanwhile; a frame reaches the
// writer at most readCoalesce later, which a recording never sees.
//
// The waits of all connections end together, on the multiples of
// readCoalesce of the clock (untilTick): the runtime then wakes once per
// tick for every camera instead of once per camera at its own phase:
// a fifth less CPU at 16 cameras (A/B, README "Benchmarks"). During the
// wait the socket is quiet (socketHush: a receive low-water mark), or
// every arriving segment would still wake the runtime's poller: another
// fifth less at 16 cameras, voluntary context switches 1 600 -> 500 a
// second.
//
// Only once the session plays: before, the connection carries the RTSP
// set-up, whose every reply the client awaits, and a wait before each
// would add up to readCoalesce per request to every (re)connection.
//
// Why not longer: a 100 ms tick measured 7 % less CPU at 16 cameras
// (A/B, six pairs, noisy), but the socket must then hold twice the
// bytes between reads, 200 kB for a 16 Mbit/s camera, more than a
// fresh connection's default receive window.
const (
	rtspReadBuffer = 64 << 10
	readCoalesce   = 50 * time.Millisecond
)

// dialBuffered dials the RTSP connection, read in batches once playing
// is set.
func dialBuffered(ctx context.Context, network, addr string, playing *atomic.Bool) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &batchedConn{Conn: c, playing: playing, hush: socketHush(c)}, nil
}

// batchedConn is a net.Conn read in batches (see readCoalesce).
type batchedConn struct {
	net.Conn
	buf      []byte
	r, w     int
	drained  bool         // the last read did not fill the buffer
	playing  *atomic.Bool // the session plays: set-up replies are read at once, media in batches
	sleepFor func(time.Duration)
	hush     func(quiet bool) // quiets the socket during a wait (nil: not a socket, or not Linux)
}

// untilTick is the time from now to the next multiple of readCoalesce
// since the Unix epoch: in (0, readCoalesce].
func untilTick(now time.Time) time.Duration {
	r := now.UnixNano() % int64(readCoalesce)
	if r < 0 { // before 1970
		r += int64(readCoalesce)
	}
	return readCoalesce - time.Duration(r)
}

func (c *batchedConn) Read(p []byte) (int, error) {
	if c.r == c.w {
		if c.buf == nil {
			c.buf = make([]byte, rtspReadBuffer)
		}
		if c.drained && c.playing.Load() {
			wait := untilTick(time.Now())
			if c.hush != nil {
				c.hush(true)
			}
			if c.sleepFor != nil {
				c.sleepFor(wait)
			} else {
				time.Sleep(wait)
			}
			if c.hush != nil {
				// Back to normal before the read: if it finds the socket
				// empty, it must wake on the first byte, not the 32 KiB-th.
				c.hush(false)
			}
		}
		n, err := c.Conn.Read(c.buf)
		c.drained = n < len(c.buf)
		c.r, c.w = 0, n
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	return n, nil
}

// ingest is the RTP side of one connection: depacketisers, timestamps,
// and the writer they feed.
type ingest struct {
	s      *session
	c      *gortsplib.Client
	medias []*description.Media

	codecs, unsupported []string

	mu sync.Mutex // serialises the writer: with UDP each media has its own goroutine
	w  *writer

	video   *description.Media
	isH265  bool
	h264f   *format.H264
	h265f   *format.H265
	decode  func(*rtp.Packet) ([][]byte, error)
	params  videoParams
	dts     dtsExtractor
	auBuf   [][]byte
	lastSeq uint16
	haveSeq bool
	drop    bool

	audio      *description.Media
	aacf       *format.MPEG4Audio
	g711f      *format.G711
	g711Table  *[256][2]byte
	pcmBuf     []byte
	audioBytes int
	av         avSync // guarded by mu

	firstAt   time.Time
	recording bool // state "recording" was reported and still holds

	failed     chan<- error          // a recovered panic or a stall ends the connection
	endErr     atomic.Pointer[error] // why, when it was not the network
	lastPacket atomic.Int64          // cfg.Now of the last video packet, Unix ns
}

// end ends the connection for err, unless something ended it first.
func (in *ingest) end(err error) bool {
	if !in.endErr.CompareAndSwap(nil, &err) {
		return false
	}
	select {
	case in.failed <- err:
	default:
	}
	return true
}

// watchStall ends the connection when no video packet came for
// stallAfter, until done is closed.
func (in *ingest) watchStall(done <-chan struct{}) {
	in.lastPacket.Store(in.s.cfg.Now().UnixNano())
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		in.flushIfDue()
		if in.s.cfg.Now().Sub(time.Unix(0, in.lastPacket.Load())) >= stallAfter {
			in.s.log.Warn("camera stopped sending video; dropping the connection", "after", stallAfter.String())
			in.end(errStalled)
			return
		}
	}
}

// recoverPanic, deferred in every RTP callback, turns a panic into the end
// of this connection: logged, counted, the camera marked "error" and
// reconnected by run. Other cameras go on.
func (in *ingest) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	err := in.s.panicked(r, debug.Stack())
	if in.end(err) {
		in.s.st.setState(StateError, in.s.cfg.Now().UTC(), in.s.redact(err))
	}
}

// flushIfDue writes a part that waited too long for the next frame.
func (in *ingest) flushIfDue() {
	defer in.recoverPanic()
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.w.flushIfDue(); err != nil {
		in.s.log.Error("writing segment", "error", err)
	}
}

// resync makes the writer wait for the next keyframe.
func (in *ingest) resync() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.w.resync(); err != nil {
		in.s.log.Error("writing segment", "error", err)
	}
}

// writeVideo hands one access unit to the writer under the lock (a
// deferred unlock, so a panic cannot leave it held).
func (in *ingest) writeVideo(au [][]byte, pts, dts int64) (err error, recording bool, audioBytes int, written bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := in.w.frames
	err = in.w.writeVideo(au, pts, dts)
	audioBytes = in.audioBytes
	in.audioBytes = 0
	return err, in.w.seg != nil, audioBytes, in.w.frames > n
}

// badRTP counts a packet the depacketiser refused; the frame it belonged
// to is lost, so the writer waits for the next keyframe.
func (in *ingest) badRTP(err error) {
	if errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrMorePacketsNeeded) ||
		errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
		return // normal
	}
	var n int64
	in.s.st.update(func(st *CameraStatus) { st.Dropped.BadRTP++; n = st.Dropped.BadRTP })
	if n&(n-1) == 0 { // 1, 2, 4, 8…: a flood of bad packets is not a flood of log lines
		in.s.log.Debug("rtp packet refused", "error", err, "count", n)
	}
	in.dts = nil
	in.resync()
}

type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

func (s *session) newIngest(c *gortsplib.Client, desc *description.Session) (*ingest, error) {
	in := &ingest{s: s, c: c}
	var h264f *format.H264
	var h265f *format.H265
	if m := desc.FindFormat(&h264f); m != nil {
		in.video, in.h264f = m, h264f
		// gortsplib's decoder only to refuse what it refuses (packetization
		// mode 2); the depacketiser does its work without allocating.
		if _, err := h264f.CreateDecoder(); err != nil {
			return nil, err
		}
		in.decode = (&depacketiser{}).Decode
		sps, pps := h264f.SafeParams()
		in.params = videoParams{sps: sps, pps: pps}
		in.codecs = append(in.codecs, "h264")
	} else if m := desc.FindFormat(&h265f); m != nil {
		in.video, in.h265f, in.isH265 = m, h265f, true
		if _, err := h265f.CreateDecoder(); err != nil {
			return nil, err
		}
		in.decode = (&depacketiser{h265: true}).Decode
		vps, sps, pps := h265f.SafeParams()
		in.params = videoParams{vps: vps, sps: sps, pps: pps}
		in.codecs = append(in.codecs, "h265")
	} else {
		return nil, fmt.Errorf("no H.264 or H.265 video in the stream (%s)", describeFormats(desc))
	}
	in.medias = append(in.medias, in.video)

	var spec *audioSpec
	var aacf *format.MPEG4Audio
	var g711f *format.G711
	if m := desc.FindFormat(&aacf); m != nil && aacf.Config != nil {
		in.audio, in.aacf = m, aacf
		spec = &audioSpec{name: "aac", timeScale: uint32(aacf.ClockRate()),
			codec: &mp4.CodecMPEG4Audio{Config: *aacf.Config}}
		in.codecs = append(in.codecs, "aac")
	} else if m := desc.FindFormat(&g711f); m != nil {
		in.audio, in.g711f = m, g711f
		in.g711Table = g711Table(g711f.MULaw)
		spec = &audioSpec{name: "lpcm", timeScale: uint32(g711f.SampleRate),
			codec: &mp4.CodecLPCM{BitDepth: 16, SampleRate: g711f.SampleRate, ChannelCount: g711f.ChannelCount}}
		in.codecs = append(in.codecs, "g711")
	}
	if in.audio != nil {
		in.medias = append(in.medias, in.audio)
	}
	// Everything else is named in the status and not recorded.
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if (m == in.video && (f == format.Format(in.h264f) || f == format.Format(in.h265f))) ||
				(m == in.audio && (f == format.Format(in.aacf) || f == format.Format(in.g711f))) {
				continue
			}
			in.unsupported = append(in.unsupported, strings.ToLower(f.Codec()))
		}
	}
	s.st.update(func(st *CameraStatus) {
		st.Codecs = in.codecs
		st.Unsupported = in.unsupported
	})

	in.w = newWriter(writerConfig{
		root:            s.cfg.Root,
		camera:          s.cam.ID,
		segmentDuration: s.cfg.SegmentDuration,
		partDuration:    s.cfg.PartDuration,
		fsyncInterval:   s.cfg.FsyncInterval,
		seal:            s.cfg.sealer,
		now:             func() time.Time { return s.cfg.Now().UTC() },
		canWrite:        s.cfg.CanWrite,
		log:             s.log,
		onSegment:       s.catalog,
		onDrop:          s.dropped,
		onPaused: func(p bool) {
			if p {
				s.log.Warn("disk guard: recording paused")
				s.st.setState(StatePaused, s.cfg.Now().UTC(), "")
			} else {
				s.log.Info("disk guard: recording resumed")
			}
		},
	}, in.isH265, spec)
	return in, nil
}

// dropped counts input the writer refused.
func (s *session) dropped(r dropReason) {
	s.st.update(func(st *CameraStatus) {
		switch r {
		case dropOversize:
			st.Dropped.Oversize++
		case dropTimeJump:
			st.Dropped.TimeJumps++
		case dropParamChurn:
			st.Dropped.ParamChurn++
		}
	})
}

func describeFormats(desc *description.Session) string {
	var names []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			names = append(names, f.Codec())
		}
	}
	return strings.Join(names, ", ")
}

// catalog adds a finished segment to the registry. It must not depend on
// the session's context: the last segment is finished during shutdown.
func (s *session) catalog(seg registry.Segment) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		// A reconcile running meanwhile (vahti reindex) may have adopted
		// the file between its rename and this insert.
		if _, err := tx.SegmentByPath(seg.Path); err == nil {
			return nil
		}
		return tx.AddSegment(&seg)
	})
	if err != nil {
		// The file is finished on disk; Reconcile adopts it at next start.
		s.log.Error("segment not catalogued", "path", seg.Path, "error", err)
		return err
	}
	s.st.update(func(st *CameraStatus) { st.Segments++ })
	s.log.Debug("segment finished", "path", seg.Path, "bytes", seg.Bytes, "duration", seg.End.Sub(seg.Start).String())
	return nil
}

func (in *ingest) register() {
	in.c.OnPacketRTP(in.video, videoFormat(in), in.onVideo)
	if in.aacf != nil {
		dec, err := in.aacf.CreateDecoder()
		if err == nil {
			in.c.OnPacketRTP(in.audio, in.aacf, func(pkt *rtp.Packet) {
				defer in.recoverPanic()
				in.onAAC(dec.Decode, pkt)
			})
		}
	}
	if in.g711f != nil {
		dec, err := in.g711f.CreateDecoder()
		if err == nil {
			in.c.OnPacketRTP(in.audio, in.g711f, func(pkt *rtp.Packet) {
				defer in.recoverPanic()
				in.onG711(dec.Decode, pkt)
			})
		}
	}
}

func videoFormat(in *ingest) format.Format {
	if in.isH265 {
		return in.h265f
	}
	return in.h264f
}

func (in *ingest) onVideo(pkt *rtp.Packet) {
	defer in.recoverPanic()
	if in.endErr.Load() != nil {
		return // this connection is ending
	}
	in.lastPacket.Store(in.s.cfg.Now().UnixNano())
	if h := in.s.cfg.rtpHook; h != nil {
		h(in.s.cam.ID)
	}
	if in.s.cfg.loseRTP != nil && in.s.cfg.loseRTP() {
		return
	}
	// PTS first, for every packet: the library learns the PTS/DTS
	// relation from packets that carry parameter sets or an IDR.
	pts, ok := in.c.PacketPTS2(in.video, pkt)
	if ok && in.audio != nil {
		in.noteVideoNTP(pkt, pts)
	}
	in.videoPacket(pkt, pts, ok)
}

// videoPacket is the path of every video packet from the depacketiser to
// the writer; ok says the library knows its pts. It allocates nothing in
// the steady state (BenchmarkPacketToFragment).
func (in *ingest) videoPacket(pkt *rtp.Packet, pts int64, ok bool) {
	// Loss: the access unit being assembled is damaged, and the frames
	// after it reference it; drop it and wait for the next keyframe.
	if in.haveSeq && pkt.SequenceNumber != in.lastSeq+1 {
		in.s.st.update(func(st *CameraStatus) { st.RTPGaps++ })
		in.drop = true
		in.dts = nil
		in.resync()
	}
	in.lastSeq, in.haveSeq = pkt.SequenceNumber, true

	au, err := in.decode(pkt)
	if err != nil {
		in.badRTP(err)
		return
	}
	if in.drop {
		in.drop = false
		return
	}
	if !ok {
		return
	}
	in.params.setFrom(au, in.isH265)
	// The depacketiser reuses its buffers, and mediacommon's H.264 DTS
	// extractor keeps the SPS it was given: hand it the session's own copy.
	in.params.own(au, in.isH265)
	key := isKeyframe(au, in.isH265)
	if key {
		au = withParams(au, in.params, in.isH265, in.auBuf)
		if cap(au) > cap(in.auBuf) {
			in.auBuf = au[:0]
		}
	}
	if in.dts == nil {
		if !key {
			return
		}
		if in.isH265 {
			x := &h265.DTSExtractor{}
			x.Initialize()
			in.dts = x
		} else {
			x := &h264.DTSExtractor{}
			x.Initialize()
			in.dts = x
		}
	}
	dts, err := in.dts.Extract(au, pts)
	if err != nil {
		in.s.log.Debug("dts extraction failed; waiting for keyframe", "error", err)
		in.dts = nil
		in.resync()
		return
	}
	now := in.s.cfg.Now().UTC()
	size := 0
	for _, n := range au {
		size += len(n)
	}
	err, recording, audioBytes, written := in.writeVideo(au, pts, dts)
	if err != nil {
		in.s.log.Error("writing segment", "error", err)
	}
	in.s.st.frame(now, size+audioBytes, written)
	if recording && !in.recording {
		if in.firstAt.IsZero() {
			in.firstAt = now
		}
		in.s.st.setState(StateRecording, now, "")
	}
	in.recording = recording
}

func (in *ingest) onAAC(decode func(*rtp.Packet) ([][]byte, error), pkt *rtp.Packet) {
	pts, ok := in.c.PacketPTS2(in.audio, pkt)
	if !ok {
		return
	}
	aus, err := decode(pkt)
	if err != nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	pts = in.syncAudio(pkt, pts)
	for i, au := range aus {
		in.audioBytes += len(au)
		if err := in.w.writeAudio(au, pts+int64(i)*mpeg4audio.SamplesPerAccessUnit, mpeg4audio.SamplesPerAccessUnit); err != nil {
			in.s.log.Error("writing segment", "error", err)
		}
	}
}

func (in *ingest) onG711(decode func(*rtp.Packet) ([]byte, error), pkt *rtp.Packet) {
	pts, ok := in.c.PacketPTS2(in.audio, pkt)
	if !ok {
		return
	}
	samples, err := decode(pkt)
	if err != nil || len(samples) == 0 {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	pts = in.syncAudio(pkt, pts)
	in.audioBytes += len(samples)
	in.pcmBuf = g711ToLPCM(in.pcmBuf[:0], samples, in.g711Table)
	ch := max(in.g711f.ChannelCount, 1)
	if err := in.w.writeAudio(in.pcmBuf, pts, uint32(len(samples)/ch)); err != nil {
		in.s.log.Error("writing segment", "error", err)
	}
}

// avSync places the audio on the video's time base by the camera's RTCP
// sender reports. The library starts each track's PTS at the wall-clock
// time its first packet arrived, so audio and video that travel with
// different latency (a video encoder slower than the audio one) would be
// out of step by the difference. Once both tracks have had a sender
// report, shift (in audio ticks) is fixed so that audio and video of the
// same capture instant get the same time; from then on the audio is
// placed by its own RTP clock alone, so it cannot drift against itself.
// The writer holds the audio until then, for at most avSyncWait; without
// sender reports by then the arrival-based times stay.
type avSync struct {
	done  bool
	first time.Time // when the first audio packet came
	haveV bool
	vNTP  time.Time // capture time of the video packet with PTS vPTS
	vPTS  int64     // 90 kHz
	shift int64     // added to every audio PTS
}

// avSyncWait is how long audio waits for the sender reports that place it:
// under the writer's queue bound (maxTimeJump), so nothing held is lost.
const avSyncWait = 1500 * time.Millisecond

// noteVideoNTP remembers the capture time of a video PTS, until the
// audio is synchronised.
func (in *ingest) noteVideoNTP(pkt *rtp.Packet, pts int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.av.done {
		return
	}
	if ntp, ok := in.c.PacketNTP(in.video, pkt); ok {
		in.av.vNTP, in.av.vPTS, in.av.haveV = ntp, pts, true
	}
}

// syncAudio maps an audio PTS onto the video's time base. Called with mu
// held.
func (in *ingest) syncAudio(pkt *rtp.Packet, pts int64) int64 {
	if in.av.done {
		return pts + in.av.shift
	}
	now := in.s.cfg.Now()
	if in.av.first.IsZero() {
		in.av.first = now
		in.w.audioHold = true
	}
	if in.av.haveV {
		if ntp, ok := in.c.PacketNTP(in.audio, pkt); ok {
			rate := int64(in.w.audio.timeScale)
			want := in.av.vPTS*rate/videoTimeScale + int64(ntp.Sub(in.av.vNTP))*rate/int64(time.Second)
			shift := want - pts
			in.av.done = true
			if d := ticksToDur(shift, uint32(rate)); d > maxClockDrift || d < -maxClockDrift {
				// More than a second between the tracks' latencies is no
				// encoder's delay but sender reports that disagree with
				// their packets: keep the arrival times.
				in.s.log.Warn("RTCP sender reports of audio and video disagree with their arrival; audio placed by arrival time",
					"shift", d.Round(time.Millisecond).String())
				in.w.releaseAudio(0)
				return pts
			}
			in.av.shift = shift
			in.w.releaseAudio(shift)
			in.s.log.Info("audio synchronised to video by RTCP sender reports",
				"shift", ticksToDur(shift, uint32(rate)).Round(time.Millisecond).String())
			return pts + shift
		}
	}
	if now.Sub(in.av.first) > avSyncWait {
		in.av.done = true
		in.w.releaseAudio(0)
		in.s.log.Info("no RTCP sender reports for audio and video; audio placed by arrival time")
	}
	return pts
}

// finish closes the writer at the end of a connection. After a panic the
// writer may be inconsistent: a second panic here leaves the unfinished
// file to Recover at the next start.
func (in *ingest) finish() {
	in.mu.Lock()
	defer in.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			in.s.log.Error("recovered panic finishing the segment; Recover finishes it at next start", "error", fmt.Sprint(r))
		}
	}()
	if err := in.w.close(); err != nil {
		in.s.log.Error("finishing segment", "error", err)
	}
}
