# RoadGate: the two commands of the README, and the tools behind them.
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?= 60
STORE ?= roadgate-demo.sqlite3

.PHONY: demo test lint typecheck pytest proto clean

## Set up and run the simulated intersection on embedded defaults (DURATION=0 runs until Ctrl-C).
demo:
	@scripts/bootstrap.sh run
	$(BIN)/roadgate demo --duration $(DURATION) --store $(STORE)

## Set up and run the whole test suite: lint, types, tests.
test:
	@scripts/bootstrap.sh test
	$(MAKE) --no-print-directory lint typecheck pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest --durations=10

## Regenerate the protobuf code and stubs after editing protocols/schema/v1/roadgate.proto.
proto:
	$(BIN)/python -m protocols.schema.codegen
	$(BIN)/python -m protocols.schema.snapshot

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
