// Host unit tests of the firmware's own C++ (no TFLM): CRC-32 vectors, frame and tensor-list
// round trips and errors, and the self-test against the generated golden vectors (every
// input and output tensor): an "inference" that returns the expected bytes PASSes with the
// expected per-output CRCs, one that corrupts a single byte of any output FAILs and names it.
// Built and run by tests/firmware/test_project.py and test_qemu.py with the generated golden_data.cc.
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
long corrupt_case = -1;  // the case whose output to corrupt, -1 for none
size_t corrupt_output = 0;
size_t corrupt_byte = 0;

bool Oracle(void*, const uint8_t*, uint8_t* outputs) {
  std::memcpy(outputs, jsqat::kGoldenOutputs + current_case * jsqat::kOutputCaseBytes, jsqat::kOutputCaseBytes);
  if (corrupt_case >= 0 && static_cast<size_t>(corrupt_case) == current_case) {
    size_t offset = 0;
    for (size_t j = 0; j < corrupt_output; ++j) offset += jsqat::kOutputBytes[j];
    outputs[offset + corrupt_byte] ^= 0x01;
  }
  ++current_case;
  return true;
}

const jsqat::GoldenSet kGolden = {jsqat::kGoldenCount, jsqat::kInputCount, jsqat::kInputBytes, jsqat::kOutputCount,
                                  jsqat::kOutputBytes, jsqat::kGoldenInputs, jsqat::kGoldenOutputs};
uint8_t output[jsqat::kOutputCaseBytes];
uint32_t crcs[jsqat::kOutputCount];

void CheckCorruption(size_t output_index, size_t byte, const char* what) {
  current_case = 0;
  corrupt_case = static_cast<long>(jsqat::kGoldenCount) - 1;
  corrupt_output = output_index;
  corrupt_byte = byte;
  const jsqat::SelfTestResult fail = jsqat::RunSelfTest(kGolden, Oracle, nullptr, output, crcs);
  Check(!fail.passed && fail.failures == 1, what);
  Check(fail.first_case == jsqat::kGoldenCount - 1 && fail.first_output == output_index && fail.first_byte == byte,
        "FAIL names the corrupted case, output and byte");
  for (size_t j = 0; j < jsqat::kOutputCount; ++j) {
    Check((crcs[j] == jsqat::kExpectedOutputCrc[j]) == (j != output_index), "only the corrupted output's CRC changes");
  }
}

}  // namespace

int main() {
  // CRC-32 check values of the IEEE polynomial (same as zlib.crc32).
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  Check(jsqat::Crc32(digits, sizeof(digits)) == 0xCBF43926u, "crc32('123456789')");
  Check(jsqat::Crc32(nullptr, 0) == 0u, "crc32 of nothing");
  Check(jsqat::Crc32(digits + 4, 5, jsqat::Crc32(digits, 4)) == 0xCBF43926u, "running crc32");
  // The per-output CRCs in golden_data.h are those of each output's bytes over all cases.
  size_t offset = 0;
  for (size_t j = 0; j < jsqat::kOutputCount; ++j) {
    uint32_t crc = 0;
    for (size_t i = 0; i < jsqat::kGoldenCount; ++i) {
      crc = jsqat::Crc32(jsqat::kGoldenOutputs + i * jsqat::kOutputCaseBytes + offset, jsqat::kOutputBytes[j], crc);
    }
    Check(crc == jsqat::kExpectedOutputCrc[j], "golden outputs match their per-output CRC");
    offset += jsqat::kOutputBytes[j];
  }
  Check(offset == jsqat::kOutputCaseBytes, "output sizes add up to a case");

  // Frames: round trip, truncation, corruption, oversize, bad magic.
  uint8_t payload[37];
  for (size_t i = 0; i < sizeof(payload); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  uint8_t buffer[128];
  const size_t size = jsqat::EncodeFrame(jsqat::kFrameInput, 0xBEEF, jsqat::kModelHash, payload, sizeof(payload),
                                         buffer, sizeof(buffer));
  Check(size == jsqat::kFrameOverheadBytes + sizeof(payload), "frame size");
  Check(buffer[4] == 4 && jsqat::kFrameVersion == 4, "protocol version 4");
  Check(buffer[6] == 0xEF && buffer[7] == 0xBE, "sequence number little endian at offset 6");
  jsqat::Frame frame;
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameOk, "decode ok");
  Check(frame.payload_size == sizeof(payload) && std::memcmp(frame.payload, payload, sizeof(payload)) == 0,
        "payload round trip");
  Check(std::memcmp(frame.model_hash, jsqat::kModelHash, 8) == 0 && frame.type == jsqat::kFrameInput &&
            frame.sequence == 0xBEEF,
        "header round trip");
  Check(jsqat::DecodeFrame(buffer, size - 1, 64, &frame) == jsqat::kFrameNeedMore, "truncated frame");
  Check(jsqat::DecodeFrame(buffer, 3, 64, &frame) == jsqat::kFrameNeedMore, "partial magic");
  Check(jsqat::DecodeFrame(buffer, size, 16, &frame) == jsqat::kFrameTooLarge, "oversize payload");
  buffer[30] ^= 0x40;
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameBadCrc, "corrupted payload");
  buffer[30] ^= 0x40;
  buffer[4] = 3;
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameBadVersion, "version 3 refused");
  buffer[4] = 1;
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameBadVersion, "version 1 refused");
  buffer[0] = 'X';
  Check(jsqat::DecodeFrame(buffer, size, 64, &frame) == jsqat::kFrameBadMagic, "bad magic");
  Check(jsqat::EncodeFrame(jsqat::kFrameInput, 1, jsqat::kModelHash, payload, sizeof(payload), buffer, 40) == 0,
        "encode refuses a small buffer");

  // Frame lines: base64 as RFC 4648 spells it (its test vector "foobar"), read back byte by
  // byte through CR LF, log lines and 7-bit-safe text; bad text and overlong lines refused.
  {
    static uint8_t text[256];
    static size_t text_used = 0;
    text_used = 0;
    auto collect = [](const uint8_t* data, size_t n) {
      for (size_t i = 0; i < n && text_used < sizeof(text); ++i) text[text_used++] = data[i];
    };
    const uint8_t foobar[] = {'f', 'o', 'o', 'b', 'a', 'r', 'f'};
    jsqat::WriteFrameLine(foobar, 7, collect);
    Check(text_used == 4 + 12 + 1 && std::memcmp(text, "JSQ:Zm9vYmFyZg==\n", text_used) == 0, "frame line text");
    uint8_t decoded[16];
    jsqat::FrameLineReader reader(decoded, sizeof(decoded));
    const char* stream = "boot log JSQ:AAAA\r\nJSQ:Zm9vYmFyZg==\r\n";
    jsqat::LineStatus last = jsqat::kLineBusy;
    int frames = 0;
    for (const char* c = stream; *c; ++c) {
      last = reader.Push(static_cast<uint8_t>(*c));
      if (last == jsqat::kLineFrame) ++frames;
    }
    Check(frames == 1 && reader.size() == 7 && std::memcmp(decoded, foobar, 7) == 0, "frame line read back");
    const char* bad = "JSQ:Zm9v*mFy\n";
    for (const char* c = bad; *c; ++c) last = reader.Push(static_cast<uint8_t>(*c));
    Check(last == jsqat::kLineBadText, "a frame line with a foreign character is refused");
    const char* odd = "JSQ:Zm9vY\n";
    for (const char* c = odd; *c; ++c) last = reader.Push(static_cast<uint8_t>(*c));
    Check(last == jsqat::kLineBadText, "a frame line cut inside a base64 group is refused");
    jsqat::FrameLineReader small(decoded, 3);
    int too_long = 0;
    for (const char* c = "JSQ:Zm9vYmFy\nJSQ:Zm9v\n"; *c; ++c) {
      last = small.Push(static_cast<uint8_t>(*c));
      too_long += last == jsqat::kLineTooLong;
      if (last == jsqat::kLineFrame) frames = 100 + static_cast<int>(small.size());
    }
    Check(too_long == 1 && frames == 103 && std::memcmp(decoded, "foo", 3) == 0, "an overlong line is refused once");
  }

  // Tensor lists: round trip of three tensors, and each way one can be wrong.
  const size_t sizes[3] = {5, 0, 3};
  const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t list[64];
  const size_t list_size = jsqat::EncodeTensorList(3, sizes, data, list, sizeof(list));
  Check(list_size == jsqat::TensorListBytes(3, 8) && list_size == 4 + 12 + 8, "tensor list size");
  Check(list[0] == 3 && list[1] == 0 && list[4] == 5 && list[8] == 0 && list[12] == 3, "tensor list table");
  const uint8_t* body = nullptr;
  size_t bad_index = 99, bad_size = 99;
  Check(jsqat::CheckTensorList(list, list_size, 3, sizes, &body, &bad_index, &bad_size) == jsqat::kTensorListOk &&
            body == list + 16 && std::memcmp(body, data, 8) == 0,
        "tensor list round trip");
  Check(jsqat::CheckTensorList(list, list_size, 2, sizes, &body, &bad_index, &bad_size) == jsqat::kTensorListBadCount,
        "tensor count checked");
  const size_t other_sizes[3] = {5, 1, 2};
  Check(jsqat::CheckTensorList(list, list_size, 3, other_sizes, &body, &bad_index, &bad_size) ==
                jsqat::kTensorListBadSize &&
            bad_index == 1 && bad_size == 0,
        "tensor size checked and named");
  Check(jsqat::CheckTensorList(list, list_size - 1, 3, sizes, &body, &bad_index, &bad_size) ==
            jsqat::kTensorListTruncated,
        "truncated tensor list");
  Check(jsqat::CheckTensorList(list, 2, 3, sizes, &body, &bad_index, &bad_size) == jsqat::kTensorListTruncated,
        "tensor list without a header");
  Check(jsqat::EncodeTensorList(3, sizes, data, list, list_size - 1) == 0, "tensor list refuses a small buffer");

  // Self-test over the real golden vectors.
  current_case = 0;
  corrupt_case = -1;
  const jsqat::SelfTestResult pass = jsqat::RunSelfTest(kGolden, Oracle, nullptr, output, crcs);
  Check(pass.passed && pass.failures == 0, "self-test passes on the expected outputs");
  for (size_t j = 0; j < jsqat::kOutputCount; ++j) {
    Check(crcs[j] == jsqat::kExpectedOutputCrc[j], "self-test CRC equals the expected CRC, per output");
  }
  CheckCorruption(jsqat::kOutputCount - 1, jsqat::kOutputBytes[jsqat::kOutputCount - 1] - 1,
                  "one corrupted byte of the last output gives FAIL");
  CheckCorruption(0, 0, "one corrupted byte of the first output gives FAIL");

  std::printf("%s: %d failure(s), %u inputs, %u outputs, %u cases\n", failures ? "FAIL" : "PASS", failures,
              static_cast<unsigned>(jsqat::kInputCount), static_cast<unsigned>(jsqat::kOutputCount),
              static_cast<unsigned>(jsqat::kGoldenCount));
  return failures ? 1 : 0;
}
