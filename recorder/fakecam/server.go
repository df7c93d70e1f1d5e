// Package fakecam simulates IP cameras: an RTSP server that serves one looping
// sample stream per camera name, for demos, tests and benchmarks.
//
// Each camera behaves like a real one as far as a recorder can tell: the clip
// is paced in real time, RTP timestamps start at a random value and keep
// increasing across loops, parameter sets are repeated in-band before every
// IDR, RTCP sender reports carry wall-clock time, and a camera can "lose
// power" (SetOnline) so reconnect logic can be exercised.
package fakecam

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
)

// Config describes the simulated cameras.
type Config struct {
	// Listen is the RTSP (TCP) address, e.g. "127.0.0.1:8554"; port 0 picks a
	// free one. The UDP transport always uses a free, even RTP port and the
	// next RTCP port on the same host.
	Listen string
	// Cameras are the stream names, served as rtsp://ADDR/NAME. Default: "cam1".
	Cameras []string
	// Codec is "h264" (default) or "h265".
	Codec string
	// Audio is "" (video only), "aac" (the clip's AAC track, mono 16 kHz) or
	// "g711" (a generated 440 Hz μ-law tone, 8 kHz mono, 20 ms packets).
	Audio string
	// User and Pass, when User is set, require Basic or Digest credentials.
	User, Pass string
	// Clip is an optional fragmented-MP4 file (H.264 or H.265, optional AAC)
	// looped instead of the embedded 320x240 sample, e.g. a benchmark clip made
	// by scripts/make-clips.sh --bench. Codec is then taken from the file.
	Clip string
	// BFrames selects the embedded H.264 clip encoded with B-frames
	// (PTS != DTS). Only with Codec "h264" and no Clip.
	BFrames bool
	// Alternate makes every camera alternate, loop by loop, between the main
	// clip and a 352x288 clip of the same codec, so the stream changes
	// resolution (a new SPS at an IDR) every loop. Only without Clip.
	Alternate bool
	// Loop, when > 0, loops only the first Loop of the clip (cut at a
	// keyframe), so tests see a loop boundary quickly. The embedded clips
	// have a keyframe every second.
	Loop time.Duration
	// VideoDelay, when > 0, sends every video packet this much later than
	// its audio of the same time (RTP timestamps and RTCP sender reports
	// still say when it was captured), as a camera whose video encoder has
	// more latency than its audio does. At most maxVideoDelay.
	VideoDelay time.Duration
	// Hostile, when set, makes every camera misbehave in one of the
	// HostileModes (H.264 only).
	Hostile string
	// Log receives connection events at debug level; nil discards them.
	Log *slog.Logger
}

// maxVideoDelay bounds Config.VideoDelay: more than a few seconds is not a
// camera's encoder latency but a broken camera.
const maxVideoDelay = 5 * time.Second

var camName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Server is a running set of simulated cameras.
type Server struct {
	cfg     Config
	log     *slog.Logger
	addr    string // actual host:port of the RTSP listener
	rtsp    *gortsplib.Server
	cams    map[string]*camera
	order   []string
	done    chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Once
	haltMu  sync.Once
}

// Start validates cfg, loads the clips, starts the RTSP server and begins
// streaming every camera. Call Close to stop.
func Start(cfg Config) (*Server, error) {
	if err := cfg.normalise(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clips, err := cfg.loadClips()
	if err != nil {
		return nil, err
	}
	prog, err := newProgram(clips, cfg.Audio)
	if err != nil {
		return nil, err
	}
	if cfg.Hostile != "" {
		if err := prog.addHostile(cfg.Hostile, clips); err != nil {
			return nil, err
		}
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("fakecam: listen %s: %w", cfg.Listen, err)
	}
	rtpConn, rtcpConn, err := udpPair(ln.Addr().(*net.TCPAddr).IP)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("fakecam: UDP ports: %w", err)
	}
	s := &Server{
		cfg:  cfg,
		log:  log,
		addr: ln.Addr().String(),
		cams: map[string]*camera{},
		done: make(chan struct{}),
	}
	prebound := map[string]net.PacketConn{
		rtpConn.LocalAddr().String():  rtpConn,
		rtcpConn.LocalAddr().String(): rtcpConn,
	}
	s.rtsp = &gortsplib.Server{
		Handler: &handler{s: s},
		// A giant hostile frame is thousands of packets written at once.
		WriteQueueSize: writeQueueSize(cfg.Hostile),
		RTSPAddress:    s.addr,
		UDPRTPAddress:  rtpConn.LocalAddr().String(),
		UDPRTCPAddress: rtcpConn.LocalAddr().String(),
		// Hand gortsplib the sockets bound above, so port 0 works and no
		// other process can take a port between picking and binding it.
		Listen: func(string, string) (net.Listener, error) { return ln, nil },
		ListenPacket: func(_, address string) (net.PacketConn, error) {
			if pc, ok := prebound[address]; ok {
				return pc, nil
			}
			return nil, fmt.Errorf("fakecam: unexpected UDP address %s", address)
		},
	}
	// Streams need a started server, and handlers need the cameras: create
	// them offline first, start, then bring them online.
	for _, name := range cfg.Cameras {
		s.cams[name] = &camera{name: name, srv: s, prog: prog}
		s.order = append(s.order, name)
	}
	if err := s.rtsp.Start(); err != nil {
		ln.Close()
		rtpConn.Close()
		rtcpConn.Close()
		return nil, fmt.Errorf("fakecam: start RTSP server: %w", err)
	}
	for _, name := range s.order {
		if err := s.cams[name].setOnline(true); err != nil {
			s.Close()
			return nil, err
		}
	}
	start := time.Now()
	if cfg.Hostile == "" && cfg.VideoDelay == 0 {
		cams := make([]*camera, 0, len(s.order))
		for _, name := range s.order {
			cams = append(cams, s.cams[name])
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.pace(start, cams)
		}()
		return s, nil
	}
	// Hostile modes and a video delay keep per-camera state and timing:
	// one loop per camera.
	for _, name := range s.order {
		s.wg.Add(1)
		go func(c *camera) {
			defer s.wg.Done()
			c.run(start, s.done)
		}(s.cams[name])
	}
	return s, nil
}

func (cfg *Config) normalise() error {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8554"
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return fmt.Errorf("fakecam: listen address %q: %w", cfg.Listen, err)
	}
	if len(cfg.Cameras) == 0 {
		cfg.Cameras = []string{"cam1"}
	}
	seen := map[string]bool{}
	for _, c := range cfg.Cameras {
		if !camName.MatchString(c) {
			return fmt.Errorf("fakecam: camera name %q: use letters, digits, '.', '_' or '-'", c)
		}
		if seen[c] {
			return fmt.Errorf("fakecam: camera %q listed twice", c)
		}
		seen[c] = true
	}
	switch cfg.Codec {
	case "":
		cfg.Codec = "h264"
	case "h264", "h265":
	default:
		return fmt.Errorf("fakecam: codec %q: want h264 or h265", cfg.Codec)
	}
	switch cfg.Audio {
	case "", "aac", "g711":
	default:
		return fmt.Errorf("fakecam: audio %q: want aac, g711 or empty", cfg.Audio)
	}
	if cfg.User == "" && cfg.Pass != "" {
		return errors.New("fakecam: a password needs a user")
	}
	if cfg.User != "" && strings.ContainsAny(cfg.User, ":@/") {
		return fmt.Errorf("fakecam: user name must not contain ':', '@' or '/'")
	}
	if cfg.Clip != "" && (cfg.BFrames || cfg.Alternate) {
		return errors.New("fakecam: BFrames and Alternate choose embedded clips; not with Clip")
	}
	if cfg.BFrames && cfg.Codec != "h264" {
		return errors.New("fakecam: BFrames needs codec h264")
	}
	if cfg.Loop < 0 {
		return errors.New("fakecam: Loop must not be negative")
	}
	if cfg.VideoDelay < 0 || cfg.VideoDelay > maxVideoDelay {
		return fmt.Errorf("fakecam: video delay %s: want 0 to %s", cfg.VideoDelay, maxVideoDelay)
	}
	if err := validHostile(cfg.Hostile); err != nil {
		return err
	}
	if cfg.Hostile != "" && cfg.Codec != "h264" {
		return errors.New("fakecam: hostile modes need codec h264")
	}
	return nil
}

// loadClips returns the clips each camera loops, in order.
func (cfg *Config) loadClips() ([]*clip, error) {
	var names []string
	var clips []*clip
	switch {
	case cfg.Clip != "":
		c, err := loadFile(cfg.Clip)
		if err != nil {
			return nil, fmt.Errorf("fakecam: %w", err)
		}
		cfg.Codec = c.codec
		clips = append(clips, c)
	case cfg.BFrames:
		names = []string{"h264-bframes"}
	default:
		names = []string{cfg.Codec}
	}
	if cfg.Alternate {
		names = append(names, cfg.Codec+"-alt")
	}
	for _, n := range names {
		c, err := loadEmbedded(n)
		if err != nil {
			return nil, fmt.Errorf("fakecam: %w", err)
		}
		clips = append(clips, c)
	}
	for _, c := range clips {
		c.trim(cfg.Loop)
		if cfg.Audio == "aac" && c.aacConf == nil {
			return nil, fmt.Errorf("fakecam: clip %s has no AAC track", c.name)
		}
	}
	return clips, nil
}

// writeQueueSize is the packets queued per reader. gortsplib's default of
// 256 is 0.7 s of a 4 Mbit/s stream: a fakecam process held off the CPU
// for longer (a loaded box) sends the missed packets as one burst and
// dropped them at its own queue, so the benchmark counted the source's
// losses as the recorder's. 4096 packets is some 12 s of such a stream.
func writeQueueSize(hostile string) int {
	if hostile == HostileGiant {
		return 8192
	}
	return 4096
}

// udpPair binds a free even RTP port and the RTCP port after it, as RTSP
// servers must offer.
func udpPair(ip net.IP) (*net.UDPConn, *net.UDPConn, error) {
	var lastErr error
	for range 100 {
		rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, err
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 {
			rtp.Close()
			continue
		}
		rtcp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port + 1})
		if err != nil {
			rtp.Close()
			lastErr = err
			continue
		}
		return rtp, rtcp, nil
	}
	return nil, nil, fmt.Errorf("no free even/odd port pair (last error: %v)", lastErr)
}

// Addr is the RTSP listener's host:port.
func (s *Server) Addr() string { return s.addr }

// Cameras lists the camera names in configuration order.
func (s *Server) Cameras() []string { return slices.Clone(s.order) }

// URL is the camera's RTSP URL, with the credentials when auth is on.
// An unspecified listen host (":8554", "0.0.0.0") is given as 127.0.0.1.
func (s *Server) URL(cam string) string {
	host, port, _ := net.SplitHostPort(s.addr)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	u := url.URL{Scheme: "rtsp", Host: net.JoinHostPort(host, port), Path: "/" + cam}
	if s.cfg.User != "" {
		u.User = url.UserPassword(s.cfg.User, s.cfg.Pass)
	}
	return u.String()
}

// SetOnline switches a camera on or off. Off is like a camera losing power:
// its sessions are dropped at once and DESCRIBE answers 503 until it is back
// on. Its stream clock keeps running while it is off, so timestamps after it
// comes back are later than any sent before (with new SSRCs, as after a reboot).
func (s *Server) SetOnline(cam string, online bool) error {
	c, ok := s.cams[cam]
	if !ok {
		return fmt.Errorf("fakecam: no camera %q", cam)
	}
	return c.setOnline(online)
}

// Online reports whether a camera is switched on.
func (s *Server) Online(cam string) bool {
	c, ok := s.cams[cam]
	return ok && c.online()
}

// Halt stops sending (sessions stay open, so what is queued still
// reaches the readers) and waits for the senders to stop.
func (s *Server) Halt() {
	s.haltMu.Do(func() {
		close(s.done)
		s.wg.Wait()
	})
}

// Close stops streaming and the RTSP server and waits for them.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		s.Halt()
		for _, name := range s.order {
			_ = s.cams[name].setOnline(false)
		}
		s.rtsp.Close()
	})
}

// handler answers RTSP requests for the cameras.
type handler struct{ s *Server }

func (h *handler) camera(path string) *camera {
	return h.s.cams[strings.Trim(path, "/")]
}

// auth checks credentials when they are configured; it answers DESCRIBE and
// SETUP alike, as a camera does.
func (h *handler) auth(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if h.s.cfg.User == "" || conn.VerifyCredentials(req, h.s.cfg.User, h.s.cfg.Pass) {
		return nil, nil
	}
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}

func (h *handler) streamFor(path string) (*base.Response, *gortsplib.ServerStream, error) {
	c := h.camera(path)
	if c == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	st := c.currentStream()
	if st == nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.auth(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return h.streamFor(ctx.Path)
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.auth(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return h.streamFor(ctx.Path)
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	h.s.log.Debug("fakecam: play", "path", ctx.Path, "remote", ctx.Conn.NetConn().RemoteAddr().String())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError:
// a packet a reader's queue had no room for is counted (CameraStats.Dropped).
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	if c := h.camera(ctx.Session.SetuppedPath()); c != nil {
		c.dropped.Add(1)
	}
	h.s.log.Debug("fakecam: write to a reader failed", "err", ctx.Error)
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.s.log.Debug("fakecam: connection closed", "err", ctx.Error)
}
