// See jsqat_core.h.
#include "jsqat_core.h"

namespace jsqat {

uint32_t Crc32(const uint8_t* data, size_t size, uint32_t crc) {
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) {
      const uint32_t mask = 0u - (crc & 1u);
      crc = (crc >> 1) ^ (0xEDB88320u & mask);
    }
  }
  return ~crc;
}

void WriteU32(uint8_t* out, uint32_t value) {
  out[0] = static_cast<uint8_t>(value);
  out[1] = static_cast<uint8_t>(value >> 8);
  out[2] = static_cast<uint8_t>(value >> 16);
  out[3] = static_cast<uint8_t>(value >> 24);
}

uint32_t ReadU32(const uint8_t* in) {
  return static_cast<uint32_t>(in[0]) | (static_cast<uint32_t>(in[1]) << 8) |
         (static_cast<uint32_t>(in[2]) << 16) | (static_cast<uint32_t>(in[3]) << 24);
}

void WriteU16(uint8_t* out, uint16_t value) {
  out[0] = static_cast<uint8_t>(value);
  out[1] = static_cast<uint8_t>(value >> 8);
}

uint16_t ReadU16(const uint8_t* in) { return static_cast<uint16_t>(in[0] | (in[1] << 8)); }

size_t EncodeFrame(uint8_t type, uint16_t sequence, const uint8_t model_hash[kModelHashBytes], const uint8_t* payload,
                   uint32_t payload_size, uint8_t* out, size_t capacity) {
  const size_t total = kFrameOverheadBytes + static_cast<size_t>(payload_size);
  if (capacity < total) return 0;
  for (size_t i = 0; i < 4; ++i) out[i] = kFrameMagic[i];
  out[4] = kFrameVersion;
  out[5] = type;
  WriteU16(out + 6, sequence);
  for (size_t i = 0; i < kModelHashBytes; ++i) out[8 + i] = model_hash[i];
  WriteU32(out + 16, payload_size);
  for (uint32_t i = 0; i < payload_size; ++i) out[kFrameHeaderBytes + i] = payload[i];
  WriteU32(out + kFrameHeaderBytes + payload_size, Crc32(out, kFrameHeaderBytes + payload_size));
  return total;
}

FrameStatus DecodeFrame(const uint8_t* buffer, size_t size, uint32_t max_payload, Frame* frame) {
  const size_t magic_bytes = size < 4 ? size : 4;
  for (size_t i = 0; i < magic_bytes; ++i) {
    if (buffer[i] != kFrameMagic[i]) return kFrameBadMagic;
  }
  if (size < kFrameHeaderBytes) return kFrameNeedMore;
  if (buffer[4] != kFrameVersion) return kFrameBadVersion;
  const uint32_t payload_size = ReadU32(buffer + 16);
  if (payload_size > max_payload) return kFrameTooLarge;
  const size_t total = kFrameOverheadBytes + static_cast<size_t>(payload_size);
  if (size < total) return kFrameNeedMore;
  const uint32_t expected = ReadU32(buffer + kFrameHeaderBytes + payload_size);
  if (Crc32(buffer, kFrameHeaderBytes + payload_size) != expected) return kFrameBadCrc;
  frame->type = buffer[5];
  frame->sequence = ReadU16(buffer + 6);
  for (size_t i = 0; i < kModelHashBytes; ++i) frame->model_hash[i] = buffer[8 + i];
  frame->payload = buffer + kFrameHeaderBytes;
  frame->payload_size = payload_size;
  frame->frame_size = total;
  return kFrameOk;
}

size_t EncodeTensorList(size_t count, const size_t* sizes, const uint8_t* data, uint8_t* out, size_t capacity) {
  if (count > 0xFFFF) return 0;
  size_t data_bytes = 0;
  for (size_t i = 0; i < count; ++i) data_bytes += sizes[i];
  const size_t total = TensorListBytes(count, data_bytes);
  if (capacity < total) return 0;
  WriteU16(out, static_cast<uint16_t>(count));
  WriteU16(out + 2, 0);
  for (size_t i = 0; i < count; ++i) WriteU32(out + kTensorListHeaderBytes + 4 * i, static_cast<uint32_t>(sizes[i]));
  uint8_t* body = out + TensorListBytes(count, 0);
  for (size_t i = 0; i < data_bytes; ++i) body[i] = data[i];
  return total;
}

TensorListStatus CheckTensorList(const uint8_t* payload, size_t size, size_t count, const size_t* sizes,
                                 const uint8_t** data, size_t* bad_index, size_t* bad_size) {
  if (size < kTensorListHeaderBytes) return kTensorListTruncated;
  const size_t listed = ReadU16(payload);
  if (listed != count) return kTensorListBadCount;
  if (size < TensorListBytes(count, 0)) return kTensorListTruncated;
  size_t data_bytes = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t tensor_bytes = ReadU32(payload + kTensorListHeaderBytes + 4 * i);
    if (tensor_bytes != sizes[i]) {
      if (bad_index != nullptr) *bad_index = i;
      if (bad_size != nullptr) *bad_size = tensor_bytes;
      return kTensorListBadSize;
    }
    data_bytes += tensor_bytes;
  }
  if (size != TensorListBytes(count, data_bytes)) return kTensorListTruncated;
  *data = payload + TensorListBytes(count, 0);
  return kTensorListOk;
}

namespace {

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

void WriteFrameLine(const uint8_t* frame, size_t size, void (*write)(const uint8_t* data, size_t size)) {
  uint8_t text[66];  // 16 base64 groups, and room for the final newline
  write(reinterpret_cast<const uint8_t*>(kFrameLinePrefix), kFrameLinePrefixBytes);
  size_t used = 0;
  for (size_t i = 0; i < size; i += 3) {
    const size_t left = size - i;
    const uint32_t group = (static_cast<uint32_t>(frame[i]) << 16) |
                           (left > 1 ? static_cast<uint32_t>(frame[i + 1]) << 8 : 0u) |
                           (left > 2 ? static_cast<uint32_t>(frame[i + 2]) : 0u);
    text[used++] = static_cast<uint8_t>(kBase64Alphabet[(group >> 18) & 63u]);
    text[used++] = static_cast<uint8_t>(kBase64Alphabet[(group >> 12) & 63u]);
    text[used++] = static_cast<uint8_t>(left > 1 ? kBase64Alphabet[(group >> 6) & 63u] : '=');
    text[used++] = static_cast<uint8_t>(left > 2 ? kBase64Alphabet[group & 63u] : '=');
    if (used == 64) {
      write(text, used);
      used = 0;
    }
  }
  text[used++] = '\n';
  write(text, used);
}

LineStatus FrameLineReader::Push(uint8_t byte) {
  const bool end_of_line = byte == '\n' || byte == '\r';
  switch (state_) {
    case kLineStart:
    case kPrefix:
      if (end_of_line) {
        state_ = kLineStart;
        matched_ = 0;
      } else if (byte == static_cast<uint8_t>(kFrameLinePrefix[matched_])) {
        state_ = kPrefix;
        if (++matched_ == kFrameLinePrefixBytes) {
          state_ = kData;
          size_ = quad_used_ = padding_ = 0;
          quad_ = 0;
          bad_ = false;
        }
      } else {
        state_ = kSkip;
      }
      return kLineBusy;
    case kSkip:
      if (end_of_line) {
        state_ = kLineStart;
        matched_ = 0;
      }
      return kLineBusy;
    case kData:
      break;
  }
  if (end_of_line) {
    state_ = kLineStart;
    matched_ = 0;
    return (bad_ || quad_used_ != 0) ? kLineBadText : kLineFrame;
  }
  const int value = Base64Value(byte);
  if (byte == '=' && quad_used_ >= 2) {
    ++padding_;
  } else if (value < 0 || padding_ > 0) {
    bad_ = true;  // keep reading to the end of the line, then say so
    return kLineBusy;
  }
  quad_ = (quad_ << 6) | static_cast<uint32_t>(value < 0 ? 0 : value);
  if (++quad_used_ < 4) return kLineBusy;
  const size_t bytes = 3 - padding_;
  quad_used_ = 0;
  if (size_ + bytes > capacity_) {
    state_ = kSkip;
    return kLineTooLong;
  }
  buffer_[size_++] = static_cast<uint8_t>(quad_ >> 16);
  if (bytes > 1) buffer_[size_++] = static_cast<uint8_t>(quad_ >> 8);
  if (bytes > 2) buffer_[size_++] = static_cast<uint8_t>(quad_);
  quad_ = 0;
  return kLineBusy;
}

bool BytesEqual(const uint8_t* got, const uint8_t* expected, size_t size, size_t* first_mismatch) {
  for (size_t i = 0; i < size; ++i) {
    if (got[i] != expected[i]) {
      if (first_mismatch != nullptr) *first_mismatch = i;
      return false;
    }
  }
  return true;
}

}  // namespace jsqat
