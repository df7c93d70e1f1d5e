package checkpoint

import (
	"database/sql"
	"path/filepath"

	_ "modernc.org/sqlite"

	"vahti/registry"
)

// sqlExec edits the registry file directly, as an attacker with write
// access to it would.
func sqlExec(f *fixture, q string) (int64, error) {
	s, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, registry.FileName))
	if err != nil {
		return 0, err
	}
	defer s.Close()
	r, err := s.Exec(q)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
