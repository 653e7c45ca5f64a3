#!/usr/bin/env bash
# `npm test`: sets up what the tests need (scripts/setup.sh test: at once, and
# in a fraction of a second when everything is there, so a missing part fails
# here naming the command and not twenty tests later), then type check, lint,
# format check, and every test under test/ with node's test runner (its
# summary closes the output; any failure exits non-zero).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
source scripts/ensure-node.sh
echo "== type check"; npx --no-install tsc -p tsconfig.json
echo "== lint"; npx --no-install eslint --max-warnings 0 .
echo "== format"; npx --no-install prettier --check --log-level warn .
echo "== tests"
# PAAS_TEST_FILES narrows the files (the README's test runs `npm test` inside its
# own run, where the whole suite again would run the README's test again).
# shellcheck disable=SC2086
exec node --test --test-concurrency="${PAAS_TEST_CONCURRENCY:-2}" --test-timeout=900000 ${PAAS_TEST_FILES:-"test/**/*.test.ts"}
