package registry

import "fmt"

// migrations are applied in order; a released one is never edited.
var migrations = []string{
	`CREATE TABLE segments (
		id INTEGER PRIMARY KEY,
		camera TEXT NOT NULL,
		start_ns INTEGER NOT NULL,
		end_ns INTEGER NOT NULL,
		path TEXT NOT NULL UNIQUE,
		bytes INTEGER NOT NULL,
		codecs TEXT NOT NULL DEFAULT '',
		params TEXT NOT NULL DEFAULT '',
		sha256 TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL DEFAULT 'ok',
		added_ns INTEGER NOT NULL
	);
	CREATE INDEX segments_camera_start ON segments(camera, start_ns);
	CREATE INDEX segments_end ON segments(end_ns);
	CREATE INDEX segments_state ON segments(state) WHERE state != 'ok';

	CREATE TABLE holds (
		id INTEGER PRIMARY KEY,
		cameras TEXT NOT NULL,
		from_ns INTEGER NOT NULL,
		to_ns INTEGER NOT NULL,
		reason TEXT NOT NULL,
		case_ref TEXT NOT NULL DEFAULT '',
		basis TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL,
		created_ns INTEGER NOT NULL,
		review_ns INTEGER,
		released_by TEXT NOT NULL DEFAULT '',
		released_ns INTEGER,
		release_reason TEXT NOT NULL DEFAULT '',
		request_id INTEGER
	);
	CREATE INDEX holds_active ON holds(released_ns);

	CREATE TABLE requests (
		id INTEGER PRIMARY KEY,
		kind TEXT NOT NULL,
		cameras TEXT NOT NULL,
		from_ns INTEGER NOT NULL,
		to_ns INTEGER NOT NULL,
		reference TEXT NOT NULL,
		basis TEXT NOT NULL,
		authority TEXT NOT NULL DEFAULT '',
		requester TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL,
		created_ns INTEGER NOT NULL,
		hold_id INTEGER,
		status TEXT NOT NULL DEFAULT 'open',
		outcome TEXT NOT NULL DEFAULT '',
		closed_by TEXT NOT NULL DEFAULT '',
		closed_ns INTEGER,
		close_reason TEXT NOT NULL DEFAULT ''
	);

	CREATE TABLE users (
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		roles TEXT NOT NULL,
		pass_hash TEXT NOT NULL,
		lang TEXT NOT NULL DEFAULT 'fi',
		totp_secret TEXT NOT NULL DEFAULT '',
		failed INTEGER NOT NULL DEFAULT 0,
		locked_until_ns INTEGER NOT NULL DEFAULT 0,
		disabled INTEGER NOT NULL DEFAULT 0,
		created_ns INTEGER NOT NULL
	);

	CREATE TABLE api_tokens (
		id INTEGER PRIMARY KEY,
		user_id INTEGER NOT NULL REFERENCES users(id),
		name TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created_ns INTEGER NOT NULL,
		revoked_ns INTEGER
	);

	CREATE TABLE exports (
		id TEXT PRIMARY KEY,
		path TEXT NOT NULL,
		cameras TEXT NOT NULL,
		from_ns INTEGER NOT NULL,
		to_ns INTEGER NOT NULL,
		footage_end_ns INTEGER NOT NULL,
		sha256 TEXT NOT NULL,
		bytes INTEGER NOT NULL,
		reason TEXT NOT NULL,
		case_ref TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL,
		created_ns INTEGER NOT NULL,
		deleted_ns INTEGER
	);

	CREATE TABLE audit (
		seq INTEGER PRIMARY KEY,
		time_ns INTEGER NOT NULL,
		actor TEXT NOT NULL,
		source TEXT NOT NULL,
		kind TEXT NOT NULL,
		object TEXT NOT NULL,
		detail TEXT NOT NULL,
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL
	);

	CREATE TABLE meta (
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,

	// Sessions live in the registry, so a restart does not log everyone out
	// and a credential change made by another process (the CLI) ends them
	// at once. key is the SHA-256 of the cookie value, never the value.
	// session_plays remembers which playback ranges a session has had
	// audited (by the SHA-256 of the range and reason). Users gain a flag
	// for a one-time password set by someone else and the last TOTP step
	// accepted (a code is good once); tokens record their last use.
	`CREATE TABLE sessions (
		key TEXT PRIMARY KEY,
		user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		created_ns INTEGER NOT NULL,
		last_seen_ns INTEGER NOT NULL,
		csrf TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		flash TEXT NOT NULL DEFAULT '',
		pending_totp TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX sessions_user ON sessions(user_id);
	CREATE INDEX sessions_last_seen ON sessions(last_seen_ns);
	CREATE TABLE session_plays (
		session TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,
		range_hash TEXT NOT NULL,
		PRIMARY KEY (session, range_hash)
	) WITHOUT ROWID;
	ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE api_tokens ADD COLUMN last_used_ns INTEGER;`,
	// Requests end to end: the fuller register, the status flow with its
	// history, the packages made for a request, and the append-only
	// disclosure log (triggers refuse UPDATE and DELETE).
	`ALTER TABLE requests ADD COLUMN received_ns INTEGER;
	ALTER TABLE requests ADD COLUMN deadline_ns INTEGER;
	ALTER TABLE requests ADD COLUMN officer TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN contact TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN identity TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN description TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN basis_code TEXT NOT NULL DEFAULT 'other';
	ALTER TABLE requests ADD COLUMN handler TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN notes TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN state TEXT NOT NULL DEFAULT 'received';
	ALTER TABLE requests ADD COLUMN ground TEXT NOT NULL DEFAULT '';
	UPDATE requests SET received_ns = created_ns,
		state = CASE WHEN status = 'closed' AND outcome != '' THEN outcome WHEN hold_id IS NOT NULL THEN 'held' ELSE 'received' END;
	CREATE INDEX requests_deadline ON requests(deadline_ns);

	CREATE TABLE request_events (
		id INTEGER PRIMARY KEY,
		request_id INTEGER NOT NULL REFERENCES requests(id),
		state TEXT NOT NULL,
		actor TEXT NOT NULL,
		source TEXT NOT NULL,
		time_ns INTEGER NOT NULL,
		note TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX request_events_request ON request_events(request_id, id);
	INSERT INTO request_events(request_id, state, actor, source, time_ns, note)
		SELECT id, 'received', created_by, '', created_ns, 'registered before the status flow existed' FROM requests;

	CREATE TABLE request_exports (
		request_id INTEGER NOT NULL REFERENCES requests(id),
		export_id TEXT NOT NULL,
		created_ns INTEGER NOT NULL,
		PRIMARY KEY (request_id, export_id)
	);

	CREATE TABLE disclosures (
		id INTEGER PRIMARY KEY,
		request_id INTEGER NOT NULL REFERENCES requests(id),
		package_id TEXT NOT NULL,
		package_sha256 TEXT NOT NULL,
		recipient TEXT NOT NULL,
		recipient_authority TEXT NOT NULL DEFAULT '',
		basis TEXT NOT NULL,
		channel TEXT NOT NULL,
		handed_by TEXT NOT NULL,
		acknowledged INTEGER NOT NULL DEFAULT 0,
		ack_note TEXT NOT NULL DEFAULT '',
		at_ns INTEGER NOT NULL,
		recorded_by TEXT NOT NULL,
		recorded_ns INTEGER NOT NULL,
		corrects INTEGER REFERENCES disclosures(id),
		note TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX disclosures_at ON disclosures(at_ns);
	CREATE TRIGGER disclosures_no_update BEFORE UPDATE ON disclosures
		BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only: record a correction instead'); END;
	CREATE TRIGGER disclosures_no_delete BEFORE DELETE ON disclosures
		BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only: record a correction instead'); END;`,
	// Sealed footage (issue 13): the site public key, the wraps of the
	// site private key, the per-day epoch keys and the per-segment data
	// keys, all sealed (seal/DESIGN.md). Rows holding key material are
	// deleted, never updated to NULL, so secure_delete zeroes them.
	`CREATE TABLE seal_site (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		public_key BLOB NOT NULL,
		recovery_public_key BLOB NOT NULL,
		created_ns INTEGER NOT NULL,
		created_by TEXT NOT NULL
	);
	CREATE TABLE seal_wraps (
		id INTEGER PRIMARY KEY,
		kind TEXT NOT NULL CHECK (kind IN ('keeper', 'recovery')),
		user_id INTEGER REFERENCES users(id),
		wrap BLOB NOT NULL,
		created_ns INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		CHECK ((kind = 'keeper') = (user_id IS NOT NULL))
	);
	CREATE UNIQUE INDEX seal_wraps_user ON seal_wraps(user_id) WHERE kind = 'keeper';
	CREATE UNIQUE INDEX seal_wraps_recovery ON seal_wraps(kind) WHERE kind = 'recovery';
	CREATE TABLE seal_epochs (
		day INTEGER PRIMARY KEY,
		public_key BLOB NOT NULL,
		sealed_private BLOB NOT NULL,
		created_ns INTEGER NOT NULL
	);
	CREATE TABLE seal_epochs_destroyed (
		day INTEGER PRIMARY KEY,
		destroyed_ns INTEGER NOT NULL,
		destroyed_by TEXT NOT NULL
	);
	CREATE TABLE seal_segment_keys (
		key_id BLOB PRIMARY KEY,
		camera TEXT NOT NULL,
		start_ns INTEGER NOT NULL,
		epoch_day INTEGER NOT NULL REFERENCES seal_epochs(day),
		sealed_key BLOB NOT NULL,
		created_ns INTEGER NOT NULL,
		UNIQUE (camera, start_ns)
	);
	CREATE INDEX seal_segment_keys_epoch ON seal_segment_keys(epoch_day);`,
	// Background jobs (admin/jobs): request packages, plain or redacted,
	// and long ad-hoc exports (no request; cameras, range, reason and case
	// reference in params), made outside an HTTP request, with progress,
	// cancel and resume. Edited in place (request_id made nullable, the
	// kind/request check added) before its first release: no installed
	// registry has this migration yet.
	`CREATE TABLE jobs (
		id INTEGER PRIMARY KEY,
		kind TEXT NOT NULL CHECK (kind IN ('export', 'redact')),
		-- a request that expires takes its jobs (and their regions) with it;
		-- NULL: an ad-hoc export (only kind export); its params hold what
		-- its exports row and audit entries keep anyway
		request_id INTEGER REFERENCES requests(id) ON DELETE CASCADE
			CHECK (request_id IS NOT NULL OR kind = 'export'),
		params TEXT NOT NULL DEFAULT '{}',
		state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
		progress REAL NOT NULL DEFAULT 0,
		package TEXT NOT NULL DEFAULT '',
		error TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL,
		source TEXT NOT NULL DEFAULT '',
		created_ns INTEGER NOT NULL,
		started_ns INTEGER,
		finished_ns INTEGER,
		attempts INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX jobs_request ON jobs(request_id);
	CREATE INDEX jobs_state ON jobs(state);`,
	// The right of access (issue 11): who verified a data subject's
	// identity, the keyed hash of what identifies them (never the plain
	// key), deadline extensions, and what lets closed requests expire.
	// The disclosure log is rebuilt once so an entry can outlive its
	// request: request_id becomes nullable, and the append-only triggers
	// gain ONE exception, the expiry of an entry whose request expires
	// (personal fields blanked, the request's id replaced by a keyed hash
	// of its reference, expired_ns set; nothing else may change, and an
	// expired entry never changes again). Nothing references disclosures
	// but itself, so the rebuild is safe with foreign keys on.
	`ALTER TABLE requests ADD COLUMN verified_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN subject_hash TEXT NOT NULL DEFAULT '';
	ALTER TABLE requests ADD COLUMN extension_months INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE requests ADD COLUMN extension_reason TEXT NOT NULL DEFAULT '';
	CREATE INDEX requests_subject ON requests(subject_hash, received_ns) WHERE subject_hash != '';
	CREATE INDEX requests_closed ON requests(closed_ns) WHERE status = 'closed';

	DROP TRIGGER disclosures_no_update;
	DROP TRIGGER disclosures_no_delete;
	CREATE TABLE disclosures_v2 (
		id INTEGER PRIMARY KEY,
		request_id INTEGER REFERENCES requests(id),
		package_id TEXT NOT NULL,
		package_sha256 TEXT NOT NULL,
		recipient TEXT NOT NULL,
		recipient_authority TEXT NOT NULL DEFAULT '',
		basis TEXT NOT NULL,
		channel TEXT NOT NULL,
		handed_by TEXT NOT NULL,
		acknowledged INTEGER NOT NULL DEFAULT 0,
		ack_note TEXT NOT NULL DEFAULT '',
		at_ns INTEGER NOT NULL,
		recorded_by TEXT NOT NULL,
		recorded_ns INTEGER NOT NULL,
		corrects INTEGER REFERENCES disclosures_v2(id),
		note TEXT NOT NULL DEFAULT '',
		subject INTEGER NOT NULL DEFAULT 0,
		request_ref_hash TEXT NOT NULL DEFAULT '',
		expired_ns INTEGER
	);
	INSERT INTO disclosures_v2(id, request_id, package_id, package_sha256, recipient, recipient_authority, basis, channel,
		handed_by, acknowledged, ack_note, at_ns, recorded_by, recorded_ns, corrects, note, subject)
		SELECT d.id, d.request_id, d.package_id, d.package_sha256, d.recipient, d.recipient_authority, d.basis, d.channel,
		d.handed_by, d.acknowledged, d.ack_note, d.at_ns, d.recorded_by, d.recorded_ns, d.corrects, d.note,
		COALESCE((SELECT q.kind = 'access' FROM requests q WHERE q.id = d.request_id), 0) FROM disclosures d ORDER BY d.id;
	DROP TABLE disclosures;
	ALTER TABLE disclosures_v2 RENAME TO disclosures;
	CREATE INDEX disclosures_at ON disclosures(at_ns);
	CREATE INDEX disclosures_request ON disclosures(request_id);
	CREATE TRIGGER disclosures_no_update BEFORE UPDATE ON disclosures
		WHEN NOT COALESCE(OLD.expired_ns IS NULL AND NEW.expired_ns IS NOT NULL AND NEW.request_id IS NULL
			AND NEW.id IS OLD.id AND NEW.package_id IS OLD.package_id AND NEW.package_sha256 IS OLD.package_sha256
			AND NEW.basis IS OLD.basis AND NEW.channel IS OLD.channel AND NEW.handed_by IS OLD.handed_by
			AND NEW.acknowledged IS OLD.acknowledged AND NEW.at_ns IS OLD.at_ns AND NEW.recorded_by IS OLD.recorded_by
			AND NEW.recorded_ns IS OLD.recorded_ns AND NEW.corrects IS OLD.corrects AND NEW.subject IS OLD.subject
			AND NEW.recipient IS '' AND NEW.ack_note IS '' AND NEW.note IS ''
			AND NEW.recipient_authority IS (CASE WHEN OLD.subject THEN '' ELSE OLD.recipient_authority END)
			AND length(NEW.request_ref_hash) = 64, 0)
		BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only: record a correction instead'); END;
	CREATE TRIGGER disclosures_no_delete BEFORE DELETE ON disclosures
		BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only: record a correction instead'); END;`,
	// Held segments' keys out of their day's epoch (seal/DESIGN.md,
	// "Holds"): per day a second, "held" epoch key pair; a held segment's
	// data key re-sealed to it. The day's epoch can then be destroyed
	// while held footage still opens. Key rows are deleted, never updated.
	`CREATE TABLE seal_held_epochs (
		day INTEGER PRIMARY KEY,
		public_key BLOB NOT NULL,
		sealed_private BLOB NOT NULL,
		created_ns INTEGER NOT NULL
	);
	CREATE TABLE seal_held_epochs_destroyed (
		day INTEGER PRIMARY KEY,
		destroyed_ns INTEGER NOT NULL,
		destroyed_by TEXT NOT NULL
	);
	CREATE TABLE seal_held_keys (
		key_id BLOB PRIMARY KEY,
		camera TEXT NOT NULL,
		start_ns INTEGER NOT NULL,
		epoch_day INTEGER NOT NULL REFERENCES seal_held_epochs(day),
		sealed_key BLOB NOT NULL,
		created_ns INTEGER NOT NULL,
		UNIQUE (camera, start_ns)
	);
	CREATE INDEX seal_held_keys_epoch ON seal_held_keys(epoch_day);`,
	// The audit log grows by every view, export and login, years of it:
	// the questions about a recent stretch (the nightly report's deletions
	// since yesterday, the keepers' page's grants of 30 days, a day on the
	// audit page) read that stretch through this index, not the whole
	// chain from its first entry.
	`CREATE INDEX audit_time ON audit(time_ns);`,
}

func (db *DB) migrate() error {
	if _, err := db.sql.Exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var v int
	err := db.sql.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this Vahti (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := db.sql.Begin()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_version(version) VALUES (?)`, i+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}
