/* Stand-in for ESP-IDF's esp_timer.h on the RV32 QEMU build: esp-tflite-micro's kernels time
 * themselves with esp_timer_get_time(); as ESP-IDF's header does, it brings in sdkconfig.h,
 * which is how esp_nn.h sees CONFIG_NN_OPTIMIZED there. */
#pragma once
#include <stdint.h>

#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

int64_t esp_timer_get_time(void);

#ifdef __cplusplus
}
#endif
