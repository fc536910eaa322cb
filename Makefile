# The two commands of the README:
#   make demo  - set up, then build a model, inspect it, verify it and render firmware
#   make test  - set up, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup toolchains test test-fast demo bench clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Cross compilers for the C tests; tests skip with a visible reason where these cannot be installed.
toolchains:
	@if ! command -v arm-none-eabi-g++ >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-arm-none-eabi libnewlib-arm-none-eabi >/dev/null) \
	      || echo "note: could not install gcc-arm-none-eabi; Cortex-M compile tests will be skipped"; \
	  else echo "note: arm-none-eabi-g++ missing and apt-get unavailable; Cortex-M compile tests will be skipped"; fi; \
	fi

test: setup toolchains
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -q -m "not slow"

demo: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m jsqat_embed.demo

bench: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/emulator.py

clean:
	rm -rf $(VENV) .cache build dist *.egg-info
