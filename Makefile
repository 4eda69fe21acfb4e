# Entry points of livedeck. Setup steps run only when their inputs changed; every other recipe is
# one call of the Python tool (scripts/livedeck).

PYTHON ?= python3
VENV := .venv
TOOL := $(VENV)/bin/python -m livedeck
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

DECKS ?=

.PHONY: bench screenshots slides html experiments experiments-force test check-results setup system-packages clean

slides: setup
	@$(TOOL) build

html: setup
	@$(TOOL) build --no-pdf

experiments: $(VENV_STAMP)
	@$(TOOL) experiments

experiments-force: $(VENV_STAMP)
	@$(TOOL) experiments --force

# Speed and size figures (medians of several runs): `make bench`, or `make bench ONLY=build,startup`.
bench: setup
	@$(TOOL) bench $(if $(ONLY),--only $(ONLY)) $(if $(REPEATS),--repeats $(REPEATS))

check-results: $(VENV_STAMP)
	@$(TOOL) check-results

# Accept the current rendering of each slide as its baseline: `make screenshots` or `make screenshots DECKS=name`.
screenshots: setup
	@$(TOOL) build --no-experiments $(DECKS)
	@$(TOOL) screenshots --update $(DECKS)

test: setup
	@$(VENV)/bin/python -m pytest

setup: $(VENV_STAMP) $(NODE_STAMP) system-packages

$(VENV_STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 18 or newer (sudo apt-get install nodejs npm)" >&2; exit 1; }
	PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@touch $@

system-packages:
	@scripts/ensure-system-packages.sh

clean:
	rm -rf build
