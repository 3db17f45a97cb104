#!/usr/bin/env bash
# make run: the whole service on a local stack under .data/dev — its own
# Postgres cluster, stripe-mock, migrations, a demo user and org.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.data/dev
mkdir -p "$dir"
server=$(scripts/stack.sh pg-start "$dir/pg")
mock=$(scripts/stack.sh mock-start "$dir/mock")
cleanup() { scripts/stack.sh mock-stop "$dir/mock"; scripts/stack.sh pg-stop "$dir/pg"; }
trap cleanup EXIT
psql "$server" -tAc "SELECT 1 FROM pg_database WHERE datname = 'billing'" | grep -q 1 \
  || psql "$server" -qc "CREATE DATABASE billing" >/dev/null

export DATABASE_URL="${server%/postgres*}/billing?sslmode=disable"
export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
export APP_BASE_URL="${APP_BASE_URL:-http://localhost:${HTTP_ADDR##*:}}"
export STRIPE_SECRET_KEY=sk_test_local STRIPE_WEBHOOK_SECRET=whsec_local_dev_secret STRIPE_API_BASE="$mock"
export STRIPE_PRICE_STARTER=price_starter STRIPE_PRICE_PRO=price_pro STRIPE_PRICE_ENTERPRISE=price_enterprise
bin=bin/safeclose-billing

$bin migrate up >/dev/null
email=demo@safeclose.local password=safeclose-demo
echo "$password" | $bin users create --email "$email" >/dev/null 2>&1 || true
if [ ! -s "$dir/demo-org" ]; then $bin orgs create --name "Demo Org" --owner "$email" >"$dir/demo-org"; fi
org=$(cat "$dir/demo-org")

cat <<MSG

  Safeclose Billing is starting on $APP_BASE_URL
    log in:        $APP_BASE_URL/login  as $email / $password
    billing page:  $APP_BASE_URL/orgs/$org/billing
    API token:     TOKEN=\$($bin sessions create --email $email)   (with the env below)
                   curl -H "Authorization: Bearer \$TOKEN" "$APP_BASE_URL/api/billing/status?orgId=$org"
    simulate Stripe (in another shell, same env):
                   $bin dev simulate lifecycle --org $org --tier PRO
    env for those commands:
                   export DATABASE_URL='$DATABASE_URL' HTTP_ADDR=$HTTP_ADDR STRIPE_SECRET_KEY=$STRIPE_SECRET_KEY \\
                     STRIPE_WEBHOOK_SECRET=$STRIPE_WEBHOOK_SECRET STRIPE_PRICE_STARTER=$STRIPE_PRICE_STARTER \\
                     STRIPE_PRICE_PRO=$STRIPE_PRICE_PRO STRIPE_PRICE_ENTERPRISE=$STRIPE_PRICE_ENTERPRISE
  Stripe API: stripe-mock at $mock. Ctrl-C stops everything.

MSG
$bin serve --no-migrate
