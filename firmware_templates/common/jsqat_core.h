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
constexpr uint8_t kFrameVersion = 4;  // 4: sequence numbers; 3: frames travel as text lines; 2: tensor lists
constexpr size_t kModelHashBytes = 8;    // first 8 bytes of the model's SHA-256
constexpr size_t kFrameHeaderBytes = 20;  // magic 4, version 1, type 1, sequence 2, hash 8, length 4
constexpr size_t kFrameOverheadBytes = kFrameHeaderBytes + 4;  // + CRC-32 trailer

enum FrameType : uint8_t {
  kFrameInput = 1,   // host -> device: a tensor list of every model input
  kFrameOutput = 2,  // device -> host: uint32 microseconds, then a tensor list of every model output
  kFrameError = 3,   // device -> host: an ASCII message
};

// Tensor list (a frame's payload, after the microseconds of an output frame):
// uint16 count, uint16 reserved (0), count x uint32 byte size, then the tensors' bytes
// back to back in the model's input (or output) order.
constexpr size_t kTensorListHeaderBytes = 4;
constexpr size_t TensorListBytes(size_t count, size_t data_bytes) {
  return kTensorListHeaderBytes + 4 * count + data_bytes;
}

enum TensorListStatus {
  kTensorListOk = 0,
  kTensorListTruncated,  // shorter than its own table says, or longer
  kTensorListBadCount,   // not the number of tensors expected
  kTensorListBadSize,    // a tensor of the wrong byte size (see *bad_index)
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
  uint16_t sequence;       // the host's number for a request; an answer echoes it
  uint8_t model_hash[kModelHashBytes];
  const uint8_t* payload;  // points into the decoded buffer
  uint32_t payload_size;
  size_t frame_size;       // bytes the whole frame took
};

// Writes a frame into out (capacity bytes); returns its size, or 0 if it does not fit. An
// answer carries its request's sequence number; an error about a line that held no
// readable frame carries 0.
size_t EncodeFrame(uint8_t type, uint16_t sequence, const uint8_t model_hash[kModelHashBytes], const uint8_t* payload,
                   uint32_t payload_size, uint8_t* out, size_t capacity);

// Parses a frame at the start of buffer. max_payload bounds what is accepted.
FrameStatus DecodeFrame(const uint8_t* buffer, size_t size, uint32_t max_payload, Frame* frame);

// Writes a tensor list of count tensors whose sizes are sizes[] and whose bytes lie back to
// back in data; returns its size, or 0 if it does not fit in capacity.
size_t EncodeTensorList(size_t count, const size_t* sizes, const uint8_t* data, uint8_t* out, size_t capacity);

// Checks that payload is a tensor list of exactly count tensors of sizes[]; on success
// *data points at the first tensor's bytes (the others follow it, in order). On
// kTensorListBadSize *bad_index is the tensor and *bad_size its size in the list.
TensorListStatus CheckTensorList(const uint8_t* payload, size_t size, size_t count, const size_t* sizes,
                                 const uint8_t** data, size_t* bad_index, size_t* bad_size);

// Byte-for-byte comparison; on a mismatch *first_mismatch is its index.
bool BytesEqual(const uint8_t* got, const uint8_t* expected, size_t size, size_t* first_mismatch);

// Frame lines: on the wire every frame is one line of text, "JSQ:" + the frame in base64
// (RFC 4648, padded) + "\n", so consoles that translate line endings, strip the 8th bit or
// print their own log lines between frames cannot corrupt it (docs/protocol.md). A line
// may end with CR, LF or both; lines without the prefix are someone's log and skipped.
constexpr char kFrameLinePrefix[] = "JSQ:";
constexpr size_t kFrameLinePrefixBytes = 4;
constexpr size_t Base64Bytes(size_t size) { return (size + 2) / 3 * 4; }

// Writes frame[0, size) as one frame line through write(), in chunks of at most 66 bytes.
void WriteFrameLine(const uint8_t* frame, size_t size, void (*write)(const uint8_t* data, size_t size));

enum LineStatus {
  kLineBusy = 0,   // nothing to do yet
  kLineFrame,      // a frame line ended: its decoded bytes are buffer[0, size())
  kLineBadText,    // a frame line ended that is not valid base64
  kLineTooLong,    // a frame line longer than the buffer (reported once; its rest is skipped)
};

// Receives frame lines byte by byte into a caller's buffer, decoding base64 as it goes
// (no line buffer: the text is never stored).
class FrameLineReader {
 public:
  FrameLineReader(uint8_t* buffer, size_t capacity) : buffer_(buffer), capacity_(capacity) {}
  LineStatus Push(uint8_t byte);
  size_t size() const { return size_; }

 private:
  enum State { kLineStart, kPrefix, kData, kSkip };
  uint8_t* buffer_;
  size_t capacity_;
  size_t size_ = 0;
  State state_ = kLineStart;
  size_t matched_ = 0;   // prefix bytes matched
  uint32_t quad_ = 0;    // sextets of the current base64 group
  size_t quad_used_ = 0;
  size_t padding_ = 0;   // '=' seen in the current group
  bool bad_ = false;
};

void WriteU32(uint8_t* out, uint32_t value);  // little endian
uint32_t ReadU32(const uint8_t* in);
void WriteU16(uint8_t* out, uint16_t value);
uint16_t ReadU16(const uint8_t* in);

}  // namespace jsqat

#endif  // JSQAT_CORE_H_
