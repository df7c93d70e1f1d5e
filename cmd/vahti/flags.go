package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"time"
)

var errHelp = errors.New("help shown")

// flagSet is a flag.FlagSet whose Parse accepts flags before and after
// positional arguments ("hold release 7 --reason x" and
// "hold release --reason x 7"), which the standard package does not.
type flagSet struct {
	*flag.FlagSet
	out io.Writer
}

func newFlags(e *env, name string) *flagSet {
	fs := flag.NewFlagSet("vahti "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return &flagSet{FlagSet: fs, out: e.stderr}
}

// parse parses args and returns the positional arguments. "--" ends flags.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	rest := args
	for {
		if err := fs.FlagSet.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, exitError{code: 2, err: err}
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		// flag stops at the first non-flag; a bare "--" ends flags for good.
		if prev := len(args) - len(rest) - 1; prev >= 0 && args[prev] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	return pos, nil
}

// parseNone parses args for a command that takes no positional arguments.
func (fs *flagSet) parseNone(args []string) error {
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	return fs.need(pos, 0, "no arguments")
}

// need checks the number of positional arguments.
func (fs *flagSet) need(pos []string, n int, what string) error {
	if len(pos) != n {
		return usageErr("%s: expected %s, got %d argument(s)", fs.Name(), what, len(pos))
	}
	return nil
}

// required names every empty required string flag at once.
func required(pairs ...any) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if v, _ := pairs[i+1].(string); strings.TrimSpace(v) == "" {
			missing = append(missing, "--"+pairs[i].(string))
		}
	}
	if len(missing) > 0 {
		return usageErr("missing required flag(s): %s", strings.Join(missing, ", "))
	}
	return nil
}

// parseTime parses an RFC 3339 time from a flag and returns it in UTC.
func parseTime(flagName, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, usageErr("--%s: %q is not an RFC 3339 time (e.g. 2026-11-22T14:05:00+02:00 or 2026-11-22T12:05:00Z)", flagName, v)
	}
	return t.UTC(), nil
}

// optTime parses an optional RFC 3339 flag: empty is the zero time.
func optTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return parseTime(flagName, v)
}

// parseCameras splits "a,b" or "all" and checks each id against the config.
func parseCameras(v string, known []string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, usageErr("--camera: required")
	}
	var out []string
	seen := map[string]bool{}
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		if id == "all" {
			return []string{"all"}, nil
		}
		ok := false
		for _, k := range known {
			ok = ok || k == id
		}
		if !ok {
			return nil, usageErr("--camera: unknown camera %q (configured: %s)", id, strings.Join(known, ", "))
		}
		if !seen[id] {
			out = append(out, id)
			seen[id] = true
		}
	}
	return out, nil
}

// rangeFlags parses --from/--to and checks from < to.
func rangeFlags(from, to string) (time.Time, time.Time, error) {
	f, err := parseTime("from", from)
	if err != nil {
		return f, f, err
	}
	t, err := parseTime("to", to)
	if err != nil {
		return f, t, err
	}
	if !t.After(f) {
		return f, t, usageErr("--to (%s) must be after --from (%s)", t.Format(time.RFC3339), f.Format(time.RFC3339))
	}
	return f, t, nil
}

// subcommand is one verb of a command with verbs (hold add, hold list, …).
type subcommand struct {
	name string
	run  func(ctx context.Context, e *env, args []string) error
}

// dispatch runs the verb named by args[0], or says which verbs there are.
func dispatch(ctx context.Context, e *env, command string, args []string, subs ...subcommand) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErr("%s: expected a subcommand: %s", command, strings.Join(names, ", "))
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	return usageErr("%s: unknown subcommand %q (%s)", command, args[0], strings.Join(names, ", "))
}
