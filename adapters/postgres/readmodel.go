package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"github.com/safeclose/billing/domain/billing"
)

// Projection is a read model kept by the store: one table whose rows for a
// stream are a function of the stream's account alone. An append writes
// the rows that change from the account before it to the account after it
// in the append's transaction; a rebuild writes every stream's rows from
// the ledger alone. Both use the projection's one row function and its
// one upsert statement, so what is live and what is rebuilt cannot drift
// apart. (Projections live in this package: their writes join the
// append's batch.)
type Projection interface {
	// Table is the table the projection owns.
	Table() string
	// StreamColumn is the column of Table holding the stream (org) id.
	StreamColumn() string
	// shape is the table's columns, in the order of rows' values.
	shape() shape
	// rows returns the stream's rows as acc shows them; updatedAt is when
	// the ledger recorded the newest event acc folds.
	rows(acc *billing.Account, updatedAt time.Time) ([][]any, error)
	// stage adds the projection's writes for one append to its batch. It
	// reads nothing: the batch is the append's one round trip.
	stage(b *batch, a appended) error
}

// shape is a read model table's columns and key. Shapes are built once,
// by [newShape], and never changed.
type shape struct {
	columns []string
	keys    []string // the primary key
	// keepFirst: on a key held already, the row there stays (the first
	// claim wins) rather than being updated.
	keepFirst bool
	// live is the upsert into the live table, built once: appends send it
	// as a prepared statement.
	live string
}

func newShape(table string, columns, keys []string, keepFirst bool) shape {
	s := shape{columns: columns, keys: keys, keepFirst: keepFirst}
	s.live = s.upsert(table)
	return s
}

// upsert is the one statement that writes a row of the shape into table,
// with $1… in column order.
func (s shape) upsert(table string) string {
	var q strings.Builder
	q.WriteString("INSERT INTO ")
	q.WriteString(pgx.Identifier{table}.Sanitize())
	q.WriteString(" (")
	q.WriteString(strings.Join(s.columns, ", "))
	q.WriteString(") VALUES (")
	for i := range s.columns {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "$%d", i+1)
	}
	q.WriteString(") ON CONFLICT (")
	q.WriteString(strings.Join(s.keys, ", "))
	if s.keepFirst {
		q.WriteString(") DO NOTHING")
		return q.String()
	}
	q.WriteString(") DO UPDATE SET ")
	first := true
	for _, c := range s.columns {
		if isKey(s.keys, c) {
			continue
		}
		if !first {
			q.WriteString(", ")
		}
		first = false
		q.WriteString(c + " = EXCLUDED." + c)
	}
	return q.String()
}

func isKey(keys []string, c string) bool {
	for _, k := range keys {
		if k == c {
			return true
		}
	}
	return false
}

// placeholders matches the $n parameters of the statements above.
var placeholders = regexp.MustCompile(`\$\d+`)

// writeRows writes rows into table, outside an append (a rebuild's
// catch-up), with the projection's one upsert statement.
func writeRows(ctx context.Context, db bun.IDB, table string, sh shape, rows [][]any) error {
	// bun numbers nothing: its placeholders are ?.
	q := placeholders.ReplaceAllString(sh.upsert(table), "?")
	for _, r := range rows {
		args := make([]any, len(r))
		for i, v := range r {
			if ss, ok := v.([]string); ok {
				v = stringArray(ss)
			}
			args[i] = v
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
	}
	return nil
}

// copyRows fills table with rows by COPY.
func copyRows(ctx context.Context, conn *pgx.Conn, table string, sh shape, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, sh.columns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return nil
}

// stringArray is a text[] value for bun's formatter.
type stringArray []string

// AppendQuery implements bun's schema.QueryAppender: an ARRAY literal of
// quoted strings.
func (a stringArray) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	b = append(b, "ARRAY["...)
	for i, s := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = gen.Dialect().AppendString(b, s)
	}
	return append(b, "]::text[]"...), nil
}

// nullable is v, or nil (NULL) for the zero value.
func nullable[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}
