# Two entry points, each creating .venv and installing what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test demo bench lint clean

$(BIN)/activate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/activate

test: $(BIN)/activate
	$(BIN)/pytest -q

demo: $(BIN)/activate
	$(BIN)/python examples/quickstart.py

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(BIN)/activate
	$(BIN)/python bench/bench_store.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
