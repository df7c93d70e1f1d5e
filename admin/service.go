package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// userError is a refusal a person can act on. It carries a catalog key so
// pages show it in the user's language; the API answers in English.
type userError struct {
	key  string
	args []any
}

func uerr(key string, args ...any) error { return &userError{key: key, args: args} }

func (e *userError) Error() string { return trf("en", e.key, e.args...) }

// errorText renders any error for a page in the user's language.
func errorText(lang string, err error) string {
	if msg, ok := requestErrorText(lang, err); ok {
		return msg
	}
	var ue *userError
	if errors.As(err, &ue) {
		return trf(lang, ue.key, ue.args...)
	}
	var amb *AmbiguousError
	if errors.As(err, &amb) {
		return trf(lang, "error.ambiguous", amb.Earlier.Format("15:04 -07:00"), amb.Later.Format("15:04 -07:00"))
	}
	if errors.Is(err, ErrNoSuchLocalTime) {
		return trf(lang, "error.nosuchtime")
	}
	if errors.Is(err, mp4read.ErrLocked) {
		return tr(lang, "sealed.locked")
	}
	if msg, ok := translateMessage(lang, err.Error()); ok {
		return msg
	}
	return err.Error()
}

func (s *Server) audit(ctx context.Context, p *principal, ip, kind, object string, detail any) error {
	return s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit(p.user.Name, ip, kind, object, detail)
		return err
	})
}

// auditLog writes an entry where failing to audit must not stop the
// request (a refused login); the failure is logged.
func (s *Server) auditLog(ctx context.Context, actor, ip, kind, object string, detail any) {
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit(actor, ip, kind, object, detail)
		return err
	})
	if err != nil {
		s.cfg.Log.Error("admin: audit failed", "kind", kind, "err", err)
	}
}

// --- cameras and the dashboard ---

type cameraView struct {
	ID, Name, Purpose string
	State             string
	Since, LastFrame  time.Time
	BitrateKbps       float64
	Reconnects        int64
	LastError         string
	Codecs            []string
	Unsupported       []string
	Segments          int64
	Bytes             int64
	Oldest, Newest    time.Time
	MaxAge            time.Duration
	OldestAge         time.Duration
	OverLimit         bool // footage older than the limit is still on disk and not held
}

// StateKey is the catalog key and CSS class of the recorder's state word.
func (v cameraView) StateKey() string {
	switch v.State {
	case "recording", "connecting", "offline", "disabled", "unknown", "error":
		return v.State
	case "auth failed":
		return "authfailed"
	case "paused (disk full)":
		return "paused"
	}
	return "unknown"
}

func (v cameraView) DaysOfFootage() float64 {
	if v.Oldest.IsZero() {
		return 0
	}
	return v.Newest.Sub(v.Oldest).Hours() / 24
}

type diskView struct {
	Total, Free, Used uint64
	UsedPercent       float64
	FootageBytes      int64
	NextPurge         time.Time
	LastPurge         time.Time
	LastDeleted       int
	WritingAllowed    bool
	Paused            bool
	Alarms            []string
	AlarmViews        []alarmView // Alarms with their catalog texts
	OpsAlarms         []Alarm     // the service's alarms (alarms.go), translated by kind
	HoldsForReview    []int64
	ActiveHolds       int
}

func (s *Server) cameraViews(ctx context.Context) ([]cameraView, diskView, error) {
	now := s.now()
	var sums map[string]registry.CameraSummary
	var holds []registry.Hold
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if sums, err = tx.Summaries(); err != nil {
			return err
		}
		holds, err = tx.Holds(true)
		return err
	})
	if err != nil {
		return nil, diskView{}, err
	}
	live := map[string]CameraState{}
	if s.cfg.Cameras != nil {
		for _, st := range s.cfg.Cameras() {
			live[st.ID] = st
		}
	}
	var out []cameraView
	var disk diskView
	for _, cam := range s.cameras() {
		v := cameraView{ID: cam.ID, Name: cam.Name, Purpose: cam.Purpose, State: "unknown", MaxAge: s.cfg.Cfg.MaxAgeFor(cam.ID)}
		if cam.Disabled {
			v.State = "disabled"
		}
		if st, ok := live[cam.ID]; ok {
			v.State, v.Since, v.LastFrame, v.BitrateKbps = st.State, st.Since, st.LastFrame, st.BitrateBps/1000
			v.Reconnects, v.LastError, v.Codecs, v.Unsupported = st.Reconnects, st.Error, st.Codecs, st.Unsupported
		}
		if sum, ok := sums[cam.ID]; ok {
			v.Segments, v.Bytes, v.Oldest, v.Newest = sum.Segments, sum.Bytes, sum.Oldest, sum.Newest
			v.OldestAge = now.Sub(sum.Oldest)
			disk.FootageBytes += sum.Bytes
			// Retention deletes by segment end, one sweep later at most;
			// allow a segment and a sweep before calling it overdue.
			grace := s.cfg.Cfg.Storage.SegmentDuration.D() + s.cfg.Cfg.Retention.SweepInterval.D()
			if v.OldestAge > v.MaxAge+grace {
				held := false
				for _, h := range holds {
					held = held || h.Covers(cam.ID, sum.Oldest, sum.Oldest.Add(time.Second))
				}
				v.OverLimit = !held
			}
		}
		out = append(out, v)
	}
	disk.ActiveHolds = len(holds)
	disk.OpsAlarms = s.alarms()
	var rs RetentionState
	if s.cfg.Retention != nil {
		rs = s.cfg.Retention()
		disk.WritingAllowed, disk.LastPurge, disk.LastDeleted = rs.WritingAllowed, rs.LastPurge, rs.LastDeleted
		disk.Paused, disk.Alarms, disk.HoldsForReview = rs.Paused, rs.Alarms, rs.HoldsForReview
		disk.AlarmViews = alarmViews(rs.AlarmKinds, rs.Alarms)
	} else {
		disk.WritingAllowed = true
	}
	disk.Total, disk.Free = rs.DiskTotal, rs.DiskFree
	if disk.Total == 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.cfg.Cfg.Storage.Root, &st); err == nil {
			disk.Total, disk.Free = st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
		}
	}
	if disk.Total > 0 {
		disk.Used = disk.Total - disk.Free
		disk.UsedPercent = 100 * float64(disk.Used) / float64(disk.Total)
	}
	disk.NextPurge = rs.NextPurge
	if disk.NextPurge.IsZero() {
		disk.NextPurge = nextDaily(now, s.cfg.Cfg.Retention.NightlyPurgeAt, s.loc)
	}
	return out, disk, nil
}

// nextDaily is the next local "HH:MM" after now.
func nextDaily(now time.Time, hhmm string, loc *time.Location) time.Time {
	var h, m int
	if _, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m); err != nil {
		return time.Time{}
	}
	l := now.In(loc)
	t := time.Date(l.Year(), l.Month(), l.Day(), h, m, 0, 0, loc)
	if !t.After(now) {
		t = time.Date(l.Year(), l.Month(), l.Day()+1, h, m, 0, 0, loc)
	}
	return t.UTC()
}

// knownCamera resolves a camera id from a URL; anything not configured
// (including "../x" and other odd strings) is simply unknown.
func (s *Server) knownCamera(id string) bool {
	_, ok := s.camera(id)
	return ok && id != ""
}

// --- a camera's day ---

type span struct {
	From, To time.Time
	Bytes    int64
	Segments int
}

type dayData struct {
	Camera     string
	Name       string
	Purpose    string    // the config's purpose: what the camera is there for
	Day        time.Time // local midnight
	From, To   time.Time // UTC bounds of the local day (23–25 h)
	Spans      []span    // recorded, segments closer than 2 s joined
	Gaps       []span
	Holds      []registry.Hold
	Recorded   time.Duration
	Prev, Next string // YYYY-MM-DD
}

func (s *Server) dayView(ctx context.Context, camera string, day time.Time) (dayData, error) {
	from, to := dayBounds(day, s.loc)
	d := dayData{Camera: camera, From: from, To: to, Day: from.In(s.loc)}
	if cam, ok := s.camera(camera); ok {
		d.Name, d.Purpose = cam.Name, cam.Purpose
	}
	d.Prev = from.In(s.loc).AddDate(0, 0, -1).Format("2006-01-02")
	d.Next = from.In(s.loc).AddDate(0, 0, 1).Format("2006-01-02")
	var segs []registry.Segment
	var holds []registry.Hold
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if segs, err = tx.SegmentsIn(camera, from, to); err != nil {
			return err
		}
		holds, err = tx.Holds(true)
		return err
	})
	if err != nil {
		return d, err
	}
	const join = 2 * time.Second
	for _, sg := range segs {
		st, en := maxTime(sg.Start, from), minTime(sg.End, to)
		if n := len(d.Spans); n > 0 && !st.After(d.Spans[n-1].To.Add(join)) {
			if en.After(d.Spans[n-1].To) {
				d.Spans[n-1].To = en
			}
			d.Spans[n-1].Bytes += sg.Bytes
			d.Spans[n-1].Segments++
			continue
		}
		d.Spans = append(d.Spans, span{From: st, To: en, Bytes: sg.Bytes, Segments: 1})
	}
	cur := from
	// The segment being written is not in the catalog yet: do not call the
	// last minute a gap while the camera records.
	end := minTime(to, s.now().Add(-s.cfg.Cfg.Storage.SegmentDuration.D()-5*time.Second))
	for _, sp := range d.Spans {
		d.Recorded += sp.To.Sub(sp.From)
		if sp.From.After(cur) {
			d.Gaps = append(d.Gaps, span{From: cur, To: sp.From})
		}
		cur = maxTime(cur, sp.To)
	}
	if end.After(cur) {
		d.Gaps = append(d.Gaps, span{From: cur, To: end})
	}
	for _, h := range holds {
		if h.Covers(camera, from, to) {
			d.Holds = append(d.Holds, h)
		}
	}
	return d, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// --- holds ---

type rangeInput struct {
	Cameras          []string
	From, To         string
	FromPick, ToPick string // "earlier"/"later" for a DST-ambiguous local time
	Reason, CaseRef  string
}

func (s *Server) parseCameras(in []string, allowAll bool) ([]string, error) {
	var out []string
	for _, c := range in {
		for _, id := range strings.Split(c, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if id == registry.AllCameras {
				if !allowAll {
					return s.cameraIDs(), nil
				}
				return []string{registry.AllCameras}, nil
			}
			if !s.knownCamera(id) {
				return nil, uerr("error.unknowncamera", id)
			}
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	if len(out) == 0 {
		return nil, uerr("error.nocamera")
	}
	return out, nil
}

func (s *Server) parseRange(in rangeInput) (time.Time, time.Time, error) {
	if strings.TrimSpace(in.From) == "" || strings.TrimSpace(in.To) == "" {
		return time.Time{}, time.Time{}, uerr("error.norange")
	}
	from, err := parseWhen(in.From, s.loc, in.FromPick)
	if err != nil {
		return from, from, err
	}
	to, err := parseWhen(in.To, s.loc, in.ToPick)
	if err != nil {
		return from, to, err
	}
	if !to.After(from) {
		return from, to, uerr("error.toafterfrom")
	}
	return from, to, nil
}

func (s *Server) placeHold(ctx context.Context, p *principal, ip string, in rangeInput) (registry.Hold, error) {
	if s.cfg.Holds == nil {
		return registry.Hold{}, uerr("error.unavailable")
	}
	cams, err := s.parseCameras(in.Cameras, true)
	if err != nil {
		return registry.Hold{}, err
	}
	from, to, err := s.parseRange(in)
	if err != nil {
		return registry.Hold{}, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return registry.Hold{}, uerr("error.noreason")
	}
	h := registry.Hold{Cameras: cams, From: from, To: to, Reason: strings.TrimSpace(in.Reason),
		CaseRef: strings.TrimSpace(in.CaseRef), CreatedBy: p.user.Name}
	if err := s.cfg.Holds.AddHold(ctx, &h, p.user.Name, ip); err != nil {
		return h, err
	}
	return h, nil
}

func (s *Server) releaseHold(ctx context.Context, p *principal, ip string, id int64, reason string) (registry.Hold, error) {
	if s.cfg.Holds == nil {
		return registry.Hold{}, uerr("error.unavailable")
	}
	if strings.TrimSpace(reason) == "" {
		return registry.Hold{}, uerr("error.noreason")
	}
	return s.cfg.Holds.ReleaseHold(ctx, id, p.user.Name, ip, strings.TrimSpace(reason))
}

// --- exports ---

// maxExportSpan bounds one package made through the UI; longer ones are
// a job for the CLI, which shows progress and can write to removable media.
const maxExportSpan = 24 * time.Hour

func (s *Server) createExport(ctx context.Context, p *principal, ip string, in rangeInput) (registry.Export, error) {
	if s.cfg.Export == nil {
		return registry.Export{}, uerr("error.unavailable")
	}
	r, err := s.checkExport(p, ip, in)
	if err != nil {
		return registry.Export{}, err
	}
	// No outPath: the exporter keeps the package in <state_dir>/exports,
	// where retention expires it with its footage; a second copy elsewhere
	// would escape that.
	return s.cfg.Export(ctx, r, "")
}

// checkExport checks an ad-hoc export's input, whether it is made at once
// or as a job (jobs_api.go startExport).
func (s *Server) checkExport(p *principal, ip string, in rangeInput) (ExportRequest, error) {
	cams, err := s.parseCameras(in.Cameras, false)
	if err != nil {
		return ExportRequest{}, err
	}
	from, to, err := s.parseRange(in)
	if err != nil {
		return ExportRequest{}, err
	}
	if to.Sub(from) > maxExportSpan {
		return ExportRequest{}, uerr("error.exporttoolong")
	}
	if strings.TrimSpace(in.Reason) == "" || strings.TrimSpace(in.CaseRef) == "" {
		return ExportRequest{}, uerr("error.exportfields")
	}
	return ExportRequest{Cameras: cams, From: from, To: to, Reason: strings.TrimSpace(in.Reason),
		CaseRef: strings.TrimSpace(in.CaseRef), Actor: p.user.Name, Source: ip}, nil
}

var exportIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// exportFile resolves a downloadable package. The id is checked for shape,
// looked up in the registry, and the file must lie inside
// <state_dir>/exports: an id is never joined into a path.
func (s *Server) exportFile(ctx context.Context, id string) (registry.Export, string, error) {
	if !exportIDRe.MatchString(id) || strings.Contains(id, "..") {
		return registry.Export{}, "", registry.ErrNotFound
	}
	var e registry.Export
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		e, err = tx.Export(id)
		return err
	})
	if err != nil {
		return e, "", err
	}
	if !e.Deleted.IsZero() {
		return e, "", registry.ErrNotFound
	}
	p := e.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.cfg.StateDir, filepath.FromSlash(p))
	}
	dir, err := filepath.Abs(s.exportsDir())
	if err != nil {
		return e, "", err
	}
	if p, err = filepath.Abs(p); err != nil {
		return e, "", err
	}
	if rel, err := filepath.Rel(dir, p); err != nil || rel == "." || strings.HasPrefix(rel, "..") || strings.ContainsRune(rel, os.PathSeparator) {
		return e, "", fmt.Errorf("export %s: file is outside the exports folder: %w", id, registry.ErrNotFound)
	}
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return e, "", fmt.Errorf("export %s: %w", id, registry.ErrNotFound)
	}
	return e, p, nil
}

func (s *Server) exports(ctx context.Context) ([]registry.Export, error) {
	var out []registry.Export
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		out, err = tx.Exports()
		return err
	})
	return out, err
}

func (s *Server) holds(ctx context.Context, all bool) ([]registry.Hold, error) {
	var out []registry.Hold
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		out, err = tx.Holds(!all)
		return err
	})
	return out, err
}

// --- users, tokens, language ---

// addUser creates an account with a password the admin typed. That
// password is someone else's knowledge, so it is one-time: the account can
// do nothing but choose its own until it has.
//
// With sealed footage, a new keeper is granted access to it here when the
// actor is a logged-in keeper with access of their own: the site key is
// wrapped under the one-time password, in the transaction that makes the
// account (audited keys.grant), and moves to the person's own password at
// their first login. Anyone else (an admin alone, an API token) makes the
// account without a grant; grant reports which (grantNone, grantMade, or ""
// when there is nothing to grant).
func (s *Server) addUser(ctx context.Context, p *principal, ip, name string, roles []string, password, lang string) (u registry.User, grant string, err error) {
	name = strings.TrimSpace(name)
	if !registry.ValidUserName(name) {
		return registry.User{}, "", uerr("error.username")
	}
	rs, ok := validRoles(roles)
	if !ok {
		return registry.User{}, "", uerr("error.roles")
	}
	if err := CheckPasswordPolicy(password, name); err != nil {
		return registry.User{}, "", uerr("error.password", strings.TrimPrefix(err.Error(), ErrWeakPassword.Error()+": "))
	}
	if lang != "en" {
		lang = "fi"
	}
	hash, err := HashPassword(password, s.cfg.HashParams)
	if err != nil {
		return registry.User{}, "", err
	}
	u = registry.User{Name: name, Roles: rs, PassHash: hash, Lang: lang, MustChangePassword: true}
	err = s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		grant = ""
		if err := tx.AddUser(&u); err != nil {
			return err
		}
		if _, err := tx.Audit(p.user.Name, ip, "user.add", "user:"+name, map[string]any{"roles": rs, "one_time_password": true}); err != nil {
			return err
		}
		if err := auditKeeperGrant(tx, p.user.Name, ip, registry.User{}, u); err != nil {
			return err
		}
		if !u.Has(registry.RoleKeeper) {
			return nil
		}
		if on, err := sealed(tx); err != nil || !on {
			return err
		}
		grant = grantNone
		ring, err := s.grantRing(tx, p)
		if err != nil || ring == nil {
			return err
		}
		if err := s.grantUnder(tx, ring, p, ip, u, password); err != nil {
			return err
		}
		grant = grantMade
		return nil
	})
	return u, grant, err
}

// What addUser did about footage access.
const (
	grantMade = "granted"
	grantNone = "not granted"
)

// auditKeeperGrant writes the entry the data protection officer reviews
// when an account gains the keeper role (footage access).
func auditKeeperGrant(tx *registry.Tx, actor, ip string, before, after registry.User) error {
	if before.Has(registry.RoleKeeper) || !after.Has(registry.RoleKeeper) {
		return nil
	}
	_, err := tx.Audit(actor, ip, registry.KindKeeperGrant, "user:"+after.Name, map[string]any{"roles": after.Roles})
	return err
}

// updateUser applies fn to a named account and audits kind. A credential
// change ends the account's sessions (registry.Tx.UpdateUser); when the
// account is the actor's own, the session making the change is kept.
func (s *Server) updateUser(ctx context.Context, p *principal, ip, name, kind string, detail map[string]any, fn func(*registry.User) error) (registry.User, error) {
	var u registry.User
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		var err error
		if u, err = tx.UserByName(name); err != nil {
			return err
		}
		before := u
		if err := fn(&u); err != nil {
			return err
		}
		keep := ""
		if p.sess != nil && u.ID == p.user.ID {
			keep = p.sess.key
		}
		if err := tx.UpdateUserKeeping(u, keep); err != nil {
			return err
		}
		if _, err = tx.Audit(p.user.Name, ip, kind, "user:"+name, detail); err != nil {
			return err
		}
		if err := auditKeeperGrant(tx, p.user.Name, ip, before, u); err != nil {
			return err
		}
		// An account that can no longer open footage loses its wrap in the
		// same transaction: re-enabling or making it a keeper again needs a
		// new grant.
		if u.Disabled || !u.Has(registry.RoleKeeper) {
			gone, err := tx.DeleteKeeperWrap(u.ID)
			if err != nil || !gone {
				return err
			}
			_, err = tx.Audit(p.user.Name, ip, "keys.revoke", "user:"+name, map[string]any{"why": kind})
			return err
		}
		return nil
	})
	if err == nil {
		s.sweepKeys(ctx) // its sessions ended: it may have held the key
	}
	return u, err
}

// setDisabled disables or enables an account; disabling ends its sessions
// in the same transaction.
func (s *Server) setDisabled(ctx context.Context, p *principal, ip, name string, disabled bool) error {
	kind := "user.enable"
	if disabled {
		kind = "user.disable"
		if name == p.user.Name {
			return uerr("error.selfdisable")
		}
	}
	_, err := s.updateUser(ctx, p, ip, name, kind, nil, func(u *registry.User) error {
		u.Disabled = disabled
		if !disabled { // enabling also lifts a lockout
			u.Failed, u.LockedUntil = 0, time.Time{}
		}
		return nil
	})
	return err
}

// setRoles replaces an account's roles. An admin cannot give themselves
// the keeper role: "admin: no footage" would otherwise be one click away.
// Another admin must do it, and the grant is audited for the DPO.
func (s *Server) setRoles(ctx context.Context, p *principal, ip, name string, roles []string) error {
	rs, ok := validRoles(roles)
	if !ok {
		return uerr("error.roles")
	}
	if name == p.user.Name && !slices.Contains(rs, registry.RoleAdmin) {
		return uerr("error.selfadmin")
	}
	_, err := s.updateUser(ctx, p, ip, name, "user.roles", map[string]any{"roles": rs}, func(u *registry.User) error {
		if u.ID == p.user.ID && !u.Has(registry.RoleKeeper) && slices.Contains(rs, registry.RoleKeeper) {
			return uerr("error.selfkeeper")
		}
		u.Roles = rs
		return nil
	})
	return err
}

func (s *Server) setLang(ctx context.Context, p *principal, ip, lang string) error {
	if lang != "fi" && lang != "en" {
		return uerr("error.lang")
	}
	_, err := s.updateUser(ctx, p, ip, p.user.Name, "user.lang", map[string]any{"lang": lang}, func(u *registry.User) error {
		u.Lang = lang
		return nil
	})
	return err
}

// setPassword changes the actor's own password. It ends every session of
// the account, this one included, and lifts a one-time password; a
// one-time password cannot be "changed" to itself. revokeTokens also
// revokes the account's API tokens.
func (s *Server) setPassword(ctx context.Context, p *principal, ip, old, pw string, revokeTokens bool) error {
	if ok, err := VerifyPassword(p.user.PassHash, old); err != nil || !ok {
		return uerr("error.oldpassword")
	}
	if pw == old {
		return uerr("error.samepassword")
	}
	if err := CheckPasswordPolicy(pw, p.user.Name); err != nil {
		return uerr("error.password", strings.TrimPrefix(err.Error(), ErrWeakPassword.Error()+": "))
	}
	hash, err := HashPassword(pw, s.cfg.HashParams)
	if err != nil {
		return err
	}
	defer s.sweepKeys(ctx) // every session of the account ended: it may have held the key
	return s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		u, err := tx.User(p.user.ID)
		if err != nil {
			return err
		}
		oneTime := u.MustChangePassword
		u.PassHash, u.MustChangePassword = hash, false
		if err := tx.UpdateUser(u); err != nil { // ends every session of the account
			return err
		}
		if err := s.rewrap(tx, u, ip, old, pw, oneTime); err != nil {
			return err
		}
		detail := map[string]any{}
		if revokeTokens {
			n, err := tx.RevokeUserTokens(u.ID)
			if err != nil {
				return err
			}
			detail["tokens_revoked"] = n
		}
		_, err = tx.Audit(p.user.Name, ip, "user.passwd", "user:"+u.Name, detail)
		return err
	})
}

// rewrap moves a keeper's wrap to their new password, in the transaction
// that changes it: the wrap is opened with the old password (the one-time
// password at a first login) and made again under the new one, so the old
// password opens nothing afterwards. A wrap the old password does not open
// (changed from the command line since) is remade from the key in memory,
// if a keeper's login holds it; otherwise it is left, and the login will
// say it does not open.
func (s *Server) rewrap(tx *registry.Tx, u registry.User, ip, old, pw string, oneTime bool) error {
	wrap, err := tx.KeeperWrap(u.ID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil // no grant: nothing to move
	}
	if err != nil {
		return err
	}
	site, err := tx.SealSiteKey()
	if err != nil {
		return err
	}
	pub, err := seal.ParseSitePublicKey(site.PublicKey)
	if err != nil {
		return err
	}
	ring, oerr := seal.UnlockPassword(pub, wrap, []byte(old))
	if oerr == nil {
		defer ring.Wipe()
	} else if ring = s.keys.held(); ring == nil {
		s.cfg.Log.Warn("password change: the keeper's wrap does not open with the old password and no key is open; left as it is", "user", u.Name)
		return nil
	}
	nw, err := ring.WrapPassword([]byte(pw), s.wrapParams())
	if err != nil {
		return fmt.Errorf("re-wrap for %s: %w", u.Name, err)
	}
	if err := tx.PutKeeperWrap(u.ID, nw, u.Name); err != nil {
		return err
	}
	_, err = tx.Audit(u.Name, ip, "keys.rewrap", "user:"+u.Name, map[string]any{"from_one_time_password": oneTime})
	return err
}

// createToken makes an API token. Only a person in a session can: a token
// that could mint tokens would outlive its own revocation.
func (s *Server) createToken(ctx context.Context, p *principal, ip, name string) (registry.Token, string, error) {
	if p.token {
		return registry.Token{}, "", errTokenMintsToken
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return registry.Token{}, "", uerr("error.tokenname")
	}
	secret := "vahti_" + randomToken()
	t := registry.Token{UserID: p.user.ID, Name: name, Hash: hashToken(secret)}
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.AddToken(&t); err != nil {
			return err
		}
		_, err := tx.Audit(p.user.Name, ip, "token.create", fmt.Sprintf("token:%d", t.ID), map[string]any{"name": name})
		return err
	})
	return t, secret, err
}

// errTokenMintsToken refuses a token's request for another token.
var errTokenMintsToken = errors.New("an API token cannot create tokens: log in with your password to make one")

func (s *Server) revokeToken(ctx context.Context, p *principal, ip string, id int64) error {
	return s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.RevokeToken(p.user.ID, id); err != nil {
			return err
		}
		_, err := tx.Audit(p.user.Name, ip, "token.revoke", fmt.Sprintf("token:%d", id), nil)
		return err
	})
}

func (s *Server) tokens(ctx context.Context, p *principal) ([]registry.Token, error) {
	var out []registry.Token
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		out, err = tx.Tokens(p.user.ID)
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, err
}

// keeperSummary is the data protection officer's view of who can see
// footage: the keeper accounts now, and the grants of the keeper role in
// the last keeperGrantWindow.
type keeperSummary struct {
	Keepers []string
	Grants  []registry.Entry // newest first, at most maxKeeperGrants
	Since   time.Time
	More    int // grants in the window not listed
}

const (
	keeperGrantWindow = 90 * 24 * time.Hour
	maxKeeperGrants   = 50
)

func (s *Server) keeperSummary(ctx context.Context) (keeperSummary, error) {
	ks := keeperSummary{Since: s.now().Add(-keeperGrantWindow)}
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		us, err := tx.Users()
		if err != nil {
			return err
		}
		for _, u := range us {
			if u.Has(registry.RoleKeeper) && !u.Disabled {
				ks.Keepers = append(ks.Keepers, u.Name)
			}
		}
		es, err := tx.AuditEntries(registry.AuditFilter{Kind: registry.KindKeeperGrant, From: ks.Since})
		if err != nil {
			return err
		}
		slices.Reverse(es)
		if len(es) > maxKeeperGrants {
			ks.More = len(es) - maxKeeperGrants
			es = es[:maxKeeperGrants]
		}
		ks.Grants = es
		return nil
	})
	return ks, err
}

// --- audit ---

func (s *Server) verifyAudit(ctx context.Context, p *principal, ip string) (int, error) {
	var n int
	var verr error
	anchors, cerr := s.checkpointAnchors()
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		var err error
		n, verr = tx.VerifyAuditWith(anchors)
		if verr == nil {
			verr = cerr
		}
		detail := map[string]any{"entries": n, "ok": verr == nil, "checkpoints": len(anchors)}
		if verr != nil {
			detail["error"] = verr.Error()
		}
		_, err = tx.Audit(p.user.Name, ip, "audit.verify", "audit", detail)
		return err
	})
	if err != nil {
		return n, err
	}
	return n, verr
}
