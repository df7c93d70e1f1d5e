// Command vahti is a CCTV recording retention controller: it records RTSP
// cameras to fMP4 segments, destroys footage past the retention limit unless
// a legal hold keeps it, and serves the registry keepers' admin UI.
//
// main only wires subcommands; each lives in its own file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Europe/Helsinki must resolve even on a box without tzdata
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// env is what a subcommand may touch of the outside world, so tests can run
// commands in-process with their own clock, input and output.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	getenv func(string) string
	// geteuid is the effective user id (cliActor believes SUDO_USER only
	// for root); nil: os.Geteuid.
	geteuid func() int
}

type command struct {
	run     func(ctx context.Context, e *env, args []string) error
	summary string
}

func commands() map[string]command {
	return map[string]command{
		"demo":          {runDemo, "simulated cameras + recorder + retention + admin UI"},
		"serve":         {runServe, "run the service: recorder, retention, admin UI"},
		"check-config":  {runCheckConfig, "validate a config file"},
		"fakecam":       {runFakecam, "serve looping sample streams over RTSP"},
		"status":        {runStatus, "per-camera recording state and footage"},
		"reindex":       {runReindex, "reconcile the catalog with the files on disk"},
		"purge":         {runPurge, "one retention pass now (or --dry-run)"},
		"hold":          {runHold, "legal holds: add, list, show, release"},
		"cat":           {runCat, "write one segment, decrypted, to stdout (audited as a viewing)"},
		"export":        {runExport, "write a signed evidence package"},
		"verify-export": {runVerifyExport, "check an evidence package's hashes and signature"},
		"pubkey":        {runPubkey, "print the box's export signing public key"},
		"sign":          {runSign, "write the camera-surveillance sign (A4 HTML)"},
		"user":          {runUser, "personal accounts: add, list"},
		"request":       {runRequest, "register of police and access requests"},
		"disclosures":   {runDisclosures, "the disclosure log: what was handed to whom"},
		"backup":        {runBackup, "consistent copy of the registry database"},
		"restore":       {runRestore, "restore the registry database from a backup"},
		"audit":         {runAudit, "verify or export the audit chain"},
		"keys":          {runKeys, "sealed-footage keys: init (once), status, grant"},
		"version":       {runVersion, "print the version"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, now: time.Now, getenv: os.Getenv}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, e *env, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "vahti: unknown command %q\n\n", args[0])
		usage(e.stderr, cmds)
		return 2
	}
	if err := c.run(ctx, e, args[1:]); err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintf(e.stderr, "vahti %s: %v\n", args[0], err)
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// exitError carries a specific exit code (2 for usage errors).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: vahti COMMAND [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'vahti COMMAND --help' for a command's flags.")
}

func runVersion(_ context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usageErr("version takes no arguments")
	}
	fmt.Fprintln(e.stdout, "vahti", version)
	return nil
}

// errNotYet marks a subcommand whose issue has not landed.
func errNotYet(name string) error {
	return fmt.Errorf("%s is not yet available in this version", strings.TrimSpace(name))
}
