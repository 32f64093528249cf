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
if ! .venv/bin/finsent stack status | grep -q "^kafka  running" || \
   ! .venv/bin/finsent stack status | grep -q "^redis  running"; then
  started_stack=1
fi
cleanup() { if [ "$started_stack" = 1 ]; then .venv/bin/finsent stack down || true; fi; }
trap cleanup EXIT
echo "== finsent stack up"; .venv/bin/finsent stack up

echo "== pytest"
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure for us, never a pass.
exit $rc
