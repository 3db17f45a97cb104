#!/usr/bin/env bash
# make test: one Postgres cluster and one stripe-mock for the whole run,
# each test package cloning fresh databases from a migrated template.
set -euo pipefail
cd "$(dirname "$0")/.."
# First, before any cluster starts: nothing that must not be committed is tracked.
scripts/check-tree.sh
dir=.data/test
cleanup() { scripts/stack.sh pg-stop "$dir/pg"; scripts/stack.sh mock-stop "$dir/mock"; }
trap cleanup EXIT
# fsync off: test databases are thrown away; it makes the suite faster on CI disks.
DATABASE_URL=$(PG_FSYNC=off scripts/stack.sh pg-start "$dir/pg")
STRIPE_MOCK_URL=$(scripts/stack.sh mock-start "$dir/mock")
# Tests that measure something (the failover's time to the first write
# after a promotion) write a line here; it is printed at the end, since go
# test shows a passing test's log only with -v.
TEST_FIGURES=$(realpath -m "$dir/figures.txt")
rm -f "$TEST_FIGURES"
export DATABASE_URL STRIPE_MOCK_URL TEST_FIGURES
start=$(date +%s)
go test -count=1 -timeout 15m "${@:-./...}"
if [ $# -eq 0 ]; then
  # Fuzz targets, seeded with realistic payloads, for a bounded number of inputs each.
  for target in "FuzzWebhookMapping ./adapters/stripe" "FuzzInvoiceReadingMatchesStripeGo ./adapters/stripe" "FuzzDecode ./adapters/httpapi" "FuzzFoldIsOrderIndependent ./domain/billing"; do
    set -- $target
    go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-50000x}" "$2"
  done
fi
if [ -s "$TEST_FIGURES" ]; then echo "figures measured by the tests:"; sed 's/^/  /' "$TEST_FIGURES"; fi
echo "make test: passed in $(( $(date +%s) - start )) s"
