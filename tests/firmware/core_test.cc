// Host unit tests of the firmware's own C++ (no TFLM): CRC-32 vectors, frame round trips
// and errors, and the self-test against the generated golden vectors: an "inference" that
// returns the expected bytes PASSes, one that corrupts a single byte FAILs.
// Built and run by tests/firmware/test_project.py with the generated golden_data.cc.
#include <cstdio>
#include <cstring>

#include "golden_data.h"
#include "jsqat_core.h"
#include "jsqat_selftest.h"

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

size_t current_case = 0;
long corrupt_at = -1;  // byte index in the outputs to flip, -1 for none

bool Oracle(void*, const uint8_t*, uint8_t* output) {
  std::memcpy(output, jsqat::kGoldenOutputs + current_case * jsqat::kOutputBytes, jsqat::kOutputBytes);
  if (corrupt_at >= 0 && static_cast<size_t>(corrupt_at) / jsqat::kOutputBytes == current_case) {
    output[corrupt_at % jsqat::kOutputBytes] ^= 0x01;
  }
  ++current_case;
  return true;
}

}  // namespace

int main() {
  // CRC-32 check values of the IEEE polynomial (same as zlib.crc32).
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  Check(jsqat::Crc32(digits, sizeof(digits)) == 0xCBF43926u, "crc32('123456789')");
  Check(jsqat::Crc32(nullptr, 0) == 0u, "crc32 of nothing");
  Check(jsqat::Crc32(digits + 4, 5, jsqat::Crc32(digits, 4)) == 0xCBF43926u, "running crc32");
  Check(jsqat::Crc32(jsqat::kGoldenOutputs, jsqat::kGoldenCount * jsqat::kOutputBytes) == jsqat::kExpectedOutputCrc,
        "golden outputs match their CRC");

  // Frames: round trip, truncation, corruption, oversize, bad magic.
  uint8_t payload[37];
  for (size_t i = 0; i < sizeof(payload); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  uint8_t buffer[128];
  const size_t size = jsqat::EncodeFrame(jsqat::kFrameInput, jsqat::kModelHash, payload, sizeof(payload), buffer,
                                         sizeof(buffer));
  Check(size == jsqat::kFrameOverheadBytes + sizeof(payload), "frame size");
  jsqat::Frame frame;
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameOk, "decode ok");
  Check(frame.payload_size == sizeof(payload) && std::memcmp(frame.payload, payload, sizeof(payload)) == 0,
        "payload round trip");
  Check(std::memcmp(frame.model_hash, jsqat::kModelHash, 8) == 0 && frame.type == jsqat::kFrameInput, "header round trip");
  Check(jsqat::DecodeFrame(buffer, size - 1, 64, &frame) == jsqat::kFrameNeedMore, "truncated frame");
  Check(jsqat::DecodeFrame(buffer, 3, 64, &frame) == jsqat::kFrameNeedMore, "partial magic");
  Check(jsqat::DecodeFrame(buffer, size, 16, &frame) == jsqat::kFrameTooLarge, "oversize payload");
  buffer[30] ^= 0x40;
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameBadCrc, "corrupted payload");
  buffer[30] ^= 0x40;
  buffer[4] = 9;
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameBadVersion, "bad version");
  buffer[0] = 'X';
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameBadMagic, "bad magic");
  Check(jsqat::EncodeFrame(jsqat::kFrameInput, jsqat::kModelHash, payload, sizeof(payload), buffer, 40) == 0,
        "encode refuses a small buffer");

  // Self-test over the real golden vectors.
  static uint8_t output[jsqat::kOutputBytes];
  const jsqat::GoldenSet golden = {jsqat::kGoldenCount, jsqat::kInputBytes, jsqat::kOutputBytes, jsqat::kGoldenInputs,
                                   jsqat::kGoldenOutputs};
  current_case = 0;
  corrupt_at = -1;
  jsqat::SelfTestResult pass = jsqat::RunSelfTest(golden, Oracle, nullptr, output);
  Check(pass.passed && pass.failures == 0, "self-test passes on the expected outputs");
  Check(pass.output_crc == jsqat::kExpectedOutputCrc, "self-test CRC equals the expected CRC");

  const long flipped = static_cast<long>(jsqat::kGoldenCount * jsqat::kOutputBytes) - 1;
  current_case = 0;
  corrupt_at = flipped;
  jsqat::SelfTestResult fail = jsqat::RunSelfTest(golden, Oracle, nullptr, output);
  Check(!fail.passed && fail.failures == 1, "one corrupted byte gives FAIL");
  Check(fail.first_case == jsqat::kGoldenCount - 1 && fail.first_byte == jsqat::kOutputBytes - 1,
        "FAIL names the corrupted case and byte");
  Check(fail.output_crc != jsqat::kExpectedOutputCrc, "corruption changes the CRC");

  std::printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
