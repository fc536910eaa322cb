# The two commands of the README:
#   make demo  - set up, then inspect the bundled model, verify it against TFLM, fit-check it on every
#                board and build its ESP-IDF firmware project for the ESP32-S3 (demo_out/esp32s3)
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

# Cross compiler and Cortex-M emulator for the C tests; tests skip with a visible reason
# where these cannot be installed.
toolchains:
	@if ! command -v arm-none-eabi-g++ >/dev/null 2>&1 || ! command -v qemu-system-arm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm >/dev/null) \
	      || echo "note: could not install gcc-arm-none-eabi/qemu-system-arm; Cortex-M tests will be skipped"; \
	  else echo "note: arm-none-eabi-g++ or qemu-system-arm missing and apt-get unavailable; Cortex-M tests will be skipped"; fi; \
	fi

test: setup toolchains
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -q -m "not slow"

DEMO_MODEL := models/demo_mobilenetv2_a035_96.tflite

# fit-check exits 1 when the model does not fit some board: an answer, not a failure.
demo: setup
	$(BIN)/jsqat-embed inspect $(DEMO_MODEL)
	$(BIN)/jsqat-embed verify $(DEMO_MODEL) --random 8
	$(BIN)/jsqat-embed fit-check $(DEMO_MODEL) --all; test $$? -le 1
	$(BIN)/jsqat-embed build $(DEMO_MODEL) --board esp32s3 -o demo_out/esp32s3 --force

bench: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/emulator.py
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/fit_check.py
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/compression.py

clean:
	rm -rf $(VENV) .cache build dist *.egg-info
