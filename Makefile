# The two commands of the README are `make demo` and `make test`; everything else is a step of them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export CARGO_TERM_COLOR ?= never

.PHONY: demo test setup build-dev build-release lint lint-rust lint-python test-rust test-python bench bench-smoke format

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

build-dev: setup
	$(VENV)/bin/maturin develop -q

build-release: setup
	$(VENV)/bin/maturin develop -q --release

## Sets everything up and runs the demo against the embedded fake agent.
demo: build-release
	$(PY) -m synapse_sdk.demo

## Sets everything up and runs every test and check.
test: build-dev lint test-rust test-python bench-smoke

lint: lint-rust lint-python

lint-rust:
	cargo fmt --all -- --check
	cargo clippy --all-targets -q -- -D warnings

lint-python: build-dev
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest synapse_sdk._core --allowlist stubtest-allowlist.txt

test-rust:
	cargo test -q

test-python: build-dev
	$(VENV)/bin/pytest -q

## Benchmarks are not tests: CI runs the harness once at a small N to prove it still works.
bench-smoke: build-dev
	$(PY) benches/tail_bench.py --lines 20000 --streams 50 --per-stream 200

bench: build-release
	$(PY) benches/tail_bench.py

format: setup
	cargo fmt --all
	$(VENV)/bin/ruff check --fix python tests benches
	$(VENV)/bin/ruff format python tests benches
