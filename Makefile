# One command each: `make demo` runs the whole workflow offline, `make test`
# runs the test suite. Both create the virtual environment first if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ecgcwt-installed
CORES ?= all

.PHONY: demo test test-unit test-workflow test-slurm slurm-up slurm-down lint format bench env clean-results

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

env: $(STAMP)

# The demo works in its own folder, demo/ (data, results, logs), so it never mixes with a real run's results/.
demo: $(STAMP)
	$(BIN)/snakemake --directory demo --configfile config/demo.yaml --cores $(CORES)
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

format: $(STAMP)
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/snakefmt Snakefile workflow/rules

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_cwt.py

clean-results:
	rm -rf results logs .snakemake
