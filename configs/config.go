// Package configs holds Vahti's configuration schema, its defaults and its
// strict validation. Nothing here touches the network or the recordings.
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxRetention is the longest retention the privacy notice allows.
const MaxRetention = 28 * 24 * time.Hour

// Example is the commented example configuration, also the demo's base.
//
//go:embed vahti.example.yaml
var Example []byte

// Config is the whole configuration file.
type Config struct {
	StateDir    string    `yaml:"state_dir"`
	SecretsFile string    `yaml:"secrets_file"`
	Storage     Storage   `yaml:"storage"`
	Retention   Retention `yaml:"retention"`
	Cameras     []Camera  `yaml:"cameras"`
	Admin       Admin     `yaml:"admin"`
	Metrics     Metrics   `yaml:"metrics"`
	Alarms      Alarms    `yaml:"alarms"`
	Backup      Backup    `yaml:"backup"`
	// Controller is named on the camera-surveillance sign (controller.go).
	Controller Controller `yaml:"controller"`
	// Requests is the register of authority and access requests.
	Requests Requests `yaml:"requests"`

	// Path is the file the config was read from ("" when embedded).
	Path string `yaml:"-"`
}

// Storage says where and how segments are written.
type Storage struct {
	Root            string   `yaml:"root"`
	SegmentDuration Duration `yaml:"segment_duration"`
	PartDuration    Duration `yaml:"part_duration"`
	// FsyncInterval bounds how much footage a power cut can take while a
	// segment is being written.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// Encryption is EncryptionSealed, EncryptionOff, or empty (auto: sealed
	// once vahti keys init has run, plain with a warning until then).
	Encryption string `yaml:"encryption"`
}

// storage.encryption values.
const (
	// EncryptionSealed: every new segment is sealed (seal/DESIGN.md); the
	// site keys must exist (vahti keys init).
	EncryptionSealed = "sealed"
	// EncryptionOff: plain fMP4, for those who rely on disk encryption
	// alone (the weaker choice).
	EncryptionOff = "off"
	// EncryptionAuto is the key left out: sealed when site keys exist.
	EncryptionAuto = ""
)

// Retention is the deletion policy.
type Retention struct {
	MaxAge         Duration  `yaml:"max_age"`
	SweepInterval  Duration  `yaml:"sweep_interval"`
	NightlyPurgeAt string    `yaml:"nightly_purge_at"`
	Timezone       string    `yaml:"timezone"`
	MinFree        FreeSpace `yaml:"min_free"`
	// MaxDeleteFraction is the interlock: a single pass that would delete a
	// larger fraction of all catalogued footage refuses to run.
	MaxDeleteFraction float64 `yaml:"max_delete_fraction"`
	// HoldAutoRelease releases holds whose review date has passed; when
	// false they are only flagged for review.
	HoldAutoRelease bool `yaml:"hold_auto_release"`
}

// Requests is the register of authority and access requests.
type Requests struct {
	// Retention is how long a closed request stays in the register after
	// it was closed; then it expires (its history and released hold with
	// it) and its disclosure-log entries keep counts and hashes only.
	Retention Duration `yaml:"retention"`
}

// DefaultRequestRetention is requests.retention's default: three years
// after closing, the general limitation period of a claim for damages
// (vanhentumislaki 728/2003, 4 §) such as one under GDPR art. 82, during
// which the controller must be able to show how it answered (art. 5(2)).
const DefaultRequestRetention = 3 * 365 * 24 * time.Hour

// MinRequestRetention: the free-once-a-year check looks a year back.
const MinRequestRetention = 365 * 24 * time.Hour

// Camera is one RTSP source.
type Camera struct {
	ID        string   `yaml:"id"`
	Name      string   `yaml:"name"`
	Purpose   string   `yaml:"purpose"`
	URL       string   `yaml:"url"`
	Transport string   `yaml:"transport"`
	MaxAge    Duration `yaml:"max_age"`
	Disabled  bool     `yaml:"disabled"`
}

// Admin is the web UI.
type Admin struct {
	Listen         string   `yaml:"listen"`
	TLSCert        string   `yaml:"tls_cert"`
	TLSKey         string   `yaml:"tls_key"`
	SessionIdle    Duration `yaml:"session_idle"`
	SessionMaxAge  Duration `yaml:"session_max_age"`
	LoginFailLimit int      `yaml:"login_fail_limit"`
	LockoutPeriod  Duration `yaml:"lockout"`
}

// Metrics is the optional Prometheus endpoint.
type Metrics struct {
	Listen string `yaml:"listen"`
}

// Alarms are the conditions that need a person, and how they reach one.
type Alarms struct {
	// CameraOffline is how long a camera may be away before it is an alarm.
	CameraOffline Duration `yaml:"camera_offline"`
	// Command is run (no shell) on every change of the alarms, with the
	// alarms as JSON on stdin; empty: none.
	Command []string `yaml:"command"`
	// CommandTimeout bounds one run of Command.
	CommandTimeout Duration `yaml:"command_timeout"`
	// AuditCheckEvery is how often the whole audit chain is verified.
	AuditCheckEvery Duration `yaml:"audit_check_every"`
	// CertWarn is how long before the admin TLS certificate expires the
	// alarm is raised.
	CertWarn Duration `yaml:"cert_warn"`
}

// Backup is the nightly copy of the registry.
type Backup struct {
	// Path is a folder on another disk or mount; empty: no nightly copy.
	Path string `yaml:"path"`
	// Keep is how many copies are kept (the oldest go first).
	Keep int `yaml:"keep"`
}

// Defaults returns a Config with every default filled in and no cameras.
func Defaults() Config {
	return Config{
		StateDir: "/var/lib/vahti",
		Storage: Storage{
			Root:            "/var/lib/vahti/recordings",
			SegmentDuration: Duration(60 * time.Second),
			PartDuration:    Duration(time.Second),
			FsyncInterval:   Duration(2 * time.Second),
		},
		Retention: Retention{
			MaxAge:            Duration(MaxRetention),
			SweepInterval:     Duration(time.Minute),
			NightlyPurgeAt:    "03:00",
			Timezone:          "Europe/Helsinki",
			MinFree:           FreeSpace{Percent: 5},
			MaxDeleteFraction: 0.10,
		},
		Admin: Admin{
			Listen:         "127.0.0.1:8443",
			SessionIdle:    Duration(15 * time.Minute),
			SessionMaxAge:  Duration(8 * time.Hour),
			LoginFailLimit: 5,
			LockoutPeriod:  Duration(15 * time.Minute),
		},
		Alarms: Alarms{
			CameraOffline:   Duration(5 * time.Minute),
			CommandTimeout:  Duration(30 * time.Second),
			AuditCheckEvery: Duration(time.Hour),
			CertWarn:        Duration(30 * 24 * time.Hour),
		},
		Backup:   Backup{Keep: 7},
		Requests: Requests{Retention: Duration(DefaultRequestRetention)},
	}
}

// Load reads, decodes and validates a config file. Secrets (camera
// passwords) are merged from secrets_file and the environment.
func Load(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b, getenv)
	if c != nil {
		c.Path = path
	}
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates config bytes. On failure the error is a
// *Problems listing every problem found.
func Parse(b []byte, getenv func(string) string) (*Config, error) {
	c := Defaults()
	var probs Problems
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		probs.add("", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, &probs
	}
	keys := keyPaths(&root)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				k, m := keys.explain(strings.TrimPrefix(e, "yaml: "))
				probs.add(k, "%s", m)
			}
		} else {
			probs.add("", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return nil, &probs
		}
	}
	c.validate(&probs)
	if err := c.loadSecrets(getenv); err != nil {
		probs.add("secrets_file", "%v", err)
	}
	if len(probs) > 0 {
		return &c, &probs
	}
	return &c, nil
}

// Location returns the retention time zone (validated by Parse).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Retention.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Camera returns the camera with the given id.
func (c *Config) Camera(id string) (Camera, bool) {
	for _, cam := range c.Cameras {
		if cam.ID == id {
			return cam, true
		}
	}
	return Camera{}, false
}

// CameraIDs lists the configured camera ids in file order.
func (c *Config) CameraIDs() []string {
	ids := make([]string, 0, len(c.Cameras))
	for _, cam := range c.Cameras {
		ids = append(ids, cam.ID)
	}
	return ids
}

// MaxAgeFor is the effective retention of one camera.
func (c *Config) MaxAgeFor(id string) time.Duration {
	if cam, ok := c.Camera(id); ok && cam.MaxAge > 0 && cam.MaxAge < c.Retention.MaxAge {
		return cam.MaxAge.D()
	}
	return c.Retention.MaxAge.D()
}

// Marshal writes the config as YAML that Parse reads back. Camera URLs are
// written as they are: callers writing to a shared place redact first.
func (c *Config) Marshal() ([]byte, error) {
	return yaml.Marshal(c)
}
