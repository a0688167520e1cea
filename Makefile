# The two commands of the README are `make demo` and `make test`; everything else is a step of them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export CARGO_TERM_COLOR ?= never

.PHONY: fuzz fuzz-smoke fuzz-setup demo test setup build-dev build-release lint lint-rust lint-python test-rust test-python test-compat test-wheel docs bench bench-smoke bench-setup format
.PHONY: autobahn autobahn-ci autobahn-setup

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

## Sets everything up and bulk-tails 1,000 jobs of 1,000 lines from the embedded fake agent
## (`synapse-agent-rs bench`: live progress on stderr, then the summary table).
DEMO_ARGS ?= --jobs 1000 --lines 1000
demo: build-release
	$(VENV)/bin/synapse-agent-rs bench $(DEMO_ARGS)

## Sets everything up and runs every test and check.
test: build-dev lint test-rust test-python test-compat test-wheel docs bench-smoke fuzz-smoke autobahn-ci

lint: lint-rust lint-python

lint-rust:
	cargo fmt --all -- --check
	cargo clippy --all-targets -q -- -D warnings

lint-python: build-dev
	$(VENV)/bin/ruff check python tests benches examples
	$(VENV)/bin/ruff format --check python tests benches examples
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest synapse_agent_rs._core --allowlist stubtest-allowlist.txt

test-rust:
	cargo test -q

## Next to the real synapse-sdk (from PyPI, with its dependencies, in CPython 3.12 venvs):
## both install orders, upgrade and reinstall of each, install(), and the parity check.
test-compat: build-dev
	$(PY) tests/compat/coexist.py

test-python: build-dev
	$(VENV)/bin/pytest -q

## The documentation site (mkdocs-material, API reference from the docstrings), warnings as errors.
docs: build-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet -d site

## Packaging: wheel and sdist built, the wheel installed in a fresh venv without Rust on PATH,
## its metadata and files checked, the demo run from it (.ci/wheel-test.sh).
test-wheel: setup
	bash .ci/wheel-test.sh

## Benchmarks are not tests: CI runs the harness once at a small N to prove it still works
## (`bench-smoke`, dev build, a few seconds); `bench` is the full run that writes BENCHMARKS.md.
OLD_VENV := benches/.venv-old
OLD_CLIENT := synapse-sdk==2026.2.17
SMOKE := --lines 20000 --runs 1 --memory-mib 8 --streams 50 --per-stream 200

## The peers go into the project's venv, one at a time if the whole list fails (no wheel here:
## the table says so); the older client gets its own venv, since its package name is ours.
$(VENV)/.bench-installed: benches/requirements.txt $(VENV)/.installed
	$(PY) -m pip install -q -r benches/requirements.txt || \
	  grep -Ev '^(#|$$)' benches/requirements.txt | while read -r req; do \
	    $(PY) -m pip install -q "$$req" || echo "bench-setup: $$req could not be installed"; done
	touch $@

## The older client declares Python >= 3.12 but runs on 3.10+: its wheel is fetched for 3.12 and
## installed as is, with the few dependencies its log tailing needs.
$(OLD_VENV)/.installed: benches/requirements-old.txt
	rm -rf $(OLD_VENV) && python3 -m venv $(OLD_VENV)
	if $(OLD_VENV)/bin/pip download -q --no-deps --python-version 3.12 --only-binary=:all: \
	     -d $(OLD_VENV)/wheels '$(OLD_CLIENT)' && \
	   $(OLD_VENV)/bin/pip install -q -r benches/requirements-old.txt && \
	   $(OLD_VENV)/bin/pip install -q --no-deps --ignore-requires-python $(OLD_VENV)/wheels/*.whl; then touch $@; \
	else echo "bench-setup: $(OLD_CLIENT) could not be installed; its rows will say so"; fi

bench-setup: $(VENV)/.bench-installed $(OLD_VENV)/.installed

bench-smoke: build-dev bench-setup
	cargo build -q --example rust_consumer
	$(PY) benches/tail_bench.py --lines 20000 --streams 50 --per-stream 200
	$(PY) benches/harness.py $(SMOKE) --rust-consumer target/debug/examples/rust_consumer \
	  --json benches/results/smoke.json
	$(PY) benches/many_bench.py --streams 1,20 --total 2000 --ray-actors ''
	$(PY) benches/resume_bench.py --lines 20000 --repeat 1 --drop-lines 20000 --jobs 20 --many-lines 100

## The pure-Rust consumer as it was before our WebSocket frame reader, for the row that measures
## the reader's speed-up in the same run (built once from that commit's tree).
BASELINE := c5c09da
target/baseline/rust_consumer:
	rm -rf target/baseline-src && mkdir -p target/baseline-src target/baseline
	git archive $(BASELINE) | tar -x -C target/baseline-src
	cargo build -q --release --example rust_consumer --manifest-path target/baseline-src/Cargo.toml --target-dir target
	cp target/release/examples/rust_consumer $@

bench: build-release bench-setup target/baseline/rust_consumer
	cargo build -q --release --example rust_consumer
	$(PY) benches/harness.py --markdown BENCHMARKS.md --command 'make bench'
	$(PY) benches/many_bench.py --markdown BENCHMARKS.md

format: setup
	cargo fmt --all
	$(VENV)/bin/ruff check --fix python tests benches examples
	$(VENV)/bin/ruff format python tests benches examples

## Fuzzing (cargo-fuzz, libFuzzer) of the sans-IO modules: line splitter, event decoder, limit
## accounting, scrubber. CI runs each target FUZZ_SECONDS (30) from the committed seeds in
## fuzz/seeds; `make fuzz FUZZ_SECONDS=600` is the long run. cargo-fuzz needs nightly flags:
## RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
FUZZ_TARGETS := lines events limits scrub ws_frames
FUZZ_SECONDS ?= 30
fuzz: export RUSTC_BOOTSTRAP := 1

fuzz-setup:
	command -v cargo-fuzz >/dev/null || cargo install -q --locked cargo-fuzz

fuzz: fuzz-setup
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t && \
	  cargo fuzz run $$t fuzz/corpus/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    2>&1 | grep -E '^(Done|stat::number_of_executed_units)|ERROR|panicked|SUMMARY|Test unit written' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

fuzz-smoke: fuzz

## The Autobahn|Testsuite fuzzing server (Python 2.7 code) against our echo client
## (examples/autobahn_client.rs): `make autobahn` runs every case, CI cases 1-7.
AB_VENV := tests/autobahn/.venv-py27
PY27 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/2.7.*/bin/python) $(shell command -v python2.7))

$(AB_VENV)/.installed: tests/autobahn/requirements-py27.txt $(VENV)/.installed
	test -n "$(PY27)" || { echo "autobahn: no Python 2.7 interpreter (set PY27=...)"; exit 1; }
	$(VENV)/bin/pip install -q 'virtualenv==20.21.1'
	rm -rf $(AB_VENV) && $(VENV)/bin/virtualenv -q -p $(PY27) $(AB_VENV)
	$(AB_VENV)/bin/pip install -q --no-python-version-warning -r tests/autobahn/requirements-py27.txt
	touch $@

autobahn-setup: $(AB_VENV)/.installed

autobahn: autobahn-setup
	cargo build -q --release --example autobahn_client
	$(PY) tests/autobahn/run.py $(AB_VENV)/bin/wstest target/release/examples/autobahn_client

autobahn-ci: autobahn-setup
	cargo build -q --example autobahn_client
	$(PY) tests/autobahn/run.py $(AB_VENV)/bin/wstest target/debug/examples/autobahn_client --cases 1,2,3,4,5,6,7

