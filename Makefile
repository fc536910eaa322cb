# The two commands of the README:
#   make demo  - install the core + verify + plot extras (no TensorFlow), then on the bundled real
#                histology model (models/README.md) and real H&E tiles (samples/): inspect it, verify
#                it against TFLM on the tiles, fit-check it on every board, compress it and build its
#                ESP-IDF firmware project for the ESP32-S3 (everything lands in demo_out/)
#   make test  - set up, then run the whole test suite
PYTHON ?= python3
# Pinned sources of TFLM, CMSIS-NN, esp-nn and esp-tflite-micro for the QEMU tests
# (tests/tflm_targets.py); a clone without them skips those tests with the reason.
THIRD_PARTY ?= ../shared/third_party
# Which models the per-model QEMU matrix runs: "ci" (the corpus, the whole CNNs and a third of the op
# grid: keeps CI within its time) or "all" (make test QEMU_MODELS=all; results in docs/estimator.md).
QEMU_MODELS ?= ci
# pytest-xdist workers for make test: one per core (CI has 2); TEST_JOBS=0 runs in one process.
TEST_JOBS ?= auto
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

# Cross compilers (Cortex-M, RV32), QEMU for both and cmake, for the C and QEMU tests; tests
# skip with a visible reason where these cannot be installed.
TOOLCHAIN_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm \
	gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc cmake
TOOLCHAIN_COMMANDS := arm-none-eabi-g++ qemu-system-arm riscv64-unknown-elf-g++ qemu-system-riscv32 cmake
toolchains:
	@missing=""; for tool in $(TOOLCHAIN_COMMANDS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	[ -d /usr/include/newlib/c++ ] || missing="$$missing newlib-c++-headers"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TOOLCHAIN_PACKAGES) >/dev/null) \
	      || echo "note: could not install$$missing; the tests needing them will be skipped"; \
	  else echo "note:$$missing missing and apt-get unavailable; the tests needing them will be skipped"; fi; \
	fi

# The QEMU tests build TFLM with each kernel library once into .cache/tflm (keyed by sources and
# flags) and reuse it; THIRD_PARTY=/elsewhere points them at another copy of the pinned sources.
test: setup toolchains
	@if [ -d "$(THIRD_PARTY)/tflite-micro" ]; then echo "QEMU tests: pinned sources in $(THIRD_PARTY)"; \
	else echo "QEMU tests will be skipped: no pinned sources in $(THIRD_PARTY) (set THIRD_PARTY=...)"; fi
	JSQAT_QEMU_MODELS="$(QEMU_MODELS)" JSQAT_THIRD_PARTY="$(abspath $(THIRD_PARTY))" TF_USE_LEGACY_KERAS=1 \
	  $(BIN)/python -m pytest -q -p no:cacheprovider -rs -n $(TEST_JOBS) --dist loadgroup --durations=30

test-fast: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -q -m "not slow"

DEMO_MODEL := models/capricorn_densenet121_int8.tflite
DEMO_STAMP := $(VENV)/.demo-installed
DEMO_OUT := demo_out
DEMO_COMPRESSED := $(DEMO_OUT)/capricorn_densenet121_decode.tflite

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
	@awk '/^ *# +op/{exit} {print}' $(DEMO_OUT)/inspect.txt
	@echo "  ... per-layer table: $(DEMO_OUT)/inspect.txt"; sed -n '/^total:/,$$p' $(DEMO_OUT)/inspect.txt
	$(BIN)/jsqat-embed verify $(DEMO_MODEL) --images samples --preprocess unit
	$(BIN)/jsqat-embed fit-check $(DEMO_MODEL) --all --plot $(DEMO_OUT)/fit-check.png; test $$? -le 1
	$(BIN)/jsqat-embed compress $(DEMO_MODEL) -o $(DEMO_COMPRESSED) --force > $(DEMO_OUT)/compress.txt
	@echo "  per-tensor table: $(DEMO_OUT)/compress.txt"; sed -n '\|^$(DEMO_COMPRESSED): |,$$p' $(DEMO_OUT)/compress.txt
	$(BIN)/jsqat-embed build $(DEMO_MODEL) --board esp32s3-devkitc-n16r8 --golden-images samples \
	  -o $(DEMO_OUT)/esp32s3 --force

bench: setup
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/emulator.py
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/fit_check.py
	TF_USE_LEGACY_KERAS=1 $(BIN)/python bench/compression.py

clean:
	rm -rf $(VENV) .cache build dist *.egg-info
