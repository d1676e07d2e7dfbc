package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/wallet"
)

var _ wallet.Ledger = (*Ledger)(nil)

// ledgerMigrations are the allowance wallet's tables, component "wallet".
// Agent ids and payment hashes are lowercase hex, so that an operator can
// look one up with the sqlite3 shell; times are Unix microseconds, 0 for
// none. Root keys and preimages are secrets: the file is 0600.
//
// wallet_charges repeats each entry's creation time and what it counts
// against its budgets now (0 once released), and wallet_charge_hours (from
// version 2) adds those up per key and hour of creation. A budget's sum is
// then the whole hours of its window from wallet_charge_hours plus at most
// one hour of charges before them: a window of a day costs 24 rows and an
// hour's entries, however many entries the day holds. Every write of an
// entry's status rewrites its charges and their hours in the same
// transaction.
var ledgerMigrations = []string{
	`CREATE TABLE wallet_agents (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		agent_id   TEXT    NOT NULL UNIQUE,
		name       TEXT    NOT NULL,
		root_key   BLOB    NOT NULL,
		caveats    TEXT    NOT NULL,
		created_us INTEGER NOT NULL,
		revoked_us INTEGER NOT NULL DEFAULT 0
	);
	CREATE UNIQUE INDEX wallet_agents_live_name ON wallet_agents (name) WHERE revoked_us = 0;
	CREATE TABLE wallet_state (
		id        INTEGER PRIMARY KEY CHECK (id = 1),
		frozen    INTEGER NOT NULL,
		since_us  INTEGER NOT NULL
	);
	INSERT INTO wallet_state (id, frozen, since_us) VALUES (1, 0, 0);
	CREATE TABLE wallet_entries (
		seq            INTEGER PRIMARY KEY AUTOINCREMENT,
		payment_hash   TEXT    NOT NULL UNIQUE,
		agent_id       TEXT    NOT NULL,
		kind           TEXT    NOT NULL,
		invoice        TEXT    NOT NULL,
		url            TEXT    NOT NULL,
		host           TEXT    NOT NULL,
		amount_msat    INTEGER NOT NULL,
		fee_limit_msat INTEGER NOT NULL,
		fee_msat       INTEGER NOT NULL,
		status         TEXT    NOT NULL,
		preimage       BLOB,
		created_us     INTEGER NOT NULL,
		finished_us    INTEGER NOT NULL,
		error          TEXT    NOT NULL
	);
	CREATE INDEX wallet_entries_by_time ON wallet_entries (created_us, seq);
	CREATE INDEX wallet_entries_by_agent ON wallet_entries (agent_id, created_us, seq);
	CREATE INDEX wallet_entries_reserved ON wallet_entries (created_us, seq) WHERE status = 'reserved';
	CREATE TABLE wallet_charges (
		payment_hash TEXT    NOT NULL,
		budget_key   TEXT    NOT NULL,
		created_us   INTEGER NOT NULL,
		charged_msat INTEGER NOT NULL,
		PRIMARY KEY (payment_hash, budget_key)
	) WITHOUT ROWID;
	CREATE INDEX wallet_charges_by_key ON wallet_charges (budget_key, created_us, charged_msat);
	CREATE TABLE wallet_invoices (
		seq             INTEGER PRIMARY KEY AUTOINCREMENT,
		payment_hash    TEXT    NOT NULL UNIQUE,
		agent_id        TEXT    NOT NULL,
		payment_request TEXT    NOT NULL,
		amount_msat     INTEGER NOT NULL,
		memo            TEXT    NOT NULL,
		created_us      INTEGER NOT NULL,
		expires_us      INTEGER NOT NULL
	);
	CREATE INDEX wallet_invoices_by_time ON wallet_invoices (created_us, seq);
	CREATE INDEX wallet_invoices_by_agent ON wallet_invoices (agent_id, created_us, seq);`,
	// 2: hourly totals per budget key (see above), filled from the charges.
	`CREATE TABLE wallet_charge_hours (
		budget_key   TEXT    NOT NULL,
		hour_us      INTEGER NOT NULL,
		charged_msat INTEGER NOT NULL,
		PRIMARY KEY (budget_key, hour_us)
	) WITHOUT ROWID;
	INSERT INTO wallet_charge_hours (budget_key, hour_us, charged_msat)
		SELECT budget_key, ` + hourStartSQL + `, sum(charged_msat) FROM wallet_charges GROUP BY 1, 2;`,
}

// chargeHour is the span of one wallet_charge_hours row, in microseconds.
const chargeHour = int64(time.Hour / time.Microsecond)

// hourStartSQL is hourStart over wallet_charges.created_us, in SQL.
const hourStartSQL = `(created_us - ((created_us % 3600000000) + 3600000000) % 3600000000)`

// hourStart is the start of the hour holding us (floored, so that times
// before 1970 land in the hour they are in, too).
func hourStart(us int64) int64 { return us - ((us%chargeHour)+chargeHour)%chargeHour }

// wholeHoursFrom is the start of the first whole hour at or after us.
func wholeHoursFrom(us int64) int64 {
	if start := hourStart(us); start != us {
		return start + chargeHour
	}
	return us
}

// Ledger is the allowance wallet's ledger (wallet.Ledger) in a SQLite file.
// Any number of handles, in one process or several, may share the file:
// Reserve runs its checks and its insert in one transaction that holds
// SQLite's write lock from its start, so two reservations never both fit
// into the last sats of a budget.
type Ledger struct {
	db *DB
	// writing admits this handle's writers one at a time, in arrival
	// order (a channel queues its waiters). Without it, many goroutines
	// would wait in SQLite's busy handler, which polls at growing
	// intervals: under load a waiter keeps losing the lock to newer ones
	// until its busy timeout expires, and a payment fails with "database
	// is locked". Writers of other handles and processes still meet in
	// the busy handler.
	writing chan struct{}
}

// OpenLedger opens (creating if needed) the wallet's database at path and
// brings its tables up to date.
func OpenLedger(ctx context.Context, path string) (*Ledger, error) {
	db, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, "wallet", ledgerMigrations); err != nil {
		db.Close()
		return nil, err
	}
	return &Ledger{db: db, writing: make(chan struct{}, 1)}, nil
}

// Close closes the database.
func (l *Ledger) Close() error { return l.db.Close() }

// Path is the database file.
func (l *Ledger) Path() string { return l.db.Path() }

// write runs fn, which writes, once it is this handle's only writer.
func (l *Ledger) write(ctx context.Context, fn func() error) error {
	select {
	case l.writing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.writing }()
	return fn()
}

// tx runs fn in a transaction holding SQLite's write lock, once it is this
// handle's only writer.
func (l *Ledger) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return l.write(ctx, func() error { return l.db.tx(ctx, fn) })
}

// agentIDText is how an agent id is stored: hex, and "" for the zero id so
// that a query's "all agents" reads plainly.
func agentIDText(id wallet.AgentID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

const agentColumns = `agent_id, name, root_key, caveats, created_us, revoked_us`

func scanAgent(row scanner) (wallet.Agent, error) {
	var (
		a                wallet.Agent
		id, caveats      string
		rootKey          []byte
		created, revoked int64
	)
	if err := row.Scan(&id, &a.Name, &rootKey, &caveats, &created, &revoked); err != nil {
		return wallet.Agent{}, err
	}
	var err error
	if a.ID, err = wallet.ParseAgentID(id); err != nil {
		return wallet.Agent{}, fmt.Errorf("sqlite: stored agent id: %w", err)
	}
	if a.Caveats, err = decodeCaveats(caveats); err != nil {
		return wallet.Agent{}, fmt.Errorf("sqlite: stored caveats of agent %s: %w", a.ID, err)
	}
	a.RootKey = wallet.RootKey(rootKey)
	a.CreatedAt, a.RevokedAt = fromMicros(created), fromMicros(revoked)
	return a, nil
}

// encodeCaveats stores caveats as a JSON array of strings: any caveat text
// survives, commas and newlines included. JSON cannot carry bytes that are
// not UTF-8, so such a caveat is refused rather than stored altered.
func encodeCaveats(caveats []string) (string, error) {
	for i, c := range caveats {
		if !utf8.ValidString(c) {
			return "", fmt.Errorf("caveat %d is not valid UTF-8", i+1)
		}
	}
	if caveats == nil {
		caveats = []string{}
	}
	b, err := json.Marshal(caveats)
	return string(b), err
}

// decodeCaveats reads what encodeCaveats wrote. Anything but a JSON array
// of strings is an error (a file written by something else, or damaged);
// an empty array reads as nil, as the agent was created with none.
func decodeCaveats(s string) ([]string, error) {
	var caveats []string
	// JSON null decodes to a nil slice without error: not an array either.
	if err := json.Unmarshal([]byte(s), &caveats); err != nil || caveats == nil {
		return nil, errors.New("caveats are not a JSON array of strings")
	}
	if len(caveats) == 0 {
		return nil, nil
	}
	return caveats, nil
}

// CreateAgent implements wallet.Ledger.
func (l *Ledger) CreateAgent(ctx context.Context, a wallet.Agent) error {
	switch {
	case a.ID.IsZero():
		return errors.New("sqlite: create agent: no agent id given")
	case a.Name == "":
		return errors.New("sqlite: create agent: no name given")
	case len(a.RootKey) == 0:
		return fmt.Errorf("sqlite: create agent %q: no root key given", a.Name)
	}
	caveats, err := encodeCaveats(a.Caveats)
	if err != nil {
		return fmt.Errorf("sqlite: create agent %q: %w", a.Name, err)
	}
	return l.tx(ctx, func(tx *sql.Tx) error {
		// Name first: a live agent holding it is the error the caller can
		// act on (pick another name, or revoke the old agent).
		if !a.Revoked() {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM wallet_agents WHERE name = ? AND revoked_us = 0`,
				a.Name).Scan(&n); err != nil {
				return fmt.Errorf("sqlite: create agent %q: %w", a.Name, err)
			}
			if n > 0 {
				return fmt.Errorf("sqlite: create agent %q: %w", a.Name, wallet.ErrAgentExists)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM wallet_agents WHERE agent_id = ?`, a.ID.String()).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: create agent %q: %w", a.Name, err)
		}
		if n > 0 {
			return fmt.Errorf("sqlite: create agent %q: an agent with id %s exists already", a.Name, a.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO wallet_agents (`+agentColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			a.ID.String(), a.Name, []byte(a.RootKey), caveats, micros(a.CreatedAt), micros(a.RevokedAt)); err != nil {
			return fmt.Errorf("sqlite: create agent %q: %w", a.Name, err)
		}
		return nil
	})
}

// Agent implements wallet.Ledger.
func (l *Ledger) Agent(ctx context.Context, id wallet.AgentID) (wallet.Agent, error) {
	a, err := scanAgent(l.db.sql.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM wallet_agents WHERE agent_id = ?`, id.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return wallet.Agent{}, fmt.Errorf("sqlite: no agent %s: %w", id, wallet.ErrNotFound)
	}
	if err != nil {
		return wallet.Agent{}, fmt.Errorf("sqlite: agent %s: %w", id, err)
	}
	return a, nil
}

// AgentByName implements wallet.Ledger: the live agent of that name, or
// else the one revoked last.
func (l *Ledger) AgentByName(ctx context.Context, name string) (wallet.Agent, error) {
	a, err := scanAgent(l.db.sql.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM wallet_agents WHERE name = ?
		ORDER BY revoked_us = 0 DESC, revoked_us DESC, seq DESC LIMIT 1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return wallet.Agent{}, fmt.Errorf("sqlite: no agent named %q: %w", name, wallet.ErrNotFound)
	}
	if err != nil {
		return wallet.Agent{}, fmt.Errorf("sqlite: agent %q: %w", name, err)
	}
	return a, nil
}

// Agents implements wallet.Ledger.
func (l *Ledger) Agents(ctx context.Context) ([]wallet.Agent, error) {
	rows, err := l.db.sql.QueryContext(ctx, `SELECT `+agentColumns+` FROM wallet_agents ORDER BY created_us, seq`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list agents: %w", err)
	}
	defer rows.Close()
	var out []wallet.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list agents: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list agents: %w", err)
	}
	return out, nil
}

// RevokeAgent implements wallet.Ledger.
func (l *Ledger) RevokeAgent(ctx context.Context, name string, at time.Time) (wallet.Agent, error) {
	// A zero time would be stored as "not revoked".
	if at.IsZero() {
		return wallet.Agent{}, fmt.Errorf("sqlite: revoke agent %q: no time given", name)
	}
	var a wallet.Agent
	err := l.write(ctx, func() error {
		var err error
		a, err = scanAgent(l.db.sql.QueryRowContext(ctx, `UPDATE wallet_agents SET revoked_us = ?
			WHERE name = ? AND revoked_us = 0 RETURNING `+agentColumns, micros(at), name))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return wallet.Agent{}, fmt.Errorf("sqlite: no unrevoked agent named %q: %w", name, wallet.ErrNotFound)
	}
	if err != nil {
		return wallet.Agent{}, fmt.Errorf("sqlite: revoke agent %q: %w", name, err)
	}
	return a, nil
}

// SetFrozen implements wallet.Ledger. Setting the state the wallet is
// already in keeps the time it entered it.
func (l *Ledger) SetFrozen(ctx context.Context, frozen bool, at time.Time) error {
	if at.IsZero() {
		return errors.New("sqlite: freeze or unfreeze the wallet: no time given")
	}
	err := l.write(ctx, func() error {
		_, err := l.db.sql.ExecContext(ctx, `UPDATE wallet_state SET frozen = ?1, since_us = ?2 WHERE id = 1 AND frozen != ?1`,
			frozen, micros(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: freeze or unfreeze the wallet: %w", err)
	}
	return nil
}

// Frozen implements wallet.Ledger. The time is when the wallet entered
// its current state (zero when it never changed).
func (l *Ledger) Frozen(ctx context.Context) (bool, time.Time, error) {
	var (
		frozen bool
		since  int64
	)
	if err := l.db.sql.QueryRowContext(ctx, `SELECT frozen, since_us FROM wallet_state WHERE id = 1`).Scan(&frozen, &since); err != nil {
		return false, time.Time{}, fmt.Errorf("sqlite: read the freeze switch: %w", err)
	}
	return frozen, fromMicros(since), nil
}

// checkReservation refuses what would corrupt budgets: a negative amount
// would free room, a zero time would count in every window forever.
func checkReservation(r wallet.Reservation) error {
	switch {
	case !r.Amount.Valid():
		return fmt.Errorf("amount %s is not between 0 and 21M BTC", r.Amount)
	case !r.FeeLimit.Valid():
		return fmt.Errorf("fee limit %s is not between 0 and 21M BTC", r.FeeLimit)
	case r.At.IsZero():
		return errors.New("no time given")
	case r.Kind != wallet.KindPay && r.Kind != wallet.KindFetch:
		return fmt.Errorf("kind %q is neither %q nor %q", r.Kind, wallet.KindPay, wallet.KindFetch)
	}
	return nil
}

// Reserve implements wallet.Ledger: every check and the insert run in one
// transaction holding the write lock, in the order the contract gives.
func (l *Ledger) Reserve(ctx context.Context, r wallet.Reservation) (wallet.Entry, error) {
	if err := checkReservation(r); err != nil {
		return wallet.Entry{}, fmt.Errorf("sqlite: reserve payment %s: %w", r.Hash, err)
	}
	var stored wallet.Entry
	err := l.tx(ctx, func(tx *sql.Tx) error {
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT revoked_us FROM wallet_agents WHERE agent_id = ?`, r.AgentID.String()).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no agent %s: %w", r.AgentID, wallet.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if revoked != 0 {
			return fmt.Errorf("agent %s: %w", r.AgentID, wallet.ErrRevoked)
		}

		var frozen bool
		if err := tx.QueryRowContext(ctx, `SELECT frozen FROM wallet_state WHERE id = 1`).Scan(&frozen); err != nil {
			return err
		}
		if frozen {
			return wallet.ErrFrozen
		}

		var status string
		err = tx.QueryRowContext(ctx, `SELECT status FROM wallet_entries WHERE payment_hash = ?`, r.Hash.String()).Scan(&status)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case status == string(wallet.EntryReserved):
			return wallet.ErrInFlight
		case status == string(wallet.EntrySettled):
			return wallet.ErrAlreadyPaid
		case status != string(wallet.EntryReleased):
			return fmt.Errorf("stored entry has status %q", status)
		}

		usage, err := usedIn(ctx, tx, r.Budgets)
		if err != nil {
			return err
		}
		for i, b := range r.Budgets {
			if usage[i].Used+r.Cost() > b.Limit {
				return &wallet.OverBudgetError{Budget: b, Usage: usage[i], Cost: r.Cost()}
			}
		}

		// A released entry is replaced whole: its row and its charges go,
		// so that none of its old budget keys keeps a charge for it.
		if status != "" {
			// Released, its charges are 0 already; recharging to 0 keeps
			// the hours right even for a file where they were not.
			if err := recharge(ctx, tx, r.Hash, 0); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM wallet_charges WHERE payment_hash = ?`, r.Hash.String()); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM wallet_entries WHERE payment_hash = ?`, r.Hash.String()); err != nil {
				return err
			}
		}
		stored, err = scanEntry(tx.QueryRowContext(ctx, `INSERT INTO wallet_entries (payment_hash, agent_id, kind, invoice, url, host,
			amount_msat, fee_limit_msat, fee_msat, status, preimage, created_us, finished_us, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'reserved', NULL, ?, 0, '') RETURNING `+entryColumns,
			r.Hash.String(), r.AgentID.String(), string(r.Kind), r.Invoice, r.URL, r.Host,
			int64(r.Amount), int64(r.FeeLimit), micros(r.At)))
		if err != nil {
			return err
		}
		for _, b := range r.Budgets {
			// A key listed twice is charged once.
			res, err := tx.ExecContext(ctx, `INSERT INTO wallet_charges (payment_hash, budget_key, created_us, charged_msat)
				VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				r.Hash.String(), b.Key, micros(r.At), int64(r.Cost()))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO wallet_charge_hours (budget_key, hour_us, charged_msat) VALUES (?, ?, ?)
				ON CONFLICT (budget_key, hour_us) DO UPDATE SET charged_msat = charged_msat + excluded.charged_msat`,
				b.Key, hourStart(micros(r.At)), int64(r.Cost())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wallet.Entry{}, fmt.Errorf("sqlite: reserve payment %s: %w", r.Hash, err)
	}
	return stored, nil
}

// usedIn sums, in one statement (one snapshot), what each budget has used:
// what is charged to its key at or after its Since, which is the charges
// up to the first whole hour plus the hourly totals from there. Released
// entries are charged 0 and do not count, for the sum nor for the oldest
// time.
func usedIn(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, budgets []wallet.Budget) ([]wallet.Usage, error) {
	if len(budgets) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 4*len(budgets))
	for i, b := range budgets {
		since := micros(b.Since)
		args = append(args, i, b.Key, since, wholeHoursFrom(since))
	}
	rows, err := q.QueryContext(ctx, budgetSumQuery(len(budgets)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	usage := make([]wallet.Usage, 0, len(budgets))
	for rows.Next() {
		var used, oldest int64
		if err := rows.Scan(&used, &oldest); err != nil {
			return nil, err
		}
		usage = append(usage, wallet.Usage{Used: money.MilliSat(used), Oldest: fromMicros(oldest)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(usage) != len(budgets) {
		return nil, fmt.Errorf("%d budgets summed, %d asked", len(usage), len(budgets))
	}
	return usage, nil
}

// budgetSumQuery sums n budgets, given as n (index, key, since, first
// whole hour) tuples. Each subquery is a range search of an index: the
// charges before the first whole hour, the hours from it, and the oldest
// counted charge (min stops at the first row it keeps).
func budgetSumQuery(n int) string {
	var q strings.Builder
	q.WriteString(`WITH budgets (i, budget_key, since_us, hours_us) AS (VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?)")
	}
	q.WriteString(`)
		SELECT
			(SELECT coalesce(sum(c.charged_msat), 0) FROM wallet_charges c
				WHERE c.budget_key = b.budget_key AND c.created_us >= b.since_us AND c.created_us < b.hours_us)
			+ (SELECT coalesce(sum(h.charged_msat), 0) FROM wallet_charge_hours h
				WHERE h.budget_key = b.budget_key AND h.hour_us >= b.hours_us),
			(SELECT coalesce(min(c.created_us), 0) FROM wallet_charges c
				WHERE c.budget_key = b.budget_key AND c.created_us >= b.since_us AND c.charged_msat > 0)
		FROM budgets b ORDER BY b.i`)
	return q.String()
}

// Settle implements wallet.Ledger.
func (l *Ledger) Settle(ctx context.Context, hash l402.PaymentHash, amount, fee money.MilliSat, preimage l402.Preimage, at time.Time) (wallet.Entry, error) {
	switch {
	case !amount.Valid() || !fee.Valid():
		return wallet.Entry{}, fmt.Errorf("sqlite: settle payment %s: amount %s or fee %s is not between 0 and 21M BTC", hash, amount, fee)
	case at.IsZero():
		return wallet.Entry{}, fmt.Errorf("sqlite: settle payment %s: no time given", hash)
	}
	return l.finish(ctx, hash, "settle", `UPDATE wallet_entries
		SET status = 'settled', amount_msat = ?, fee_msat = ?, preimage = ?, finished_us = ?
		WHERE payment_hash = ? AND status = 'reserved' RETURNING `+entryColumns,
		int64(amount), int64(fee), preimage[:], micros(at), hash.String())
}

// Release implements wallet.Ledger.
func (l *Ledger) Release(ctx context.Context, hash l402.PaymentHash, reason string, at time.Time) (wallet.Entry, error) {
	if at.IsZero() {
		return wallet.Entry{}, fmt.Errorf("sqlite: release payment %s: no time given", hash)
	}
	return l.finish(ctx, hash, "release", `UPDATE wallet_entries
		SET status = 'released', fee_msat = 0, finished_us = ?, error = ?
		WHERE payment_hash = ? AND status = 'reserved' RETURNING `+entryColumns,
		micros(at), reason, hash.String())
}

// finish runs update, which moves the reserved entry for hash to a final
// status and returns it, then recharges its budgets with what it counts
// now: all in one transaction, so no budget ever sees the entry half done.
func (l *Ledger) finish(ctx context.Context, hash l402.PaymentHash, verb, update string, args ...any) (wallet.Entry, error) {
	var e wallet.Entry
	err := l.tx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = scanEntry(tx.QueryRowContext(ctx, update, args...))
		if errors.Is(err, sql.ErrNoRows) {
			var status string
			err := tx.QueryRowContext(ctx, `SELECT status FROM wallet_entries WHERE payment_hash = ?`, hash.String()).Scan(&status)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("no entry: %w", wallet.ErrNotFound)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("the entry is %s: %w", status, wallet.ErrNotReserved)
		}
		if err != nil {
			return err
		}
		return recharge(ctx, tx, hash, e.Charged())
	})
	if err != nil {
		return wallet.Entry{}, fmt.Errorf("sqlite: %s payment %s: %w", verb, hash, err)
	}
	return e, nil
}

// recharge sets what the entry for hash counts against each budget it is
// charged to, moving each hour's total by the difference.
func recharge(ctx context.Context, tx *sql.Tx, hash l402.PaymentHash, charged money.MilliSat) error {
	if _, err := tx.ExecContext(ctx, `UPDATE wallet_charge_hours AS h SET charged_msat = h.charged_msat + ?1 - c.charged_msat
		FROM (SELECT budget_key, `+hourStartSQL+` AS hour_us, charged_msat FROM wallet_charges WHERE payment_hash = ?2) AS c
		WHERE h.budget_key = c.budget_key AND h.hour_us = c.hour_us`,
		int64(charged), hash.String()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE wallet_charges SET charged_msat = ? WHERE payment_hash = ?`, int64(charged), hash.String())
	return err
}

const entryColumns = `payment_hash, agent_id, kind, invoice, url, host, amount_msat, fee_limit_msat, fee_msat, status, preimage, created_us, finished_us, error`

func scanEntry(row scanner) (wallet.Entry, error) {
	var (
		e                     wallet.Entry
		hash, agent           string
		kind, status          string
		amount, feeLimit, fee int64
		preimage              []byte
		created, finished     int64
	)
	if err := row.Scan(&hash, &agent, &kind, &e.Invoice, &e.URL, &e.Host, &amount, &feeLimit, &fee, &status, &preimage,
		&created, &finished, &e.Error); err != nil {
		return wallet.Entry{}, err
	}
	var err error
	if e.Hash, err = l402.ParsePaymentHash(hash); err != nil {
		return wallet.Entry{}, fmt.Errorf("sqlite: stored payment hash: %w", err)
	}
	if e.AgentID, err = wallet.ParseAgentID(agent); err != nil {
		return wallet.Entry{}, fmt.Errorf("sqlite: stored entry %s: %w", e.Hash, err)
	}
	e.Status = wallet.EntryStatus(status)
	switch {
	case e.Status == wallet.EntrySettled && len(preimage) != len(e.Preimage):
		return wallet.Entry{}, fmt.Errorf("sqlite: stored preimage of settled entry %s has %d bytes", e.Hash, len(preimage))
	case e.Status != wallet.EntrySettled && len(preimage) != 0:
		return wallet.Entry{}, fmt.Errorf("sqlite: stored entry %s is %q and has a preimage", e.Hash, status)
	}
	copy(e.Preimage[:], preimage)
	e.Kind = wallet.EntryKind(kind)
	e.Amount, e.FeeLimit, e.Fee = money.MilliSat(amount), money.MilliSat(feeLimit), money.MilliSat(fee)
	e.CreatedAt, e.FinishedAt = fromMicros(created), fromMicros(finished)
	return e, nil
}

// Entry implements wallet.Ledger.
func (l *Ledger) Entry(ctx context.Context, hash l402.PaymentHash) (wallet.Entry, error) {
	e, err := scanEntry(l.db.sql.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM wallet_entries WHERE payment_hash = ?`, hash.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return wallet.Entry{}, fmt.Errorf("sqlite: no entry for payment %s: %w", hash, wallet.ErrNotFound)
	}
	if err != nil {
		return wallet.Entry{}, fmt.Errorf("sqlite: entry for payment %s: %w", hash, err)
	}
	return e, nil
}

// Reserved implements wallet.Ledger.
func (l *Ledger) Reserved(ctx context.Context) ([]wallet.Entry, error) {
	return l.entries(ctx, `SELECT `+entryColumns+` FROM wallet_entries WHERE status = 'reserved' ORDER BY created_us, seq`)
}

// Entries implements wallet.Ledger.
func (l *Ledger) Entries(ctx context.Context, q wallet.EntryQuery) ([]wallet.Entry, error) {
	limit := int64(-1)
	if q.Limit > 0 {
		limit = int64(q.Limit)
	}
	agent := agentIDText(q.Agent)
	if agent == "" {
		return l.entries(ctx, `SELECT `+entryColumns+` FROM wallet_entries
			WHERE created_us >= ? ORDER BY created_us DESC, seq DESC LIMIT ?`, micros(q.Since), limit)
	}
	return l.entries(ctx, `SELECT `+entryColumns+` FROM wallet_entries
		WHERE agent_id = ? AND created_us >= ? ORDER BY created_us DESC, seq DESC LIMIT ?`, agent, micros(q.Since), limit)
}

func (l *Ledger) entries(ctx context.Context, query string, args ...any) ([]wallet.Entry, error) {
	rows, err := l.db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list entries: %w", err)
	}
	defer rows.Close()
	var out []wallet.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list entries: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list entries: %w", err)
	}
	return out, nil
}

// Used implements wallet.Ledger.
func (l *Ledger) Used(ctx context.Context, budgets []wallet.Budget) ([]wallet.Usage, error) {
	usage, err := usedIn(ctx, l.db.sql, budgets)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sum budget use: %w", err)
	}
	return usage, nil
}

// RecordInvoice implements wallet.Ledger.
func (l *Ledger) RecordInvoice(ctx context.Context, inv wallet.ReceivedInvoice) error {
	if !inv.Amount.Valid() {
		return fmt.Errorf("sqlite: record invoice %s: amount %s is not between 0 and 21M BTC", inv.Hash, inv.Amount)
	}
	err := l.write(ctx, func() error {
		_, err := l.db.sql.ExecContext(ctx, `INSERT INTO wallet_invoices (payment_hash, agent_id, payment_request,
			amount_msat, memo, created_us, expires_us) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			inv.Hash.String(), inv.AgentID.String(), inv.PaymentRequest, int64(inv.Amount), inv.Memo,
			micros(inv.CreatedAt), micros(inv.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record invoice %s: %w", inv.Hash, err)
	}
	return nil
}

// Invoices implements wallet.Ledger.
func (l *Ledger) Invoices(ctx context.Context, agent wallet.AgentID, limit int) ([]wallet.ReceivedInvoice, error) {
	capped := int64(-1)
	if limit > 0 {
		capped = int64(limit)
	}
	rows, err := l.db.sql.QueryContext(ctx, `SELECT payment_hash, agent_id, payment_request, amount_msat, memo, created_us, expires_us
		FROM wallet_invoices WHERE ?1 = '' OR agent_id = ?1 ORDER BY created_us DESC, seq DESC LIMIT ?2`,
		agentIDText(agent), capped)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list invoices: %w", err)
	}
	defer rows.Close()
	var out []wallet.ReceivedInvoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list invoices: %w", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list invoices: %w", err)
	}
	return out, nil
}

func scanInvoice(row scanner) (wallet.ReceivedInvoice, error) {
	var (
		inv              wallet.ReceivedInvoice
		hash, agent      string
		amount           int64
		created, expires int64
	)
	if err := row.Scan(&hash, &agent, &inv.PaymentRequest, &amount, &inv.Memo, &created, &expires); err != nil {
		return wallet.ReceivedInvoice{}, err
	}
	var err error
	if inv.Hash, err = l402.ParsePaymentHash(hash); err != nil {
		return wallet.ReceivedInvoice{}, fmt.Errorf("sqlite: stored invoice hash: %w", err)
	}
	if inv.AgentID, err = wallet.ParseAgentID(agent); err != nil {
		return wallet.ReceivedInvoice{}, fmt.Errorf("sqlite: stored invoice %s: %w", inv.Hash, err)
	}
	inv.Amount = money.MilliSat(amount)
	inv.CreatedAt, inv.ExpiresAt = fromMicros(created), fromMicros(expires)
	return inv, nil
}
