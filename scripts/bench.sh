#!/usr/bin/env bash
# make bench: every benchmark against one Postgres cluster (fsync on, as in
# production) and stripe-mock, each beside its bare-SQL or direct-call
# baseline measured in the same run. BENCH_EVENTS/BENCH_ORGS size the
# rebuild (default 1,000,000 events over 100,000 orgs).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.data/bench
cleanup() { scripts/stack.sh pg-stop "$dir/pg"; scripts/stack.sh mock-stop "$dir/mock"; }
trap cleanup EXIT
DATABASE_URL=$(scripts/stack.sh pg-start "$dir/pg")
STRIPE_MOCK_URL=$(scripts/stack.sh mock-start "$dir/mock")
export DATABASE_URL STRIPE_MOCK_URL
export BENCH_EVENTS=${BENCH_EVENTS:-1000000} BENCH_ORGS=${BENCH_ORGS:-100000}
echo "== results (also in .data/bench/results.txt)"
{
  # GOGC as `projections rebuild` sets it for itself.
  GOGC=400 go test -run '^$' -bench 'Rebuild' -benchtime 1x -timeout 30m ./adapters/postgres/ 2>&1
  go test -run '^$' -bench 'Webhooks|History|Checkout|PlanChange|Plans$' -benchtime 1x -timeout 30m ./adapters/httpapi/ 2>&1
  go test -run '^$' -bench 'ServeUnderLoad' -benchtime 1x -timeout 30m ./cmd/safeclose-billing/ 2>&1
} | grep -E '^(rebuild|webhooks|history|bare|status|entitlements|checkout|direct|serve|change|preview|plans)' | tee "$dir/results.txt"
