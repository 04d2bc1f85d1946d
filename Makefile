# omnishelf — the two commands: `make demo` and `make test`.
# Everything they need is installed here: Debian packages (only the missing ones), then a
# virtual environment with the hash-pinned dependencies of requirements.lock.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.omnishelf-installed
PYTEST_ARGS ?=

.PHONY: test demo bench chaos setup system-deps lint typecheck lock clean

setup: system-deps $(STAMP)

system-deps:
	./scripts/install-system-deps

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q "uv==$(UV_VERSION)"

$(STAMP): requirements.lock pyproject.toml | $(UV)
	$(UV) venv -q --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync -q --python $(VENV)/bin/python --require-hashes requirements.lock
	$(UV) pip install -q --python $(VENV)/bin/python --no-deps -e .
	touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

# pytest fails a run that leaves a process behind (tests/conftest.py); the benchmarks' processes
# carry a marker, and scripts/check-no-leftovers fails the target if any of them still runs.
test: setup lint typecheck
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	marker=bench-quick-$$$$; \
	OMNISHELF_RUN_MARKER=$$marker $(VENV)/bin/omnishelf bench --quick --json var/bench-quick.json; \
	status=$$?; ./scripts/check-no-leftovers $$marker && exit $$status

# The numbers of BENCHMARKS.md (a full run takes ~15 minutes on 2 cores).
bench: setup
	$(VENV)/bin/omnishelf bench --json var/bench-full.json

# The long chaos run (bench/chaos.py; make test runs a bounded one): 1,000 labels, three
# rounds of broker, controller, disk and access-point faults. Prints a report of counts.
chaos: setup
	$(VENV)/bin/python -m bench.chaos --labels 1000 --access-points 5 --rounds 3

# A whole simulated store and its web console (docs/demo.md); Ctrl-C stops it.
# Options: make demo DEMO_ARGS="--port 8080 --labels 2000 --broker amqtt"
demo: setup
	$(VENV)/bin/omnishelf demo $(DEMO_ARGS)

# Re-pin dependencies after editing pyproject.toml.
lock: | $(UV)
	$(UV) pip compile -q pyproject.toml --group dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
