# finsent: `make run` runs the main job, `make test` runs every test. Both do all set-up
# on a fresh Debian 12 machine (apt, pip into .venv, mvn for the Kafka broker).
.PHONY: setup run test test-long test-fast lint lock soak stack-up stack-down clean

DATA ?= ../shared/data
SPEED ?= 7200

setup:
	@bash scripts/setup.sh

# PASSIVE: the broker and Redis share these cores with the model (docs/model.md).
run: setup
	OMP_WAIT_POLICY=PASSIVE .venv/bin/finsent run --replay $(DATA)/stocknet-dataset/tweet/raw --speed $(SPEED) --web

test: setup
	@bash scripts/test.sh

# The live soak (docs/soak.md): the real services on a private broker and Redis, an
# accelerated clock, faults on a schedule. SOAK=short is the form `make test` runs.
SOAK ?= full
soak: setup
	OMP_WAIT_POLICY=PASSIVE .venv/bin/finsent soak --data $(DATA) $(if $(filter short,$(SOAK)),--short,) $(if $(SOAK_SPEED),--speed $(SOAK_SPEED),)

# The minutes-long fault proof (20 back-to-back `finsent run`); chaos and 20 SIGKILLs run in `make test`.
test-long: setup
	@bash scripts/test.sh -m long tests/integration

test-fast: setup
	.venv/bin/pytest -m "not integration"

# The image's dependencies, pinned with hashes (run after changing pyproject's dependencies).
lock: setup
	.venv/bin/python scripts/lock.py

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

stack-up: setup
	.venv/bin/finsent stack up

stack-down:
	.venv/bin/finsent stack down

clean: stack-down
	rm -rf .stack
