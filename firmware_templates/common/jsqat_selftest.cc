// See jsqat_selftest.h.
#include "jsqat_selftest.h"

#include "jsqat_core.h"

namespace jsqat {

SelfTestResult RunSelfTest(const GoldenSet& golden, InferenceFn infer, void* context, uint8_t* output_buffer) {
  SelfTestResult result = {true, 0, 0, 0, 0};
  for (size_t i = 0; i < golden.count; ++i) {
    const uint8_t* input = golden.inputs + i * golden.input_bytes;
    const uint8_t* expected = golden.expected + i * golden.output_bytes;
    size_t mismatch = 0;
    const bool ran = infer(context, input, output_buffer);
    const bool same = ran && BytesEqual(output_buffer, expected, golden.output_bytes, &mismatch);
    result.output_crc = Crc32(output_buffer, golden.output_bytes, result.output_crc);
    if (!same) {
      if (result.passed) {
        result.first_case = i;
        result.first_byte = ran ? mismatch : 0;
      }
      result.passed = false;
      ++result.failures;
    }
  }
  return result;
}

}  // namespace jsqat
