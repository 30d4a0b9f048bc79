# Two entry points, each creating .venv and installing what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test demo quickstart bench lint clean

# All three distributions, editable, in one environment: the core with its dev extras, the
# daemon (sessionwarden-daemon) and the console (sessionwarden-console) with its demo extra.
PARTS := -e ./daemon -e './console[demo]'

$(BIN)/activate: pyproject.toml daemon/pyproject.toml $(wildcard console/pyproject.toml)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' $(PARTS)
	touch $(BIN)/activate

test: $(BIN)/activate
	$(BIN)/pytest -q

# `make demo ARGS=--headless` passes options on (sessionwarden demo --help)
demo: $(BIN)/activate
	$(BIN)/sessionwarden demo $(ARGS)

# the API walk-through that `make demo` ran before the demo existed
quickstart: $(BIN)/activate
	$(BIN)/python examples/quickstart.py

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(BIN)/activate
	$(BIN)/python bench/bench_store.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
