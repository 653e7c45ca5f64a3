#!/usr/bin/env bash
# `npm test`: sets up what the tests need first (scripts/setup.sh test, which
# returns at once when everything is there), so a missing part fails here
# naming the command, not twenty tests later, then type check, lint,
# format check, and every test under test/ with node's test runner (its
# summary closes the output; any failure exits non-zero). PAAS_TEST_FILES runs
# only the files it names, without the whole-tree checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
source scripts/ensure-node.sh
if [ -n "${PAAS_TEST_FILES:-}" ]; then
  # Some files only: the checks below cover the whole tree, so they belong to the full run.
  echo "== type check, lint, format: not run (PAAS_TEST_FILES=$PAAS_TEST_FILES; the full npm test runs them)"
else
  echo "== type check"; npx --no-install tsc -p tsconfig.json
  echo "== lint"; npx --no-install eslint --max-warnings 0 .
  shellcheck -x scripts/*.sh .ci/run
  echo "== format"; npx --no-install prettier --check --log-level warn .
fi
echo "== tests"
# PAAS_TEST_FILES: test files or globs to run instead of all (the README's test
# runs `npm test` inside the full run, where all of them would run it again).
run() { node --test --test-concurrency="$1" --test-timeout=900000 "${@:2}"; }
if [ -n "${PAAS_TEST_FILES:-}" ]; then
  # shellcheck disable=SC2086 # a list of files or globs
  run "${PAAS_TEST_CONCURRENCY:-2}" $PAAS_TEST_FILES
  exit
fi
# These stand in for a fresh runner by deleting the engine's build cache records of their run,
# which would take cached steps away from builds of other files running beside them: they run
# alone, after the rest.
SERIAL=(test/image/registry-cache.test.ts)
PARALLEL=()
while IFS= read -r f; do
  [[ " ${SERIAL[*]} " == *" $f "* ]] || PARALLEL+=("$f")
done < <(find test -name '*.test.ts' | LC_ALL=C sort)
code=0
# Three files at a time on two cores: most of the suite waits (pods starting, rollouts, builds
# pulling), not computes; the cluster suites keep their pods' CPU requests small, since the
# scheduler of the one local node counts requests.
run "${PAAS_TEST_CONCURRENCY:-3}" "${PARALLEL[@]}" || code=$?
echo "== tests that prune the build cache, alone: ${SERIAL[*]}"
run 1 "${SERIAL[@]}" || code=$?
exit "$code"
