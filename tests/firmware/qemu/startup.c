/* Minimal Cortex-M startup for the QEMU test: vector table, copy .data, zero .bss,
 * enable the FPU, then newlib's _start (rdimon: semihosting I/O and exit). */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start__, __bss_end__, __stack_top;
extern void _start(void);

void reset_handler(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20); /* CPACR: full access to CP10/CP11 */
  _start();
  for (;;) {
  }
}

/* A fault ends the run at once: semihosting SYS_EXIT (0x18) with ADP_Stopped_RunTimeErrorUnknown
 * (0x20023), which QEMU turns into exit status 1, instead of a loop only a timeout ends. */
static void fault_handler(void) {
  register uint32_t operation __asm__("r0") = 0x18;
  register uint32_t reason __asm__("r1") = 0x20023;
  __asm__ volatile("bkpt 0xab" : : "r"(operation), "r"(reason) : "memory");
  for (;;) {
  }
}

__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top), reset_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler, fault_handler,
};
