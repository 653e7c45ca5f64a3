#!/usr/bin/env bash
# `npm test`: type check, lint, format check, then every test under test/ with
# node's test runner (its summary closes the output; any failure exits non-zero).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-node.sh
[ -d node_modules/probot ] || npm ci --no-audit --no-fund
echo "== type check"; npx --no-install tsc -p tsconfig.json
echo "== lint"; npx --no-install eslint --max-warnings 0 .
echo "== format"; npx --no-install prettier --check --log-level warn .
echo "== tests"
exec node --test --test-concurrency="${PAAS_TEST_CONCURRENCY:-2}" --test-timeout=900000 "test/**/*.test.ts"
