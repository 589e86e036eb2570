# Two set-up commands work on a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := js/node_modules/.installed

.PHONY: setup demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

$(NPM_STAMP): js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP) $(NPM_STAMP) llama

demo: setup
	$(BIN)/phala-agent demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test: setup lint typecheck
	PHALA_STRICT_PREREQS=1 $(BIN)/pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python bench/run_all.py

# The dev model server: llama.cpp's llama-server (CPU) + SmolLM2-135M weights in .cache/llama/.
# Built once (~4 min on 2 cores); the script is a no-op when both are present.
.PHONY: llama
llama: $(STAMP)
	scripts/build_llama_server.sh

clean:
	rm -rf $(VENV) js/node_modules .mypy_cache .ruff_cache .pytest_cache
