// What the application needs from the platform; one implementation per build system
// (jsqat_platform_*.cc in the generated project).
#ifndef JSQAT_PLATFORM_H_
#define JSQAT_PLATFORM_H_

#include <cstddef>
#include <cstdint>

namespace jsqat {

void PlatformInit();
// A line of text for the user (serial console, log).
void Log(const char* line);
// Raw bytes to the host link (the same serial port).
void Write(const uint8_t* data, size_t size);
// One byte from the host link, or -1 if none is available now.
int ReadByte();
// A monotonic microsecond clock for per-inference timing.
uint64_t Micros();

}  // namespace jsqat

#endif  // JSQAT_PLATFORM_H_
