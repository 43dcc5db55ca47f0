# The two commands of README.md, plus their helpers.
# Build output lives outside the checkout so fresh clones (and CI) reuse it.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/duckstore/target

.PHONY: run test lint torture setup bench

## Start duckstore on ./data with REST on 127.0.0.1:8080 (release build).
run: setup
	cargo run --release -p duckstore -- serve

## Run the whole test suite: unit tests and end-to-end tests against the real binary.
test: setup
	cargo build -p duckstore-engine-native-example
	cargo nextest run --workspace --no-fail-fast
	cargo test --locked --manifest-path plugin-sdk/guest/Cargo.toml --features import-format --lib

## Lints, as CI runs them: formatting and clippy with warnings as errors.
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## The crash harness at length: many more kills than `make test` runs (seeded; see docs/reliability.md).
torture: setup
	DUCKSTORE_TORTURE_KILLS=$${DUCKSTORE_TORTURE_KILLS:-400} cargo nextest run -p duckstore --no-capture \
		--no-fail-fast -E 'test(/^crash::/)'

## Benchmarks (release build; print tables comparing against raw DuckDB / PostgreSQL).
bench: setup
	@python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install -q 'duckdb==1.5.5'
	python3 bench/data_io.py
	python3 bench/branches.py
	python3 bench/plugins.py
	python3 bench/pgwire.py
	python3 bench/keboola.py
	python3 bench/rest.py

setup:
	@./scripts/setup
