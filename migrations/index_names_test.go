package migrations_test

import (
	"os"
	"testing"

	"github.com/safeclose/billing/adapters/postgres/pgtest"
)

// A database that an older rebuild left with memberships_user named
// memberships_user_id_idx gets the schema's name back; one with the right
// name is left as it is.
func TestIndexNamesAreRestored(t *testing.T) {
	up, err := os.ReadFile("20261201000070_index_names.tx.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.New(t)
	names := func() (user, column bool) {
		t.Helper()
		if err := db.QueryRow("SELECT to_regclass('memberships_user') IS NOT NULL, to_regclass('memberships_user_id_idx') IS NOT NULL").Scan(&user, &column); err != nil {
			t.Fatal(err)
		}
		return user, column
	}
	if user, column := names(); !user || column {
		t.Fatalf("a migrated database: memberships_user %t, memberships_user_id_idx %t", user, column)
	}
	if _, err := db.Exec("ALTER INDEX memberships_user RENAME TO memberships_user_id_idx"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // once on the misnamed index, once more on the restored one
		if _, err := db.Exec(string(up)); err != nil {
			t.Fatal(err)
		}
		if user, column := names(); !user || column {
			t.Fatalf("after the migration: memberships_user %t, memberships_user_id_idx %t", user, column)
		}
	}
}
