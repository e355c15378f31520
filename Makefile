# The two commands of the README:
#   make demo   - set up (first time) and run the main job on the embedded dataset
#   make test   - set up (first time) and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow lint bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# torch is pinned to the CPU build (a bare `torch` pulls a multi-GB CUDA build)
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,judge]'
	touch $(VENV)/.core $@

demo: $(VENV)/.core
	$(BIN)/deepprune demo

test: $(VENV)/.dev
	$(BIN)/pytest

# slow tests: the real llama.cpp server (built from the llama-cpp-python sdist and cached under
# $$DEEPPRUNE_CACHE or ~/.cache/deepprune on first use, ~11 min on 2 cores), the zero-shot judge
# against it, the real tokenizer, longer live-vs-replay runs
test-slow: $(VENV)/.dev
	$(BIN)/pytest -m slow -rs

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.core
	$(BIN)/python benchmarks/bench_replay.py

clean-venv:
	rm -rf $(VENV)
