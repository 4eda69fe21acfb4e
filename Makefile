# Entry points of livedeck. Setup steps run only when their inputs changed; every other recipe is
# one call of the Python tool (scripts/livedeck).

PYTHON ?= python3
VENV := .venv
TOOL := $(VENV)/bin/python -m livedeck
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

DECKS ?=

.PHONY: bench figures handout pptx new-deck watch screenshots slides html experiments experiments-force test check-results setup system-packages clean

# `make -j2 slides` builds two decks at a time.
jobs = $(or $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),1)

slides: setup
	@$(TOOL) build --jobs $(jobs)

# Every chart as PNG (300 dpi) and SVG for handouts and papers, in build/figures/<deck>/.
figures: setup
	@$(TOOL) figures $(DECKS)

# PowerPoint copies of the decks for co-teachers, next to the HTML and PDF.
pptx: setup
	@$(TOOL) build --pptx --jobs $(jobs)

# The PDF with the speaker notes as annotations, for the lecturer's own copy.
handout: setup
	@$(TOOL) build --pdf-notes --jobs $(jobs)

# Live preview on http://127.0.0.1:8000/ (`make watch PORT=8080` for another port).
watch: setup
	@$(TOOL) watch $(if $(PORT),--port $(PORT))

# A new deck from the starter template: `make new-deck NAME=my-lecture`.
new-deck: $(VENV_STAMP)
	@test -n "$(NAME)" || { echo "error: give the deck a name: make new-deck NAME=my-lecture" >&2; exit 2; }
	@$(TOOL) new $(NAME)

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
