# `make run` starts Trainboard on its embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench-live clean job-python

run: $(STAMP)
	$(BIN)/python main.py

# two pytest processes at once, one per database, so the suite fits the machine's two cores (most tests wait on a
# server, a job or a browser); the SQLite half (and the tests without a database) prints when it is done
test: $(STAMP) chromium job-python
	@log=$$(mktemp); \
	$(BIN)/python -m pytest -q --durations=15 -k 'not postgres' > $$log 2>&1 & sqlite=$$!; \
	$(BIN)/python -m pytest -q --durations=15 -p no:cacheprovider -k postgres; postgres=$$?; \
	wait $$sqlite; sqlite_status=$$?; echo '--- SQLite and no database:'; cat $$log; rm -f $$log; \
	exit $$(( sqlite_status || postgres ))

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
	rm -rf $(VENV) .pytest_cache .ruff_cache
