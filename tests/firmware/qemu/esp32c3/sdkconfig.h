/* The ESP-IDF configuration esp-tflite-micro and esp-nn see on an ESP32-C3, for the RV32
 * build of tests/tflm_targets.py: esp-nn's optimized (generic C) kernels, and no
 * CONFIG_NN_SKIP_NUDGE (its non-bit-exact requantization), as jsqat-embed's generated
 * sdkconfig.defaults pins it. In ESP-IDF this file is generated from Kconfig. */
#pragma once
#define CONFIG_IDF_TARGET "esp32c3"
#define CONFIG_IDF_TARGET_ESP32C3 1
#define CONFIG_IDF_TARGET_ARCH "riscv"
#define CONFIG_IDF_TARGET_ARCH_RISCV 1
#define CONFIG_NN_OPTIMIZED 1
#define CONFIG_NN_OPTIMIZATIONS 1
