package configs

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secrets is the optional separate file of camera passwords, so the main
// config can be shown to a colleague or an auditor without leaking them.
//
//	cameras:
//	  yard: s3cret
type Secrets struct {
	Cameras map[string]string `yaml:"cameras"`
}

// PasswordEnv is the environment variable that may hold a camera's password.
func PasswordEnv(id string) string {
	return "VAHTI_CAMERA_" + strings.ToUpper(strings.ReplaceAll(id, "-", "_")) + "_PASSWORD"
}

// loadSecrets fills passwords into camera URLs: the environment wins over
// the secrets file, which wins over a password written in the URL.
func (c *Config) loadSecrets(getenv func(string) string) error {
	var s Secrets
	if c.SecretsFile != "" {
		b, err := os.ReadFile(c.SecretsFile)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s: %w", c.SecretsFile, err)
		}
		for id := range s.Cameras {
			if _, ok := c.Camera(id); !ok {
				return fmt.Errorf("%s: password for unknown camera %q", c.SecretsFile, id)
			}
		}
	}
	for i, cam := range c.Cameras {
		pw, ok := s.Cameras[cam.ID]
		if getenv != nil {
			if v := getenv(PasswordEnv(cam.ID)); v != "" {
				pw, ok = v, true
			}
		}
		if !ok {
			continue
		}
		u, err := url.Parse(cam.URL)
		if err != nil {
			continue // reported by validate
		}
		user := ""
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, pw)
		c.Cameras[i].URL = u.String()
	}
	return nil
}

// RedactURL returns the URL with its password replaced, for logs and status.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
