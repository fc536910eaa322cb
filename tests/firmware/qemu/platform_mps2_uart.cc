// Platform hooks for the generated cmake project on QEMU's mps2-an386 (Cortex-M4): the log
// and the frame protocol on UART0 (CMSDK APB UART, 0x40004000; QEMU's first -serial), the
// clock from TIMER0 (CMSDK APB timer, 0x40000000, 25 MHz). These strong definitions replace
// the weak semihosting/DWT defaults of jsqat_platform_cortex_m.cc, as a board port would:
// tests/firmware/test_qemu.py links them with the generated sources and runs serial-verify
// against the emulated board's UART on a pseudo-terminal.
#include <cstddef>
#include <cstdint>

#include "jsqat_platform.h"

namespace {

struct CmsdkUart {
  volatile uint32_t data;
  volatile uint32_t state;  // bit 0: TX buffer full, bit 1: RX buffer full
  volatile uint32_t ctrl;   // bit 0: TX enable, bit 1: RX enable
  volatile uint32_t intstatus;
  volatile uint32_t bauddiv;
};

struct CmsdkTimer {
  volatile uint32_t ctrl;  // bit 0: enable
  volatile uint32_t value;
  volatile uint32_t reload;
  volatile uint32_t intstatus;
};

CmsdkUart* const kUart = reinterpret_cast<CmsdkUart*>(0x40004000u);
CmsdkTimer* const kTimer = reinterpret_cast<CmsdkTimer*>(0x40000000u);
constexpr uint32_t kPeripheralHz = 25000000u;
uint64_t elapsed_ticks = 0;
uint32_t last_value = 0;

void PutByte(uint8_t byte) {
  while (kUart->state & 1u) {
  }
  kUart->data = byte;
}

}  // namespace

namespace jsqat {

void PlatformInit() {
  kUart->bauddiv = kPeripheralHz / 115200u;
  kUart->ctrl = 3u;
  kTimer->reload = 0xFFFFFFFFu;
  kTimer->value = 0xFFFFFFFFu;
  kTimer->ctrl = 1u;
  last_value = kTimer->value;
}

void Log(const char* line) {
  while (*line) PutByte(static_cast<uint8_t>(*line++));
  PutByte('\r');
  PutByte('\n');
}

void Write(const uint8_t* data, size_t size) {
  for (size_t i = 0; i < size; ++i) PutByte(data[i]);
}

int ReadByte() {
  if (!(kUart->state & 2u)) return -1;
  return static_cast<int>(kUart->data & 0xFFu);
}

uint64_t Micros() {
  const uint32_t value = kTimer->value;  // counts down, wraps at 0
  elapsed_ticks += last_value - value;
  last_value = value;
  return elapsed_ticks / (kPeripheralHz / 1000000u);
}

}  // namespace jsqat
