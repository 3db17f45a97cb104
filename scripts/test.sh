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
export DATABASE_URL STRIPE_MOCK_URL
start=$(date +%s)
go test -count=1 -timeout 15m "${@:-./...}"
if [ $# -eq 0 ]; then
  # Fuzz targets, seeded with realistic payloads, for a bounded number of inputs each.
  for target in "FuzzWebhookMapping ./adapters/stripe" "FuzzInvoiceReadingMatchesStripeGo ./adapters/stripe" "FuzzDecode ./adapters/httpapi" "FuzzFoldIsOrderIndependent ./domain/billing"; do
    set -- $target
    go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-50000x}" "$2"
  done
fi
echo "make test: passed in $(( $(date +%s) - start )) s"
