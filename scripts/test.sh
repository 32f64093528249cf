#!/usr/bin/env bash
# `make test`: lint, type-check, start the real stack, run every test, and stop whatever
# this script started (a stack that was already up is left running).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1

echo "== ruff"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy --strict"; .venv/bin/mypy

started_stack=0
if ! .venv/bin/finsent stack status >/dev/null; then  # exits 1 unless both run
  started_stack=1
fi
cleanup() { if [ "$started_stack" = 1 ]; then .venv/bin/finsent stack down || true; fi; }
trap cleanup EXIT
echo "== finsent stack up"; .venv/bin/finsent stack up
# The store's tests run on both backends for real: RedisTimeSeries must be loaded.
if ! .venv/bin/finsent stack status --json | .venv/bin/python -c \
    'import json, sys; sys.exit(0 if json.load(sys.stdin)["redis"]["timeseries"] else 1)'; then
  echo "error: the stack's Redis runs without RedisTimeSeries, which the store tests need." >&2
  echo "       make setup fetches it into .stack/modules; then: make stack-down && make test" >&2
  exit 1
fi

echo "== pytest"
set +e
# Minutes-long fault proofs (`-m long`) run with `make test-long`; a later -m overrides this.
.venv/bin/pytest --durations=25 -m "not long" "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure for us, never a pass.
exit $rc
