# One command each: `make demo` runs the whole workflow offline, `make test`
# runs the test suite. Both create the virtual environment first if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ecgcwt-installed
CORES ?= all

.PHONY: demo test test-unit test-workflow test-slurm slurm-up slurm-down lint format bench docs env clean-results

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

env: $(STAMP)

# The demo works in its own folder, demo/ (data, results, logs), so it never mixes with a real run's results/.
# Its trainings are small (64-px images, batches of 8), too small to split over threads: on a 2-core
# Intel Xeon two ResNet-18 steps at once, one thread each, took 405 ms against 360 ms for one step on
# two threads (1.8x the work done). So the demo runs up to DEMO_TRAININGS trainings at once (default:
# the CPU count, at most 4; about 1.3 GB of memory each), one thread each. The leaky-split training and
# the Grad-CAM maps are as small: one thread each too, so they run beside a training instead of waiting
# for every core and then using the second one poorly. The greedy scheduler picks the next jobs
# without starting an ILP solver process at each of the demo's ~40 scheduling rounds.
DEMO_TRAININGS ?= $(shell $(PYTHON) -c 'import os; print(min(4, os.cpu_count() or 1))')
DEMO_JOBS = --set-threads train=1 train_cnn1d=1 train_wavelet=1 leak=1 explain=1 --scheduler greedy --resources gpu=$(DEMO_TRAININGS)
demo: $(STAMP)
	$(BIN)/snakemake --directory demo --configfile config/demo.yaml --cores $(CORES) $(DEMO_JOBS)
	@echo "Report: demo/results/report/report.html (main table: demo/results/report/ranking.csv; every metric: demo/results/report/summary.csv)"

test: $(STAMP)
	$(BIN)/python -m pytest tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-workflow: $(STAMP)
	$(BIN)/python -m pytest tests/workflow

# tests/slurm submit a tiny workflow to a real SLURM cluster; `make test` runs them
# too when one is up (else they are skipped with the reason)
test-slurm: $(STAMP)
	$(BIN)/python -m pytest tests/slurm

# a local one-node SLURM cluster (root, Debian: installs slurm with apt if missing)
slurm-up:
	bash .ci/slurm/slurm_up.sh

slurm-down:
	bash .ci/slurm/slurm_down.sh

PY_SOURCES := src tests benchmarks workflow/scripts

lint: $(STAMP)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/snakefmt Snakefile workflow/rules

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_cwt.py

# docs/configuration.md is written from the config schema (tests/unit/test_config_reference.py checks it)
docs: $(STAMP)
	$(BIN)/python -m ecgcwt.config.reference docs/configuration.md

clean-results:
	rm -rf results logs .snakemake
