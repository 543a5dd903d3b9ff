# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use and (re)install when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-heavy clean-venv web-deps client-venvs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 resolves to the local CPU wheel (pip's find-links); installing it first keeps
# any later resolver step from choosing a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[all,dev]"
	touch $(STAMP)

# The main job on the embedded default model. The demo owns its output folder, so a rerun
# replaces it; `prelnedge export` itself never overwrites without --force.
DEMO_OUT := prelnedge-out/default-qa-tflite-tf

demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(BIN)/prelnedge export --task qa --target tflite
	$(BIN)/prelnedge predict $(DEMO_OUT) --question "When was the lamp electrified?" \
		--context "The lamp was first fuelled by whale oil, then by kerosene, and was finally electrified in 1931."

# The browser tests need Debian's Chromium (never a downloaded browser) and the web runtime's npm
# packages (onnxruntime-web, playwright-core), installed exactly from package-lock.json.
CHROMIUM := /usr/bin/chromium
WEB_STAMP := runtimes/web/node_modules/.installed

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(WEB_STAMP): runtimes/web/package-lock.json
	npm ci --prefix runtimes/web --no-audit --no-fund
	touch $(WEB_STAMP)

# transformers.js, for the tests that load our bundles with it (tests/test_transformersjs.py).
# --ignore-scripts: onnxruntime-node's post-install downloads from outside the npm registry; the CPU
# binding the tests need ships in the package itself.
TJS := runtimes/web/test/transformersjs
TJS_STAMP := $(TJS)/node_modules/.installed

$(TJS_STAMP): $(TJS)/package-lock.json
	npm ci --prefix $(TJS) --ignore-scripts --no-audit --no-fund
	touch $(TJS_STAMP)

web-deps: $(CHROMIUM) $(WEB_STAMP) $(TJS_STAMP)

# Clients the tests drive in a subprocess, each in its own venv under .venvs/: fairseq 0.12.2
# (Python 3.8, torch 1.13.1) writes real fairseq checkpoints; hf4 (transformers 4.57) holds optimum-onnx,
# which loads our ONNX folders, and HF's TF classes, which write real tf_model.h5 files. See the script
# for why each pin. A failed set-up leaves a log and those tests skip.
.venvs/%/.installed: scripts/make_client_venv.sh
	bash scripts/make_client_venv.sh $* .venvs/$* $(PYTHON)

client-venvs: .venvs/fairseq/.installed .venvs/hf4/.installed

test: $(STAMP) web-deps client-venvs
	$(BIN)/python -m pytest -m "not heavy"

test-heavy: $(STAMP) web-deps
	$(BIN)/python -m pytest -m heavy

clean-venv:
	rm -rf $(VENV)
