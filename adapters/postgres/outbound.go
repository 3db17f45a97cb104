package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/ports"
)

// Outbound is the outbound events' state in Postgres (tables
// outbound_endpoints, outbound_orgs and outbound_failures). Each endpoint
// follows the ledger by (tx_id, position), reading only events whose
// transaction id is below the oldest transaction that may still commit
// events (see [horizon]), as watermill-sql does with pg_snapshot_xmin: an
// event whose transaction commits late has a transaction id no later event
// read before it can pass, so it is never skipped. One follower per
// endpoint at a time (see [followLock]) delivers, within its turn, the
// events of orgs with nothing due; the rest is the queue of orgs, whose
// leases are taken with FOR UPDATE SKIP LOCKED and fenced on the owner and
// the delivered version. The follower's, claim's and ack's statements are prepared (see
// [prepared]): they run many times a second, on the database the webhooks
// write to. It is safe for concurrent use.
//
// Its writes may use a pool with synchronous_commit off: a write lost in a
// crash of Postgres makes an event be delivered again, never skipped.
type Outbound struct {
	db *bun.DB
}

var _ ports.OutboundQueue = (*Outbound)(nil)

// NewOutbound returns the outbound state on db.
func NewOutbound(db *bun.DB) *Outbound { return &Outbound{db: db} }

// Register implements [ports.OutboundQueue]. The cursor starts at the
// horizon (see [horizon]): the events of transactions that ended before it
// are not the endpoint's; those of every transaction still running, and
// every later one, are.
func (o *Outbound) Register(ctx context.Context, endpoint string) error {
	err := o.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		bound, err := horizon(ctx, tx)
		if err != nil {
			return err
		}
		return register(ctx, tx, bound, endpoint)
	})
	if err != nil {
		return fmt.Errorf("register outbound endpoint: %w", err)
	}
	return nil
}

// register adds endpoint, if new, with its cursor at bound, the horizon of
// tx: computed once per transaction, since a transaction reads
// pg_stat_activity once.
func register(ctx context.Context, tx bun.Tx, bound, endpoint string) error {
	_, err := tx.Tx.ExecContext(ctx, `INSERT INTO outbound_endpoints (url, tx_id, position) VALUES ($1, $2::xid8, 0) ON CONFLICT (url) DO NOTHING`,
		prepared(endpoint, bound)...)
	return err
}

// followLock is the class (first key) of an endpoint's follower lock, a
// transaction-level advisory lock keyed by the hash of its URL: held by
// one Follow at a time, across the instances. Unlike a row lock it gives
// the transaction no id, so a follower delivering holds no other
// endpoint's horizon back; it ends with the transaction, or with the
// session of a killed instance.
const followLock = 0x5afe

// Follow implements [ports.OutboundQueue], in one transaction holding the
// endpoint's follower lock: the cursor and the events past it are read,
// the orgs with a backlog (events due or leased) found, the others handed
// to deliver; then the backlog orgs' targets are raised, what deliver did
// not deliver is made due, and the cursor moves. Only orgs that had or now
// have something due are written: an event delivered directly costs no
// write but its share of the cursor's.
func (o *Outbound) Follow(ctx context.Context, endpoint, owner string, limit int, lease time.Duration, deliver ports.DeliverFunc) (ports.OutboundFollowed, error) {
	var out ports.OutboundFollowed
	err := o.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var locked bool
		err := tx.Tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, prepared(followLock, endpoint)...).Scan(&locked)
		if err != nil || !locked {
			return err
		}
		var curTx string
		var curPos int64
		err = tx.Tx.QueryRowContext(ctx, `SELECT tx_id::text, position FROM outbound_endpoints WHERE url = $1`, prepared(endpoint)...).
			Scan(&curTx, &curPos)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		bound, err := horizon(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Tx.QueryContext(ctx, `SELECT tx_id::text, `+eventColumns+` FROM billing_events
			WHERE (tx_id, position) > ($1::xid8, $2) AND tx_id < $3::xid8
			ORDER BY tx_id, position LIMIT $4`, prepared(curTx, curPos, bound, limit)...)
		if err != nil {
			return err
		}
		var (
			orgs  []ports.OutboundOrg
			index = map[string]int{}
		)
		err = scanEvents(rows, func(e ports.StoredEvent) error {
			out.Read++
			curPos = e.Position // with curTx, the last row's: the cursor
			i, ok := index[e.StreamID]
			if !ok {
				i = len(orgs)
				index[e.StreamID] = i
				orgs = append(orgs, ports.OutboundOrg{OrgID: e.StreamID})
			}
			orgs[i].Events = append(orgs[i].Events, e)
			return nil
		}, &curTx)
		if err != nil || out.Read == 0 {
			return err
		}
		for _, org := range orgs {
			// A stream's events come in version order (its appends are
			// serialized); sorted anyway, as they are sent in that order.
			slices.SortFunc(org.Events, func(a, b ports.StoredEvent) int { return cmp.Compare(a.Version, b.Version) })
		}
		backlog, err := o.backlog(ctx, tx, endpoint, orgs)
		if err != nil {
			return err
		}
		var direct []ports.OutboundOrg
		for _, org := range orgs {
			if !backlog[org.OrgID] {
				direct = append(direct, org)
			}
		}
		var done []ports.OutboundDirect
		if deliver != nil && len(direct) > 0 {
			done = deliver(ctx, direct)
		}
		var raise, left []pendingOrg
		for _, org := range orgs {
			if backlog[org.OrgID] {
				first := org.Events[0]
				raise = append(raise, pendingOrg{org: org.OrgID, delivered: first.Version - 1, target: org.Events[len(org.Events)-1].Version, since: first.RecordedAt})
			}
		}
		for i, org := range direct {
			d := ports.OutboundDirect{Delivered: org.Events[0].Version - 1}
			if i < len(done) {
				d = done[i]
			}
			last := org.Events[len(org.Events)-1]
			if d.Delivered >= last.Version {
				continue
			}
			next := org.Events[max(0, d.Delivered-org.Events[0].Version+1)]
			left = append(left, pendingOrg{org: org.OrgID, delivered: d.Delivered, target: last.Version, since: next.RecordedAt, hold: d.Hold})
		}
		if err := raiseTargets(ctx, tx, endpoint, raise); err != nil {
			return err
		}
		if err := makeDue(ctx, tx, endpoint, owner, lease, left); err != nil {
			return err
		}
		out.Due = len(raise) > 0 || len(left) > 0
		_, err = tx.Tx.ExecContext(ctx, `UPDATE outbound_endpoints SET tx_id = $1::xid8, position = $2 WHERE url = $3`, prepared(curTx, curPos, endpoint)...)
		return err
	})
	if err != nil {
		return ports.OutboundFollowed{}, fmt.Errorf("follow ledger for outbound endpoint: %w", err)
	}
	return out, nil
}

// backlog returns which of orgs have events due or leased at the endpoint.
func (o *Outbound) backlog(ctx context.Context, tx bun.Tx, endpoint string, orgs []ports.OutboundOrg) (map[string]bool, error) {
	ids := make([]string, len(orgs))
	for i, org := range orgs {
		ids[i] = org.OrgID
	}
	rows, err := tx.Tx.QueryContext(ctx, `SELECT org_id FROM outbound_orgs
		WHERE endpoint = $1 AND org_id = ANY($2::text[]) AND delivered_version < target_version`, prepared(endpoint, ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// pendingOrg is an org's row as Follow writes it: events after delivered
// up to target due since since; hold leases it to the follower's
// instance.
type pendingOrg struct {
	org               string
	delivered, target int64
	since             time.Time
	hold              bool
}

// columns returns the rows' fields as arrays, in org order (the order
// rows are locked in, as Ack locks them).
func columns(rows []pendingOrg) (ids []string, delivered, target []int64, since []time.Time, hold []bool) {
	slices.SortFunc(rows, func(a, b pendingOrg) int { return strings.Compare(a.org, b.org) })
	for _, r := range rows {
		ids, delivered, target = append(ids, r.org), append(delivered, r.delivered), append(target, r.target)
		since, hold = append(since, r.since), append(hold, r.hold)
	}
	return ids, delivered, target, since, hold
}

// raiseTargets raises the targets of orgs with a backlog (a row the
// follower did not see may be new: it starts before the org's first
// event read).
func raiseTargets(ctx context.Context, tx bun.Tx, endpoint string, rows []pendingOrg) error {
	if len(rows) == 0 {
		return nil
	}
	ids, los, his, sinces, _ := columns(rows)
	_, err := tx.Tx.ExecContext(ctx, `INSERT INTO outbound_orgs (endpoint, org_id, delivered_version, target_version, pending_since)
		SELECT $1::text, r.org, r.delivered, r.target, r.since FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) WITH ORDINALITY AS r(org, delivered, target, since, i)
		ORDER BY r.i
		ON CONFLICT (endpoint, org_id) DO UPDATE SET
			target_version = GREATEST(outbound_orgs.target_version, EXCLUDED.target_version),
			pending_since = CASE WHEN outbound_orgs.delivered_version >= outbound_orgs.target_version
				THEN EXCLUDED.pending_since ELSE outbound_orgs.pending_since END`,
		prepared(endpoint, ids, los, his, sinces)...)
	return err
}

// makeDue writes the orgs the follower's instance did not deliver
// directly: due now from their delivered version (their rows, if any,
// had nothing due: delivered directly before, their delivered version is
// behind), leased to owner for lease where held.
func makeDue(ctx context.Context, tx bun.Tx, endpoint, owner string, lease time.Duration, rows []pendingOrg) error {
	if len(rows) == 0 {
		return nil
	}
	ids, delivered, targets, sinces, holds := columns(rows)
	_, err := tx.Tx.ExecContext(ctx, `INSERT INTO outbound_orgs AS o (endpoint, org_id, delivered_version, target_version, pending_since, next_attempt_at, lease_owner, lease_until)
		SELECT $1::text, r.org, r.delivered, r.target, r.since, now(),
			CASE WHEN r.hold THEN $7::text END,
			CASE WHEN r.hold THEN now() + $8::bigint * interval '1 millisecond' ELSE '-infinity' END
		FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[], $6::bool[]) WITH ORDINALITY AS r(org, delivered, target, since, hold, i)
		ORDER BY r.i
		ON CONFLICT (endpoint, org_id) DO UPDATE SET
			delivered_version = EXCLUDED.delivered_version, target_version = EXCLUDED.target_version,
			pending_since = EXCLUDED.pending_since, attempts = 0, first_failed_at = NULL, last_error = NULL,
			next_attempt_at = now(), lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until`,
		prepared(endpoint, ids, delivered, targets, sinces, holds, owner, millis(lease))...)
	return err
}

// horizon returns the transaction id below which every transaction that
// wrote to this database has ended: no event with a smaller tx_id can
// become visible later. Transactions are read in this order, each in a
// statement of tx (READ COMMITTED) that begins after the one before ends:
//
//  1. a snapshot S of the cluster: its xmax, and the transactions still
//     running (xip);
//  2. the sessions connected to this database with their transaction ids
//     (pg_stat_activity, read once per transaction).
//
// The horizon is S's xmax, or lower: the oldest transaction of S's xip
// still running in a session of this database. A transaction of this
// database that ends before (2) has committed or not before the events are
// read (3, a later statement); one that got its id after S has an id at
// least S's xmax. So a long transaction in another database of the
// cluster, which pg_snapshot_xmin would wait for, holds nothing up.
// pg_stat_activity shows every session's backend_xid to every role (the
// columns it hides from other roles are the query and the like).
func horizon(ctx context.Context, tx bun.Tx) (string, error) {
	var snap string
	if err := tx.Tx.QueryRowContext(ctx, "SELECT pg_current_snapshot()::text").Scan(&snap); err != nil {
		return "", fmt.Errorf("horizon: %w", err)
	}
	var bound string
	err := tx.Tx.QueryRowContext(ctx, `SELECT least(pg_snapshot_xmax(s), (SELECT min(x) FROM pg_snapshot_xip(s) AS x
			WHERE x::xid IN (SELECT backend_xid FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL)))::text
		FROM (SELECT $1::pg_snapshot AS s) AS snap`, prepared(snap)...).Scan(&bound)
	if err != nil {
		return "", fmt.Errorf("horizon: %w", err)
	}
	return bound, nil
}

func millis(d time.Duration) int64 { return d.Milliseconds() }

// claimBatch is how many of a claimed org's events the claim reads.
const claimBatch = 20

// Claim implements [ports.OutboundQueue] in one statement: due rows are
// taken oldest attempt first (rows another transaction holds are skipped),
// leased, and returned with their first due events.
func (o *Outbound) Claim(ctx context.Context, endpoint, owner string, n int, lease time.Duration) ([]ports.OutboundLease, error) {
	rows, err := o.db.DB.QueryContext(ctx, `WITH due AS (
			SELECT endpoint, org_id FROM outbound_orgs
			WHERE endpoint = $1 AND delivered_version < target_version AND next_attempt_at <= now() AND lease_until < now()
			ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED),
		leased AS (UPDATE outbound_orgs o SET lease_owner = $3, lease_until = now() + $4::bigint * interval '1 millisecond'
			FROM due WHERE o.endpoint = due.endpoint AND o.org_id = due.org_id
			RETURNING o.org_id, o.delivered_version, o.target_version, o.attempts)
		SELECT l.org_id, l.delivered_version, l.target_version, l.attempts,
			e.position, e.stream_id, e.stream_version, e.type, e.schema_version, e.data, e.metadata, e.occurred_at, e.recorded_at, e.hash
		FROM leased l LEFT JOIN LATERAL (SELECT `+eventColumns+` FROM billing_events
			WHERE stream_id = l.org_id AND stream_version > l.delivered_version AND stream_version <= l.target_version
			ORDER BY stream_version LIMIT $5) e ON true
		ORDER BY l.org_id, e.stream_version`, prepared(endpoint, n, owner, millis(lease), claimBatch)...)
	if err != nil {
		return nil, fmt.Errorf("claim outbound orgs: %w", err)
	}
	defer rows.Close()
	var out []ports.OutboundLease
	for rows.Next() {
		var (
			l          ports.OutboundLease
			position   sql.NullInt64
			e          ports.StoredEvent
			sv         sql.NullInt32
			streamID   sql.NullString
			typ        sql.NullString
			version    sql.NullInt64
			data, meta []byte
			occ, rec   sql.NullTime
		)
		if err := rows.Scan(&l.OrgID, &l.Delivered, &l.Target, &l.Attempts,
			&position, &streamID, &version, &typ, &sv, &data, &meta, &occ, &rec, &e.Hash); err != nil {
			return nil, fmt.Errorf("claim outbound orgs: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].OrgID != l.OrgID {
			out = append(out, l)
		}
		if !position.Valid {
			continue
		}
		e.Position, e.StreamID, e.Version, e.Type, e.SchemaVersion = position.Int64, streamID.String, version.Int64, typ.String, int(sv.Int32)
		if err := gojson.Unmarshal(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("claim outbound orgs: event %d metadata: %w", e.Position, err)
		}
		e.Data, e.MetadataJSON = data, meta
		e.OccurredAt, e.RecordedAt = occ.Time.UTC(), rec.Time.UTC()
		last := &out[len(out)-1]
		last.Events = append(last.Events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim outbound orgs: %w", err)
	}
	return out, nil
}

// Events implements [ports.OutboundQueue].
func (o *Outbound) Events(ctx context.Context, orgID string, from, to int64) ([]ports.StoredEvent, error) {
	events, err := selectEvents(orgID).and("stream_version BETWEEN ? AND ?", from, to).query(ctx, o.db)
	if err != nil {
		return nil, fmt.Errorf("read outbound events: %w", err)
	}
	return events, nil
}

// Renew implements [ports.OutboundQueue].
func (o *Outbound) Renew(ctx context.Context, endpoint, owner, orgID string, delivered int64, lease time.Duration) (bool, error) {
	res, err := o.db.DB.ExecContext(ctx, `UPDATE outbound_orgs SET lease_until = now() + $1::bigint * interval '1 millisecond'
		WHERE endpoint = $2 AND org_id = $3 AND lease_owner = $4 AND delivered_version = $5`, prepared(millis(lease), endpoint, orgID, owner, delivered)...)
	if err != nil {
		return false, fmt.Errorf("renew outbound lease: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Ack implements [ports.OutboundQueue] in one statement for every ack,
// locking the rows in org order (as Follow does, so the two never
// deadlock).
func (o *Outbound) Ack(ctx context.Context, endpoint, owner string, lease time.Duration, acks []ports.OutboundAck) ([]ports.OutboundAcked, error) {
	sorted := append([]ports.OutboundAck(nil), acks...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].OrgID < sorted[j].OrgID })
	ids, versions := make([]string, len(sorted)), make([]int64, len(sorted))
	for i, a := range sorted {
		ids[i], versions[i] = a.OrgID, a.Version
	}
	rows, err := o.db.DB.QueryContext(ctx, `WITH a AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS a(org, v)),
		held AS (SELECT o.org_id, a.v FROM outbound_orgs o JOIN a ON o.org_id = a.org
			WHERE o.endpoint = $3 AND o.lease_owner = $4 AND o.delivered_version = a.v - 1
			ORDER BY o.org_id FOR UPDATE OF o)
		UPDATE outbound_orgs o SET delivered_version = held.v, attempts = 0, first_failed_at = NULL, last_error = NULL,
			next_attempt_at = now(),
			pending_since = CASE WHEN held.v < o.target_version THEN
				(SELECT e.recorded_at FROM billing_events e WHERE e.stream_id = o.org_id AND e.stream_version = held.v + 1) END,
			lease_owner = CASE WHEN held.v < o.target_version THEN o.lease_owner END,
			lease_until = CASE WHEN held.v < o.target_version THEN now() + $5::bigint * interval '1 millisecond' ELSE '-infinity' END
		FROM held WHERE o.endpoint = $3 AND o.org_id = held.org_id
		RETURNING o.org_id, o.target_version`,
		prepared(ids, versions, endpoint, owner, millis(lease))...)
	if err != nil {
		return nil, fmt.Errorf("ack outbound events: %w", err)
	}
	defer rows.Close()
	targets := map[string]int64{}
	for rows.Next() {
		var id string
		var target int64
		if err := rows.Scan(&id, &target); err != nil {
			return nil, fmt.Errorf("ack outbound events: %w", err)
		}
		targets[id] = target
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ack outbound events: %w", err)
	}
	out := make([]ports.OutboundAcked, len(acks))
	for i, a := range acks {
		t, ok := targets[a.OrgID]
		out[i] = ports.OutboundAcked{Counted: ok, Target: t}
	}
	return out, nil
}

// Fail implements [ports.OutboundQueue] in one statement: the attempt is
// counted, or the event given up (recorded in outbound_failures), and the
// lease released either way.
func (o *Outbound) Fail(ctx context.Context, endpoint, owner string, f ports.OutboundFailure) (gaveUp bool, attempts int, held bool, err error) {
	err = o.db.QueryRowContext(ctx, `WITH cur AS (
			SELECT org_id, attempts + 1 AS n, COALESCE(first_failed_at, now()) <= now() - ? * interval '1 millisecond' AS give_up
			FROM outbound_orgs WHERE endpoint = ? AND org_id = ? AND lease_owner = ? AND delivered_version = ? - 1 FOR UPDATE),
		upd AS (UPDATE outbound_orgs o SET
				delivered_version = CASE WHEN cur.give_up THEN ? ELSE o.delivered_version END,
				attempts = CASE WHEN cur.give_up THEN 0 ELSE o.attempts + 1 END,
				first_failed_at = CASE WHEN cur.give_up THEN NULL ELSE COALESCE(o.first_failed_at, now()) END,
				next_attempt_at = CASE WHEN cur.give_up THEN now() ELSE now() + ? * interval '1 millisecond' END,
				pending_since = CASE WHEN NOT cur.give_up THEN o.pending_since WHEN ? < o.target_version THEN
					(SELECT e.recorded_at FROM billing_events e WHERE e.stream_id = o.org_id AND e.stream_version = ? + 1) END,
				last_error = ?, lease_owner = NULL, lease_until = '-infinity'
			FROM cur WHERE o.endpoint = ? AND o.org_id = cur.org_id
			RETURNING cur.give_up, cur.n),
		failed AS (INSERT INTO outbound_failures (endpoint, org_id, version, attempts, last_error)
			SELECT ?, ?, ?, upd.n, ? FROM upd WHERE upd.give_up)
		SELECT give_up, n FROM upd`,
		millis(f.GiveUp), endpoint, f.OrgID, owner, f.Version,
		f.Version, millis(f.Retry), f.Version, f.Version, f.Error, endpoint,
		endpoint, f.OrgID, f.Version, f.Error).Scan(&gaveUp, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, false, nil
	}
	if err != nil {
		return false, 0, false, fmt.Errorf("record outbound failure: %w", err)
	}
	return gaveUp, attempts, true, nil
}

// Release implements [ports.OutboundQueue].
func (o *Outbound) Release(ctx context.Context, endpoint, owner, orgID string) error {
	_, err := o.db.ExecContext(ctx, `UPDATE outbound_orgs SET lease_owner = NULL, lease_until = '-infinity'
		WHERE endpoint = ? AND org_id = ? AND lease_owner = ?`, endpoint, orgID, owner)
	if err != nil {
		return fmt.Errorf("release outbound lease: %w", err)
	}
	return nil
}

// Oldest implements [ports.OutboundQueue], on the database's clock.
func (o *Outbound) Oldest(ctx context.Context) (map[string]time.Duration, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT endpoint, extract(epoch FROM now() - min(pending_since))::float8 FROM outbound_orgs
		WHERE delivered_version < target_version GROUP BY endpoint`)
	if err != nil {
		return nil, fmt.Errorf("read oldest outbound event: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Duration{}
	for rows.Next() {
		var (
			endpoint string
			age      sql.NullFloat64
		)
		if err := rows.Scan(&endpoint, &age); err != nil {
			return nil, fmt.Errorf("read oldest outbound event: %w", err)
		}
		out[endpoint] = time.Duration(max(age.Float64, 0) * float64(time.Second))
	}
	return out, rows.Err()
}

// Replay implements [ports.OutboundQueue]: each endpoint's row for the org
// goes back to from-1 (unless it has events due from further behind), due
// now, its attempts forgotten. An instance delivering the org meanwhile loses its
// next ack (the delivered version moved) and lets the row go.
func (o *Outbound) Replay(ctx context.Context, endpoints []string, orgID string, from int64) (int64, error) {
	from = max(from, 1)
	var head int64
	err := o.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT version FROM billing_streams WHERE id = ?`, orgID).Scan(&head)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil || head < from {
			return err
		}
		// The endpoints' followers deliver orgs with nothing due directly:
		// wait for their turns to end, and keep them off until this
		// commits (then the org has a backlog, which they leave alone).
		sorted := slices.Sorted(slices.Values(endpoints))
		for _, ep := range sorted {
			if _, err := tx.Tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, prepared(followLock, ep)...); err != nil {
				return err
			}
		}
		bound, err := horizon(ctx, tx)
		if err != nil {
			return err
		}
		for _, ep := range sorted {
			if err := register(ctx, tx, bound, ep); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbound_orgs AS o (endpoint, org_id, delivered_version, target_version, pending_since, next_attempt_at)
				VALUES (?, ?, ?, ?, (SELECT recorded_at FROM billing_events WHERE stream_id = ? AND stream_version = ?), now())
				ON CONFLICT (endpoint, org_id) DO UPDATE SET
					delivered_version = CASE WHEN o.delivered_version < o.target_version
						THEN LEAST(o.delivered_version, EXCLUDED.delivered_version) ELSE EXCLUDED.delivered_version END,
					target_version = GREATEST(o.target_version, EXCLUDED.target_version),
					pending_since = CASE WHEN o.delivered_version <= EXCLUDED.delivered_version AND o.delivered_version < o.target_version
						THEN o.pending_since ELSE EXCLUDED.pending_since END,
					attempts = 0, first_failed_at = NULL, next_attempt_at = now()`,
				ep, orgID, from-1, head, orgID, from); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replay outbound events: %w", err)
	}
	return head, nil
}
