# The README's two set-up commands. Each creates (or reuses) .venv, installs the CPU build of
# torch 2.13.0 first (a bare `torch` requirement would pull a multi-GB CUDA build), then the package.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The main job: a short training at N=16, then evaluation across N (see README).
run: $(STAMP)
	$(PY) -m scale_pl fit --config conf/quickstart.yaml

## The test suite (slow tests excluded; `make test PYTEST_ARGS="-m slow"` runs them), on two
## pytest-xdist workers (`make test XDIST=` runs it in one process; tests/conftest.py groups the tests).
XDIST ?= -n 2 --dist loadgroup
test: $(STAMP)
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/sim_throughput.py
	$(PY) benchmarks/policy_inference.py

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) mlflow.db mlruns .pytest_cache
