# The two commands of the README:
#   make demo  - install the core + verify + plot extras (no TensorFlow), then on the bundled real
#                histology model (models/README.md) and real H&E tiles (samples/): inspect it, verify
#                it against TFLM on the tiles, fit-check it on every board, compress it and build its
#                ESP-IDF firmware project for the ESP32-S3 (everything lands in demo_out/)
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

DEMO_MODEL := models/capricorn_densenet121_int8.tflite
DEMO_STAMP := $(VENV)/.demo-installed
DEMO_OUT := demo_out

# The demo needs no TensorFlow: core + the reference interpreters + matplotlib. pip shows its progress.
$(DEMO_STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[verify,plot]"
	touch $(DEMO_STAMP)

# fit-check exits 1 when the model does not fit some board: an answer, not a failure. The long
# per-layer and per-tensor tables of inspect and compress go to files; their summaries are shown.
demo: $(DEMO_STAMP)
	mkdir -p $(DEMO_OUT)
	$(BIN)/jsqat-embed inspect $(DEMO_MODEL) --plot $(DEMO_OUT)/arena.png > $(DEMO_OUT)/inspect.txt
	@head -n 4 $(DEMO_OUT)/inspect.txt; echo "  ... per-layer table: $(DEMO_OUT)/inspect.txt"; tail -n 3 $(DEMO_OUT)/inspect.txt
	$(BIN)/jsqat-embed verify $(DEMO_MODEL) --images samples --preprocess unit
	$(BIN)/jsqat-embed fit-check $(DEMO_MODEL) --all --plot $(DEMO_OUT)/fit-check.png; test $$? -le 1
	$(BIN)/jsqat-embed compress $(DEMO_MODEL) -o $(DEMO_OUT)/capricorn_densenet121_decode.tflite --force \
	  > $(DEMO_OUT)/compress.txt
	@echo "  per-tensor table: $(DEMO_OUT)/compress.txt"; tail -n 4 $(DEMO_OUT)/compress.txt
	$(BIN)/jsqat-embed build $(DEMO_MODEL) --board esp32s3-devkitc-n16r8 --golden-images samples \
	  -o $(DEMO_OUT)/esp32s3 --force

bench: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/emulator.py
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/fit_check.py
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/compression.py

clean:
	rm -rf $(VENV) .cache build dist *.egg-info
