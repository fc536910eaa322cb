// See jsqat_selftest.h.
#include "jsqat_selftest.h"

#include "jsqat_core.h"

namespace jsqat {

size_t CaseInputBytes(const GoldenSet& golden) {
  size_t total = 0;
  for (size_t i = 0; i < golden.input_count; ++i) total += golden.input_bytes[i];
  return total;
}

size_t CaseOutputBytes(const GoldenSet& golden) {
  size_t total = 0;
  for (size_t i = 0; i < golden.output_count; ++i) total += golden.output_bytes[i];
  return total;
}

SelfTestResult RunSelfTest(const GoldenSet& golden, InferenceFn infer, void* context, uint8_t* output_buffer,
                           uint32_t* output_crcs) {
  SelfTestResult result = {true, 0, 0, 0, 0};
  const size_t input_case = CaseInputBytes(golden);
  const size_t output_case = CaseOutputBytes(golden);
  for (size_t j = 0; j < golden.output_count; ++j) output_crcs[j] = 0;
  for (size_t i = 0; i < golden.count; ++i) {
    const bool ran = infer(context, golden.inputs + i * input_case, output_buffer);
    bool same = ran;
    size_t differing_output = 0;
    size_t differing_byte = 0;
    size_t offset = 0;
    for (size_t j = 0; j < golden.output_count; ++j) {
      const uint8_t* got = output_buffer + offset;
      size_t mismatch = 0;
      if (same && !BytesEqual(got, golden.expected + i * output_case + offset, golden.output_bytes[j], &mismatch)) {
        same = false;
        differing_output = j;
        differing_byte = mismatch;
      }
      output_crcs[j] = Crc32(got, golden.output_bytes[j], output_crcs[j]);
      offset += golden.output_bytes[j];
    }
    if (!same) {
      if (result.passed) {
        result.first_case = i;
        result.first_output = differing_output;
        result.first_byte = differing_byte;
      }
      result.passed = false;
      ++result.failures;
    }
  }
  return result;
}

}  // namespace jsqat
