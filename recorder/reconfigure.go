package recorder

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"vahti/configs"
)

// liveSessions are the sessions Run is running, each with its own context,
// so a config reload can start, stop or restart one camera while the others
// keep recording.
type liveSessions struct {
	reconf  sync.Mutex // one Reconfigure at a time
	mu      sync.Mutex // guards the fields below
	ctx     context.Context
	started bool
	order   []*session
	cancel  map[*session]context.CancelFunc
	done    map[*session]chan struct{}
	wg      sync.WaitGroup
}

// start runs the first sessions under Run's ctx.
func (l *liveSessions) start(ctx context.Context, ss []*session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ctx, l.started = ctx, true
	l.cancel, l.done = map[*session]context.CancelFunc{}, map[*session]chan struct{}{}
	for _, s := range ss {
		l.launch(s)
	}
	l.order = append([]*session(nil), ss...)
}

// launch starts s; l.mu is held.
func (l *liveSessions) launch(s *session) {
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan struct{})
	l.cancel[s], l.done[s] = cancel, done
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(done)
		s.run(ctx)
	}()
}

// wait returns when every session, including those added later, is done.
func (l *liveSessions) wait() { l.wg.Wait() }

// list is the sessions in config order (fallback before Run starts).
func (l *liveSessions) list(fallback []*session) []*session {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		return fallback
	}
	return append([]*session(nil), l.order...)
}

// Reconfigured says which cameras a Reconfigure started, stopped and
// restarted.
type Reconfigured struct {
	Started, Stopped, Restarted []string
}

// Reconfigure applies a new camera list while Run runs: a new camera
// starts; a removed one finishes the segment it is writing and stops; a
// changed one is stopped that way and started again with its new settings;
// the others are not touched. It returns when the stopped sessions are done.
func (r *Recorder) Reconfigure(cams []configs.Camera) (Reconfigured, error) {
	var res Reconfigured
	seen := map[string]bool{}
	for _, c := range cams {
		if seen[c.ID] {
			return res, fmt.Errorf("recorder: camera %q listed twice", c.ID)
		}
		seen[c.ID] = true
	}
	l := &r.live
	l.reconf.Lock()
	defer l.reconf.Unlock()

	l.mu.Lock()
	if !l.started || l.ctx.Err() != nil {
		l.mu.Unlock()
		return res, errors.New("recorder: not running")
	}
	cur := map[string]*session{}
	for _, s := range l.order {
		cur[s.cam.ID] = s
	}
	var stop []*session
	for _, s := range l.order {
		if !seen[s.cam.ID] {
			stop = append(stop, s)
			res.Stopped = append(res.Stopped, s.cam.ID)
		}
	}
	for _, c := range cams {
		if s, ok := cur[c.ID]; ok && s.cam != c {
			stop = append(stop, s)
			res.Restarted = append(res.Restarted, c.ID)
		}
	}
	for _, s := range stop {
		l.cancel[s]()
	}
	l.mu.Unlock()

	// Outside the lock: Status keeps answering while segments finish.
	for _, s := range stop {
		<-l.done[s]
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range stop {
		delete(l.cancel, s)
		delete(l.done, s)
	}
	order := make([]*session, 0, len(cams))
	for _, c := range cams {
		s, ok := cur[c.ID]
		if !ok || s.cam != c {
			if !ok {
				res.Started = append(res.Started, c.ID)
			}
			s = newSession(c, &r.cfg)
			if l.ctx.Err() == nil {
				l.launch(s)
			}
		}
		order = append(order, s)
	}
	l.order = order
	return res, nil
}
