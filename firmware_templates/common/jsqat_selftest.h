// jsqat-embed on-boot self-test: run every golden input, compare every output byte with
// what the desktop emulator computed (which equals TFLM's reference kernels). No TFLM
// headers: the inference is a callback, so the comparison logic is unit-tested on the host.
#ifndef JSQAT_SELFTEST_H_
#define JSQAT_SELFTEST_H_

#include <cstddef>
#include <cstdint>

namespace jsqat {

// One case is every input tensor's bytes back to back (the model's input order) and,
// likewise, every output tensor's bytes; the cases follow each other.
struct GoldenSet {
  size_t count;                // cases
  size_t input_count;          // input tensors
  const size_t* input_bytes;   // bytes of each input tensor
  size_t output_count;         // output tensors
  const size_t* output_bytes;  // bytes of each output tensor
  const uint8_t* inputs;       // count cases of inputs
  const uint8_t* expected;     // count cases of expected outputs
};

size_t CaseInputBytes(const GoldenSet& golden);
size_t CaseOutputBytes(const GoldenSet& golden);

// Runs one inference: one case's inputs in, its outputs out. Returns false on failure.
using InferenceFn = bool (*)(void* context, const uint8_t* inputs, uint8_t* outputs);

struct SelfTestResult {
  bool passed;
  size_t failures;      // golden cases whose output differs (or whose inference failed)
  size_t first_case;    // first failing case, when !passed
  size_t first_output;  // the output tensor in it that differs first
  size_t first_byte;    // first differing byte in that tensor
};

// output_buffer must hold one case's outputs. output_crcs (output_count entries) receives,
// per output tensor, the CRC-32 of that tensor's bytes over all cases in order: compare
// with the host's.
SelfTestResult RunSelfTest(const GoldenSet& golden, InferenceFn infer, void* context, uint8_t* output_buffer,
                           uint32_t* output_crcs);

}  // namespace jsqat

#endif  // JSQAT_SELFTEST_H_
