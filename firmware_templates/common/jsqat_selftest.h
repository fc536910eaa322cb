// jsqat-embed on-boot self-test: run every golden input, compare every output byte with
// what the desktop emulator computed (which equals TFLM's reference kernels). No TFLM
// headers: the inference is a callback, so the comparison logic is unit-tested on the host.
#ifndef JSQAT_SELFTEST_H_
#define JSQAT_SELFTEST_H_

#include <cstddef>
#include <cstdint>

namespace jsqat {

struct GoldenSet {
  size_t count;
  size_t input_bytes;
  size_t output_bytes;
  const uint8_t* inputs;    // count * input_bytes
  const uint8_t* expected;  // count * output_bytes
};

// Runs one inference: input_bytes in, output_bytes out. Returns false on failure.
using InferenceFn = bool (*)(void* context, const uint8_t* input, uint8_t* output);

struct SelfTestResult {
  bool passed;
  size_t failures;        // golden cases whose output differs (or whose inference failed)
  size_t first_case;      // first failing case, when !passed
  size_t first_byte;      // first differing byte in it
  uint32_t output_crc;    // CRC-32 of all outputs, in order: compare with the host's
};

// output_buffer must hold output_bytes.
SelfTestResult RunSelfTest(const GoldenSet& golden, InferenceFn infer, void* context, uint8_t* output_buffer);

}  // namespace jsqat

#endif  // JSQAT_SELFTEST_H_
