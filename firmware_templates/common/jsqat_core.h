// jsqat-embed firmware core: CRC-32, the serial frame format and the golden-output
// comparison. Plain C++17, no TFLM headers, no allocation: compiled and unit-tested on
// the host (tests/firmware) and for Cortex-M. The wire format is specified in
// docs/protocol.md; jsqat_embed/firmware/protocol.py is the host side.
#ifndef JSQAT_CORE_H_
#define JSQAT_CORE_H_

#include <cstddef>
#include <cstdint>

namespace jsqat {

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib.crc32: pass the
// previous value to continue a running CRC, 0 to start.
uint32_t Crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

constexpr uint8_t kFrameMagic[4] = {'J', 'S', 'Q', 'F'};
constexpr uint8_t kFrameVersion = 1;
constexpr size_t kModelHashBytes = 8;    // first 8 bytes of the model's SHA-256
constexpr size_t kFrameHeaderBytes = 20;  // magic 4, version 1, type 1, reserved 2, hash 8, length 4
constexpr size_t kFrameOverheadBytes = kFrameHeaderBytes + 4;  // + CRC-32 trailer

enum FrameType : uint8_t {
  kFrameInput = 1,   // host -> device: one input tensor's bytes
  kFrameOutput = 2,  // device -> host: uint32 microseconds, then the output tensor's bytes
  kFrameError = 3,   // device -> host: an ASCII message
};

enum FrameStatus {
  kFrameOk = 0,
  kFrameNeedMore,     // not a whole frame yet
  kFrameBadMagic,
  kFrameBadVersion,
  kFrameTooLarge,     // declared payload larger than the receiver accepts
  kFrameBadCrc,
};

struct Frame {
  uint8_t type;
  uint8_t model_hash[kModelHashBytes];
  const uint8_t* payload;  // points into the decoded buffer
  uint32_t payload_size;
  size_t frame_size;       // bytes the whole frame took
};

// Writes a frame into out (capacity bytes); returns its size, or 0 if it does not fit.
size_t EncodeFrame(uint8_t type, const uint8_t model_hash[kModelHashBytes], const uint8_t* payload,
                   uint32_t payload_size, uint8_t* out, size_t capacity);

// Parses a frame at the start of buffer. max_payload bounds what is accepted.
FrameStatus DecodeFrame(const uint8_t* buffer, size_t size, uint32_t max_payload, Frame* frame);

// Byte-for-byte comparison; on a mismatch *first_mismatch is its index.
bool BytesEqual(const uint8_t* got, const uint8_t* expected, size_t size, size_t* first_mismatch);

void WriteU32(uint8_t* out, uint32_t value);  // little endian
uint32_t ReadU32(const uint8_t* in);

}  // namespace jsqat

#endif  // JSQAT_CORE_H_
