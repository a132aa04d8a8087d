# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest pytest-other-pythons js-deps examples-deps browser-deps cluster-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,redis,admin]'
	touch $(STAMP)

# npm ci empties node_modules first, following a symlink: a node_modules that is a link to
# another checkout's is left alone, or that checkout would lose its packages.
NPM_CI = if [ -L node_modules ]; then echo "$$PWD/node_modules is a link: left as it is"; \
	else npm ci --no-audit --no-fund; fi

js-deps: tests/js/node_modules/.package-lock.json

tests/js/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	cd tests/js && $(NPM_CI)

# socket.io-client's browser bundle, which examples/jwt_app.py serves (no CDN).
examples-deps: examples/node_modules/.package-lock.json

examples/node_modules/.package-lock.json: examples/package.json examples/package-lock.json
	cd examples && $(NPM_CI)

# playwright-core only: it drives Debian's Chromium and never downloads a browser.
browser-deps: tests/browser/node_modules/.package-lock.json

tests/browser/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && $(NPM_CI)

/usr/bin/chromium:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# The cluster tests start their own Redis and HAProxy (on free ports, stopped by PID).
cluster-deps: /usr/bin/redis-server /usr/sbin/haproxy

/usr/bin/redis-server /usr/sbin/haproxy:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server haproxy

# PROTOCOL.md's curl walkthrough is run, as printed, in dash with curl.
/usr/bin/curl /usr/bin/dash:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl dash

demo: $(STAMP) examples-deps
	$(PY) examples/jwt_app.py --port 3000 --connect-auth

typecheck: $(STAMP)
	$(PY) -m mypy

lint: $(STAMP)
	$(PY) -m ruff check minisock tests examples docs soak fuzz
	$(PY) -m ruff format --check minisock tests examples docs soak fuzz

PYTEST_ARGS ?= -q

pytest: $(STAMP) js-deps examples-deps browser-deps cluster-deps /usr/bin/chromium /usr/bin/curl /usr/bin/dash
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite again on every other CPython 3.11-3.13 this machine has (pyenv's, or
# /usr/bin/python3.X), each in .venv-3.X; then one line: which versions ran, which were not
# found. mypy and ruff run once, on .venv (mypy checks for python_version = 3.11).
pytest-other-pythons: pytest
	.ci/other-pythons $(PY) $(PYTEST_ARGS)

test: typecheck lint pytest pytest-other-pythons

clean:
	rm -rf $(VENV) $(VENV)-3.* tests/js/node_modules examples/node_modules tests/browser/node_modules

# ---------------------------------------------------------------- benchmark (bench/README.md)
# `make bench` installs the peers into bench/.venv and bench/node_modules, then runs every
# server (minisock, python-socketio on uvicorn, Node socket.io, the trio floor) side by side,
# server on CPU 0 and load generator on CPU 1; then bench/cluster_bench.py (two servers on one
# Redis, minisock beside Node; CLUSTER_ARGS are its options). Results: bench/results/.
BENCH_VENV := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS ?=
CLUSTER_ARGS ?=

.PHONY: bench bench-cluster

$(BENCH_STAMP): bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund

bench: $(STAMP) $(BENCH_STAMP) bench/node_modules/.package-lock.json
	taskset -c 1 $(BENCH_VENV)/bin/python bench/loadgen.py --minisock-python $(PY) $(BENCH_ARGS)
	taskset -c 1 $(BENCH_VENV)/bin/python bench/cluster_bench.py --minisock-python $(PY) $(CLUSTER_ARGS)

# Only the cluster part (two servers on one Redis, minisock beside Node): bench/cluster_bench.py
bench-cluster: $(STAMP) $(BENCH_STAMP) bench/node_modules/.package-lock.json
	taskset -c 1 $(BENCH_VENV)/bin/python bench/cluster_bench.py --minisock-python $(PY) $(CLUSTER_ARGS)

# ---------------------------------------------------------------- fuzzing (fuzz/README.md)
# `make fuzz FUZZ_SECONDS=60` runs each atheris harness for that long, one after the other, in
# fuzz/.venv (atheris never enters the main venv). Not part of `make test`.
FUZZ_VENV := fuzz/.venv
FUZZ_STAMP := $(FUZZ_VENV)/.installed
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: fuzz soak

$(FUZZ_STAMP): fuzz/requirements.txt pyproject.toml
	test -x $(FUZZ_VENV)/bin/python || $(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FUZZ_VENV)/bin/python -m pip install --quiet -r fuzz/requirements.txt -e '.[msgpack]'
	touch $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	$(FUZZ_VENV)/bin/python fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ---------------------------------------------------------------- soak (soak/README.md)
# `make soak` churns clients over both transports for SOAK_SECONDS (default 300) against a
# server in its own process, then checks delivery, RSS, fds and the session table.
SOAK_SECONDS ?= 300

soak: $(STAMP)
	$(PY) soak/soak.py --seconds $(SOAK_SECONDS)
