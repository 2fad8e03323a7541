# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   -> create .venv, install the locked dependencies, run the demo job
#   make test   -> create/update .venv, run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test calibrate calibrate-tests bench lint lock docs docs-serve clean-data help kill-harness

help:
	@echo "make demo | make test | make calibrate | make calibrate-tests | make bench | make lint | make lock | make docs"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/measure demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not calibration"

# The calibration protocol (docs/validation.md): every family on 100 plain and 100
# stress worlds from the reporting seeds; writes docs/calibration.md (over an hour
# on 2 cores; --shards DIR lets a stopped run resume).
calibrate: $(STAMP)
	$(BIN)/python -m measure.simulate.calibrate --worlds 100

# The calibration-marked tests (recovery and coverage targets asserted per family).
calibrate-tests: $(STAMP)
	$(BIN)/python -m pytest -q -m calibration -s

bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# Re-resolve the lock file (needs network; maintainers only).
lock:
	uv pip compile pyproject.toml --extra dev --extra splink --extra docs --extra spark --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes -o requirements.lock

# The documentation site (mkdocs.yml) into site/, warnings as errors; the CLI
# reference page is regenerated first from the argparse parsers.
docs: $(STAMP)
	$(BIN)/python tools/docs_cli.py
	$(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	$(BIN)/mkdocs serve

clean-data:
	rm -rf data/processed/* data/raw/*

# SIGKILL each writing command 100 times at random points and check that every
# target is absent, the previous version or a complete dataset (a few minutes).
kill-harness: $(STAMP)
	nice -n 19 $(BIN)/python tests/reliability/kill_harness.py --kills 100
