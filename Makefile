# `make run` starts Trainboard on its embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench-live clean job-python binary

run: $(STAMP)
	$(BIN)/python main.py

# four pytest processes at once: each database's tests in two shards of whole files (tests/conftest.py), since most
# tests wait on a server, a job or a browser and two processes left the machine's two cores half idle; each shard's
# output is printed when all are done, with its slowest tests, and any failing shard fails the target
SHARDS := sqlite:1 sqlite:2 postgres:1 postgres:2
test: $(STAMP) chromium job-python
	@dir=$$(mktemp -d); pids=''; \
	for shard in $(SHARDS); do \
		db=$${shard%:*}; i=$${shard#*:}; k=$$([ $$db = sqlite ] && echo 'not postgres' || echo postgres); \
		TRAINBOARD_TEST_SHARD=$$i/2 $(BIN)/python -m pytest -q --durations=10 -p no:cacheprovider -k "$$k" \
			--basetemp=$$dir/tmp-$$db-$$i \
			> $$dir/$$db-$$i.log 2>&1 & pids="$$pids $$!"; \
	done; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; \
	for shard in $(SHARDS); do echo "--- $$shard"; cat $$dir/$${shard%:*}-$${shard#*:}.log; done; \
	rm -rf $$dir; exit $$status

# one file, dist/trainboard: PyInstaller called directly with the hidden imports Tortoise needs (scripts/build_binary.py)
binary: $(STAMP)
	$(BIN)/python scripts/build_binary.py --dist dist

lint: $(STAMP)
	$(BIN)/ruff check .

bench-live: $(STAMP) chromium
	$(BIN)/python bench/live_latency.py

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (never `playwright install`: nothing downloads at run time)
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo 'Chromium is missing: run "sudo apt-get install -y chromium" to include the browser tests'; fi; \
	fi

# numpy for Debian's python3: under root, local jobs run as `nobody`, who cannot run the app's interpreter when it
# lives in root's home, so they get /usr/bin/python3, and the example job (examples/train_mlp.py) needs numpy
job-python:
	@if [ "$$(id -u)" = 0 ] && ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then \
		apt-get update -qq && apt-get install -y -qq python3 python3-numpy >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
