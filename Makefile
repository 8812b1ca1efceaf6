# `make run` starts Trainboard on its embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-durations lint bench bench-live binary clean job-python nginx

run: $(STAMP)
	$(BIN)/python main.py

# four pytest processes at once: each database's tests in two shards of whole files (tests/conftest.py), since most
# tests wait on a server, a job or a browser and two processes left the machine's two cores half idle; each shard's
# output is printed when all are done, with its slowest tests, and any failing shard fails the target
SHARDS := sqlite:1 sqlite:2 postgres:1 postgres:2
test: $(STAMP) chromium nginx job-python
	@dir=$$(mktemp -d); pids=''; \
	for shard in $(SHARDS); do \
		db=$${shard%:*}; i=$${shard#*:}; k=$$([ $$db = sqlite ] && echo 'not postgres' || echo postgres); \
		TRAINBOARD_TEST_SHARD=$$shard/2 $(BIN)/python -m pytest -q --durations=10 -p no:cacheprovider -k "$$k" \
			--basetemp=$$dir/tmp-$$db-$$i --junitxml=$$dir/$$db-$$i.xml \
			> $$dir/$$db-$$i.log 2>&1 & pids="$$pids $$!"; \
	done; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; \
	for shard in $(SHARDS); do echo "--- $$shard"; cat $$dir/$${shard%:*}-$${shard#*:}.log; done; \
	if [ -n "$(RECORD_DURATIONS)" ]; then $(BIN)/python tests/durations.py $$dir > tests/durations.json; fi; \
	rm -rf $$dir; exit $$status

# the same run, recording how long each test file took (tests/durations.json): make test spreads files over its
# shards by these times, so that the shards end together; record again when files are added or grow slow
test-durations:
	$(MAKE) test RECORD_DURATIONS=1

# one file, dist/trainboard: PyInstaller called directly with the hidden imports Tortoise needs (scripts/build_binary.py)
binary: $(STAMP)
	$(BIN)/python scripts/build_binary.py --dist dist

lint: $(STAMP)
	$(BIN)/ruff check .

# every benchmark under bench/, with MLflow's server as a peer (installed into .bench/mlflow-venv on first use), on
# SQLite and on the PostgreSQL that the tests use; about 20 minutes on two cores; writes bench/RESULTS.md
bench: $(STAMP) chromium
	TRAINBOARD_TEST_POSTGRES_URL="$${TRAINBOARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}" \
		$(BIN)/python bench/run_all.py --peers

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

# nginx for tests/test_deploy.py, which runs docs/deploy/nginx.conf (its own prefix, pid and logs: no service starts)
nginx:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; \
		else echo 'nginx is missing: run "sudo apt-get install -y nginx-light" to include the deployment test'; fi; \
	fi

# numpy for Debian's python3: under root, local jobs run as `nobody`, who cannot run the app's interpreter when it
# lives in root's home, so they get /usr/bin/python3, and the example job (examples/train_mlp.py) needs numpy
job-python:
	@if [ "$$(id -u)" = 0 ] && ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then \
		apt-get update -qq && apt-get install -y -qq python3 python3-numpy >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
