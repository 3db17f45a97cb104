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
echo "== results (also in $dir/results.txt; everything the benchmarks printed in $dir/full.log)"
# Each suite starts after a CHECKPOINT: the rebuild and the history
# benchmark write hundreds of MB, which Postgres would otherwise still be
# flushing (checkpoint_completion_target) while the next suite's commits
# wait on the same disk.
quiet() { scripts/stack.sh pg-checkpoint "$dir/pg"; }
status=0
{
  # Go's default GOGC, as `projections rebuild` runs with.
  go test -run '^$' -bench 'Rebuild' -benchtime 1x -timeout 30m ./adapters/postgres/ 2>&1
  quiet
  go test -run '^$' -bench 'Webhooks|History' -benchtime 1x -timeout 30m ./adapters/httpapi/ 2>&1
  quiet
  go test -run '^$' -bench 'Checkout|PlanChange|Plans$' -benchtime 1x -timeout 30m ./adapters/httpapi/ 2>&1
  quiet
  go test -run '^$' -bench 'ServeUnderLoad' -benchtime 1x -timeout 30m ./cmd/safeclose-billing/ 2>&1
} > >(tee "$dir/full.log" | grep --line-buffered -E '^(rebuild|webhooks|history|bare|status|entitlements|checkout|direct|serve|change|preview|plans)' | tee "$dir/results.txt") || status=$?
wait
if [ "$status" -ne 0 ] || grep -qE '^(--- FAIL|FAIL|panic:)' "$dir/full.log"; then
  echo "== a benchmark failed: from $dir/full.log" >&2
  grep -E -A15 '^(--- FAIL|panic:)' "$dir/full.log" | head -60 >&2
  exit 1
fi
