package main_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/domain/ledger"
)

// rechain recomputes, as a database owner covering their tracks would,
// every hash of org's stream from its first event, and the stream's head.
func rechain(t *testing.T, super *sql.DB, org string) {
	t.Helper()
	ctx := context.Background()
	rows, err := super.QueryContext(ctx, `SELECT position, stream_version, type, schema_version, data::text, metadata::text, occurred_at, recorded_at
		FROM billing_events WHERE stream_id = $1 ORDER BY stream_version`, org)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		position int64
		r        ledger.Record
	}
	var all []row
	for rows.Next() {
		var (
			x          row
			data, meta string
		)
		if err := rows.Scan(&x.position, &x.r.Version, &x.r.Type, &x.r.SchemaVersion, &data, &meta, &x.r.OccurredAt, &x.r.RecordedAt); err != nil {
			t.Fatal(err)
		}
		x.r.StreamID, x.r.Data, x.r.Metadata = org, []byte(data), []byte(meta)
		all = append(all, x)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var prev []byte
	exec := func(q string, args ...any) {
		if _, err := super.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("ALTER TABLE billing_events DISABLE TRIGGER billing_events_append_only")
	for i, x := range all {
		x.r.Version = int64(i + 1) // a removed event leaves no gap
		h, err := ledger.Hash(prev, x.r)
		if err != nil {
			t.Fatal(err)
		}
		exec("UPDATE billing_events SET hash = $1, stream_version = $2 WHERE position = $3", h, x.r.Version, x.position)
		prev = h
	}
	exec("UPDATE billing_streams SET version = $1, last_hash = $2 WHERE id = $3", len(all), prev, org)
	exec("ALTER TABLE billing_events ENABLE TRIGGER billing_events_append_only")
}

// TestCheckpointsCatchWhatADatabaseOwnerRecomputed: a superuser who edits
// an event, or removes one, and recomputes every later hash and the
// stream's head passes `ledger verify`; a signed checkpoint taken before
// catches both, naming the org; a forged checkpoint is refused; events
// appended after the checkpoint are still checked by their chain; an
// org's inclusion proof verifies without the database and a forged one
// does not; serve writes checkpoints on its schedule.
func TestCheckpointsCatchWhatADatabaseOwnerRecomputed(t *testing.T) {
	db := pgtest.New(t)
	pub, key, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	c := cli{t: t, env: []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + db.URL, "LOG_LEVEL=warn",
		"LEDGER_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(key.Seed()), "LEDGER_PUBLIC_KEY=" + base64.StdEncoding.EncodeToString(pub)}}
	c.ok("", "migrate", "up")
	// DATABASE_URL may name several hosts: the first one down, the
	// writable one is used (contract, Failover).
	multi := strings.Replace(db.URL, "@127.0.0.1:", "@127.0.0.1:1,127.0.0.1:", 1)
	if !strings.Contains(multi, ",") {
		t.Fatalf("cannot make a multi-host URL of %s", db.URL)
	}
	multi += "&target_session_attrs=read-write"
	several := cli{t: t, env: []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + multi, "LOG_LEVEL=warn"}}
	if out := several.ok("", "migrate", "status"); !strings.Contains(out, "applied") {
		t.Errorf("migrate status over a multi-host URL: %s", out)
	}
	for _, u := range []string{"a", "b", "c", "d"} {
		c.ok("a long password\n", "users", "create", "--email", u+"@example.com")
	}
	var orgs []string
	for i := range 3 {
		org := strings.TrimSpace(c.ok("", "orgs", "create", "--name", fmt.Sprint("Org ", i), "--owner", "a@example.com"))
		c.ok("", "orgs", "grant", "--org", org, "--email", "b@example.com", "--permission", "audit")
		c.ok("", "orgs", "grant", "--org", org, "--email", "c@example.com", "--permission", "billing")
		orgs = append(orgs, org)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc := c.ok("", "ledger", "checkpoint")
	var cp ledger.Checkpoint
	if err := json.Unmarshal([]byte(doc), &cp); err != nil || len(cp.Streams) != 3 || cp.Position != 12 || cp.Streams[0].Version != 4 {
		t.Fatalf("checkpoint %v: %s", err, doc)
	}
	cpFile := write("cp.json", doc)
	if out := c.ok("", "ledger", "verify", "--checkpoint", cpFile); !strings.Contains(out, "ledger intact: 12 events in 3 streams, and up to the checkpoint") {
		t.Errorf("verify with the checkpoint: %s", out)
	}

	// Proofs: taken now (same root while nothing was appended) or from the
	// file; checked without a database.
	victim := orgs[1]
	proofNow := write("proof-now.json", c.ok("", "ledger", "checkpoint", "--prove", "--org", victim))
	proofFile := write("proof-file.json", c.ok("", "ledger", "checkpoint", "--prove", "--org", victim, "--checkpoint", cpFile))
	noDB := cli{t: t, env: []string{"PATH=" + os.Getenv("PATH"), "LEDGER_PUBLIC_KEY=" + base64.StdEncoding.EncodeToString(pub)}}
	for _, p := range []string{proofNow, proofFile} {
		if out := noDB.ok("", "ledger", "verify", "--checkpoint", cpFile, "--proof", p); !strings.Contains(out, "proof valid: org "+victim+" at version 4") {
			t.Errorf("proof: %s", out)
		}
	}
	var proof ledger.Proof
	_ = json.Unmarshal([]byte(must(os.ReadFile(proofFile))), &proof)
	proof.Stream.Version = 5
	forgedProof, _ := json.Marshal(proof)
	if out, _, code := noDB.run("", "ledger", "verify", "--checkpoint", cpFile, "--proof", write("forged-proof.json", string(forgedProof))); code != 1 || !strings.Contains(out, "proof refused") {
		t.Errorf("a forged proof: exit %d: %s", code, out)
	}

	// A checkpoint signed with another key is refused.
	other, _ := ledger.NewCheckpoint(cp.Streams, cp.Position, time.Now(), otherKey)
	otherDoc, _ := json.Marshal(other)
	if out, _, code := c.run("", "ledger", "verify", "--checkpoint", write("forged.json", string(otherDoc))); code != 1 || !strings.Contains(out, "checkpoint refused") {
		t.Errorf("a forged checkpoint: exit %d: %s", code, out)
	}

	// Appended after the checkpoint: still verified by the chain.
	c.ok("", "orgs", "grant", "--org", orgs[0], "--email", "d@example.com", "--permission", "audit")
	c.ok("", "ledger", "verify", "--checkpoint", cpFile)

	super, err := sql.Open("pgx", db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	// An event before the checkpoint changed, every later hash recomputed.
	for _, q := range []string{"ALTER TABLE billing_events DISABLE TRIGGER billing_events_append_only",
		`UPDATE billing_events SET data = jsonb_set(data, '{permissions}', '["audit","billing"]') WHERE stream_id = '` + victim + `' AND stream_version = 3`,
		"ALTER TABLE billing_events ENABLE TRIGGER billing_events_append_only"} {
		if _, err := super.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if out, _, code := c.run("", "ledger", "verify"); code != 1 {
		t.Fatalf("the edit alone was not caught by the chain: exit %d: %s", code, out)
	}
	rechain(t, super, victim)
	if out := c.ok("", "ledger", "verify"); !strings.Contains(out, "ledger intact") {
		t.Errorf("after recomputing, verify without a checkpoint: %s", out)
	}
	out, _, code := c.run("", "ledger", "verify", "--checkpoint", cpFile)
	if code != 1 || !strings.Contains(out, "ledger broken: org "+victim+", event 4") || !strings.Contains(out, "checkpoint") {
		t.Errorf("recomputed edit with the checkpoint: exit %d: %s", code, out)
	}
	if out, _, code := c.run("", "ledger", "verify", "--checkpoint", cpFile, "--org", orgs[2]); code != 0 {
		t.Errorf("another org against the checkpoint: exit %d: %s", code, out)
	}

	// The last event before the checkpoint removed, the chain recomputed.
	gone := orgs[2]
	for _, q := range []string{"ALTER TABLE billing_events DISABLE TRIGGER billing_events_append_only",
		"DELETE FROM billing_events WHERE stream_id = '" + gone + "' AND stream_version = 4",
		"ALTER TABLE billing_events ENABLE TRIGGER billing_events_append_only"} {
		if _, err := super.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rechain(t, super, gone)
	c.ok("", "ledger", "verify", "--org", gone)
	out, _, code = c.run("", "ledger", "verify", "--checkpoint", cpFile, "--org", gone)
	if code != 1 || !strings.Contains(out, "ledger broken: org "+gone) || !strings.Contains(out, "has version 4; the ledger ends at 3") {
		t.Errorf("a removed event with the checkpoint: exit %d: %s", code, out)
	}

	// maintenance prune, as an operator runs it.
	if out := c.ok("", "maintenance", "prune", "--older-than", "720h"); !strings.Contains(out, "deleted 0 expired sessions\n") ||
		!strings.Contains(out, "removed the payloads of 0 settled Stripe events received before ") {
		t.Errorf("maintenance prune: %q", out)
	}
	if _, _, code := c.run("", "maintenance", "prune", "--older-than", "-1h"); code != 2 {
		t.Errorf("a negative --older-than: exit %d, want 2", code)
	}

	// serve on a schedule.
	cpDir := t.TempDir()
	addr := freeAddr(t)
	serve := exec.Command(binary, "serve")
	serve.Env = append(c.env, "HTTP_ADDR="+addr, "APP_BASE_URL=http://"+addr, "STRIPE_SECRET_KEY=sk_test_x", "STRIPE_WEBHOOK_SECRET=whsec_x",
		"STRIPE_API_BASE=http://127.0.0.1:1", "STRIPE_PRICE_STARTER=price_s", "STRIPE_PRICE_PRO=price_p", "STRIPE_PRICE_ENTERPRISE=price_e",
		"CHECKPOINT_INTERVAL=1s", "CHECKPOINT_DIR="+cpDir)
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	var files []string
	for range 100 {
		if files, _ = filepath.Glob(filepath.Join(cpDir, "checkpoint-*.json")); len(files) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(files) == 0 {
		t.Fatal("serve wrote no checkpoint within 10 s")
	}
	scheduled, err := ledger.ParseCheckpoint(must(os.ReadFile(files[0])), pub)
	if err != nil || len(scheduled.Streams) != 3 {
		t.Errorf("scheduled checkpoint: %v %+v", err, scheduled)
	}
}
