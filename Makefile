# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use and (re)install when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-heavy clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 resolves to the local CPU wheel (pip's find-links); installing it first keeps
# any later resolver step from choosing a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[all,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/prelnedge predict --task qa \
		--question "When was the lamp electrified?" \
		--context "The lamp was first fuelled by whale oil, then by kerosene, and was finally electrified in 1931."

test: $(STAMP)
	$(BIN)/python -m pytest -m "not heavy"

test-heavy: $(STAMP)
	$(BIN)/python -m pytest -m heavy

clean-venv:
	rm -rf $(VENV)
