# dossierkit — two entry points from a fresh clone:
#   make demo   set up and run the whole flow on the bundled sample dossier
#   make test   set up (Python venv + Debian interop tools) and run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test venv deps bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed

deps:
	./scripts/install-debian-deps.sh

demo: venv
	$(BIN)/dossierkit demo demo-output

test: deps venv
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/run.py --smoke

clean:
	rm -rf $(VENV) demo-output .pytest_cache
