# News discourse analysis: `make report` runs every notebook on the seeds, `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PARAMS ?= notebooks/params/seeds.yaml
STAMP := $(VENV)/.installed
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install report corpus topics actors sentiment summary test test-unit test-integration \
        test-notebooks record-nbval lab kernel bench bench-gpu distill lint lock clean verify browser screenshot train-targeted \
        suggest

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_ -]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip==25.3"
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

install: $(STAMP) ## create .venv (Python 3.11) and install the pinned dependencies

report: $(STAMP) ## run every notebook on the corpus of PARAMS (default: the seeds) into outputs/<run>/
	$(PY) -m analysis run --params $(PARAMS)

corpus topics actors sentiment summary: $(STAMP) ## run the pipeline up to this stage (unchanged stages are reused)
	$(PY) -m analysis run --params $(PARAMS) --until $@

RUN ?= outputs/seeds
OUT ?= my_actors.yaml
suggest: $(STAMP) ## propose actors from a run's NER candidates: make suggest RUN=outputs/<run> OUT=my_actors.yaml [FORCE=1]
	$(PY) -m analysis actors suggest $(RUN) --out $(OUT) $(if $(FORCE),--force)

verify: $(STAMP) ## check the default run against its manifest: notebooks finished, file hashes, upstream stages, table links
	$(PY) -m analysis verify outputs/$$($(PY) -c "from analysis.params import load_params; print(load_params('$(PARAMS)').run_name)")

test: $(STAMP) ## everything: lint, unit and integration tests, doctests, then nbval over every notebook (network blocked)
	@$(MAKE) --no-print-directory browser || echo "note: no chromium; the headless-browser tests (report, JupyterLab) will be skipped"
	$(VENV)/bin/ruff check analysis tests bench tools notebooks
	$(PY) -m pytest tests -q   # unit and integration in one session: the seeds run is made once
	$(PY) -m pytest --doctest-modules analysis -q   # the examples in the package's docstrings
	$(MAKE) --no-print-directory test-notebooks

test-unit: $(STAMP) ## tests on tiny inline data, no model loaded, no process forked (under 2 minutes on 2 cores), and the doctests
	$(PY) -m pytest tests/unit -q
	$(PY) -m pytest --doctest-modules analysis -q

test-integration: $(STAMP) ## the seeds corpus end to end: models, notebooks, the CLI (PYTEST_ARGS='-m "not slow"' for the quick ones)
	$(PY) -m pytest tests/integration -q $(PYTEST_ARGS)

test-notebooks: $(STAMP) ## run the committed notebooks with nbval, comparing NBVAL_CHECK_OUTPUT cells with tools/nbval_expected.json
	tmp=$$(mktemp -d) && ANALYSIS_OUTPUTS_DIR=$$tmp/outputs $(PY) -m pytest -p no:cacheprovider -p tools.nbval_plugin \
	  --nbval-lax --nbval-kernel-startup-timeout 300 --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
	  notebooks/*.ipynb -q; rc=$$?; rm -rf $$tmp; exit $$rc

record-nbval: $(STAMP) ## record the NBVAL_CHECK_OUTPUT cells' outputs from the seeds run (after make report); review the diff
	$(PY) -m tools.nbval_record

browser: ## install Debian's chromium for the headless browser tests (report, JupyterLab; needs root and apt)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q chromium >/dev/null; }

screenshot: ## render outputs/<run>/report.html in headless chromium to report.png beside it
	@run=outputs/$$($(PY) -c "from analysis.params import load_params; print(load_params('$(PARAMS)').run_name)"); \
	  chromium --headless --no-sandbox --disable-gpu --window-size=1280,6000 --screenshot=$$run/report.png \
	  file://$(CURDIR)/$$run/report.html 2>/dev/null && echo "wrote $$run/report.png"

lab: $(STAMP) kernel ## open JupyterLab on notebooks/ with the project's kernel
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

kernel: ## register .venv's Python as the Jupyter kernel "news-analysis" (make lab; the Lab browser test runs it too)
	$(PY) -m ipykernel install --sys-prefix --name news-analysis --display-name "Python (news-analysis)"

bench: $(STAMP) ## benchmark every stage at 1k and 10k documents (not part of the tests)
	$(PY) -m bench.run

bench-gpu: $(STAMP) ## the GPU path's targets (encoding, targeted model, whole pipeline) on a CUDA machine
	$(PY) -m bench.gpu

train-targeted: $(STAMP) ## retrain the shipped targeted sentiment model from ../shared/data/newsmtsc (~12 min)
	$(PY) -m analysis.train_targeted

distill: $(STAMP) ## build the fast model2vec embedding model from the installed MiniLM (offline)
	$(PY) -m analysis distill

lint: $(STAMP) ## ruff over the package, tests, tools and the notebooks (their .py and .ipynb)
	$(VENV)/bin/ruff check analysis tests bench tools notebooks

.PHONY: docs
docs: $(STAMP) ## regenerate docs/tables.md from the table declarations in analysis/schema.py
	$(PY) -m analysis.schema --markdown > docs/tables.md

lock: ## rewrite requirements.lock from the current .venv
	$(PY) -m pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu/torch==2.13.0/' \
	  | grep -v news-discourse > requirements.lock.new && mv requirements.lock.new requirements.lock

clean: ## remove outputs (keeps .venv and the caches)
	rm -rf outputs/*/ outputs/.[!.]*
