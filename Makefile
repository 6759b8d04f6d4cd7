# Sajja — every entry point a developer or CI needs. `make run` and `make test` install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint schemas schemas-check bench bench-national install clean fonts chromium demo faults

# Reports and exports are set in a Thai font: Debian's fonts-thai-tlwg (Laksaman is TLWG's TH Sarabun).
THAI_FONT := /usr/share/fonts/truetype/tlwg/Laksaman.ttf
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(STAMP) fonts chromium

fonts:
	@test -f $(THAI_FONT) || { \
	  command -v apt-get >/dev/null || { echo "Install Debian's fonts-thai-tlwg (a Thai font for reports): $(THAI_FONT) is missing"; exit 1; }; \
	  echo "Installing Debian's fonts-thai-tlwg (a Thai font for reports) …"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fonts-thai-tlwg >/dev/null; }

# The dashboard's end-to-end tests drive Debian's Chromium through Playwright (no bundled browser download).
CHROMIUM := /usr/bin/chromium

chromium:
	@test -x $(CHROMIUM) || { \
	  command -v apt-get >/dev/null || { echo "Install Debian's chromium (the dashboard's browser tests): $(CHROMIUM) is missing"; exit 1; }; \
	  echo "Installing Debian's chromium (the dashboard's browser tests) …"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP) fonts
	$(BIN)/sajja run

test: $(STAMP) fonts chromium
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP) fonts chromium
	$(BIN)/python -m pytest -q -ra -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check libs services deploy tests bench sajja_cli
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/sajja schemas

schemas-check: $(STAMP)
	$(BIN)/sajja schemas --check

bench: $(STAMP)
	$(BIN)/python -m bench

# The national benchmark (README, "Benchmarks"): SCALE 1.0 is the nation; 0.1 takes about half an hour here.
SCALE ?= 0.1
NATIONAL_ARGS ?=

bench-national: $(STAMP)
	$(BIN)/sajja bench national --scale $(SCALE) $(NATIONAL_ARGS)

# A synthetic province (Sa Kaeo) loaded through the public APIs of the platform `make run` serves.
demo: $(STAMP)
	$(BIN)/sajja demo

# The seeded fault campaign: trials of concurrent commands against `sajja run` while the runner and the database
# are SIGKILLed, the broker restarted empty or paused and records delivered again; an auditor checks every
# command in the ledger, the books, reporting and the campaign's counters. FAULTS_ARGS passes more options
# (e.g. "--parallel 2 --commands 40 --window 5 --verbose"; see python -m tests.faults.campaign --help).
SEED ?= 1
TRIALS ?= 5
FAULTS_ARGS ?=

faults: $(STAMP)
	$(BIN)/python -m tests.faults.campaign --seed $(SEED) --trials $(TRIALS) $(FAULTS_ARGS)

clean:
	rm -rf .sajja build *.egg-info
