package postgres

import (
	"fmt"

	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
)

// jsonText is JSON kept in a json or jsonb column, written as the text it
// is. (bun re-encodes a json.RawMessage, checking it, for every row it
// writes; Postgres checks json input anyway and refuses what is not JSON.)
type jsonText []byte

var _ schema.QueryAppender = jsonText(nil)

// AppendQuery implements [schema.QueryAppender]: a quoted string literal.
func (j jsonText) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	if j == nil {
		return dialect.AppendNull(b), nil
	}
	return gen.Dialect().AppendString(b, string(j)), nil
}

// Scan implements [database/sql.Scanner].
func (j *jsonText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append(jsonText(nil), v...)
	case string:
		*j = jsonText(v)
	default:
		return fmt.Errorf("jsonText: cannot scan %T", src)
	}
	return nil
}
