// Runs one model through TFLM built for a target (tests/tflm_targets.py: Cortex-M4 or RV32,
// reference kernels, CMSIS-NN or esp-nn) under QEMU with semihosting, for
// tests/memory/test_arena_qemu.py:
//   reads model.tflite and input.bin (samples one after another; per sample every input
//   tensor's bytes, in order) from the working directory; reports what
//   RecordingMicroAllocator records and the arena the plain MicroInterpreter uses; invokes
//   once per sample (after Reset(): each sample from the initial state) and writes every
//   output tensor's bytes, sample after sample, to output.bin.
// With arena.txt (a byte count) the arena is that large and only the plain interpreter runs:
// the tests find the smallest arena that works. The bytes after it are a canary: TFLM does
// not check every write against the arena's end, so touching them counts as not working.
// The resolver registers every op of jsqat-embed's op table (tflm_check_ops.h, generated).
// The figures are printed here rather than by TFLM (MicroPrintf), which builds made with
// TF_LITE_STRIP_ERROR_STRINGS (the generated CMake project) compile out.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <malloc.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/recording_micro_interpreter.h"
#include "tflm_check_ops.h"

namespace {

constexpr size_t kArenaBytes = 6u << 20;

uint8_t* ReadFile(const char* path, size_t* size) {
  FILE* file = std::fopen(path, "rb");
  if (file == nullptr) return nullptr;
  std::fseek(file, 0, SEEK_END);
  *size = static_cast<size_t>(std::ftell(file));
  std::fseek(file, 0, SEEK_SET);
  // 16-aligned: flatbuffers and TFLM expect an aligned model buffer.
  uint8_t* data = static_cast<uint8_t*>(memalign(16, (*size + 15) & ~size_t{15}));
  if (data != nullptr && *size > 0 && std::fread(data, 1, *size, file) != *size) data = nullptr;
  std::fclose(file);
  return data;
}

void PrintRecord(const tflite::RecordingMicroAllocator& allocator, tflite::RecordedAllocationType type,
                 const char* name, const char* unit) {
  const tflite::RecordedAllocation record = allocator.GetRecordedAllocation(type);
  std::printf("[RecordingMicroAllocator] '%s' used %u bytes with alignment overhead (requested %u bytes for %u %s)\n",
              name, static_cast<unsigned>(record.used_bytes), static_cast<unsigned>(record.requested_bytes),
              static_cast<unsigned>(record.count), unit);
}

void PrintAllocations(const tflite::RecordingMicroAllocator& allocator) {
  const auto* arena = allocator.GetSimpleMemoryAllocator();
  std::printf("[RecordingMicroAllocator] Arena allocation total %u bytes\n",
              static_cast<unsigned>(arena->GetUsedBytes()));
  std::printf("[RecordingMicroAllocator] Arena allocation head %u bytes\n",
              static_cast<unsigned>(arena->GetNonPersistentUsedBytes()));
  std::printf("[RecordingMicroAllocator] Arena allocation tail %u bytes\n",
              static_cast<unsigned>(arena->GetPersistentUsedBytes()));
  using Type = tflite::RecordedAllocationType;
  PrintRecord(allocator, Type::kTfLiteEvalTensorData, "TfLiteEvalTensor data", "allocations");
  PrintRecord(allocator, Type::kPersistentTfLiteTensorData, "Persistent TfLiteTensor data", "tensors");
  PrintRecord(allocator, Type::kPersistentTfLiteTensorQuantizationData, "Persistent TfLiteTensor quantization data",
              "allocations");
  PrintRecord(allocator, Type::kPersistentBufferData, "Persistent buffer data", "allocations");
  PrintRecord(allocator, Type::kTfLiteTensorVariableBufferData, "TfLiteTensor variable buffer data", "allocations");
  PrintRecord(allocator, Type::kNodeAndRegistrationArray, "NodeAndRegistration struct", "NodeAndRegistration structs");
  PrintRecord(allocator, Type::kOpData, "Operator runtime data", "OpData structs");
}

}  // namespace

int main() {
  size_t model_size = 0, input_size = 0;
  uint8_t* model_data = ReadFile("model.tflite", &model_size);
  uint8_t* input = ReadFile("input.bin", &input_size);
  size_t arena_bytes = kArenaBytes;
  bool sized = false;
  if (FILE* sizes = std::fopen("arena.txt", "r")) {
    unsigned requested = 0;
    sized = std::fscanf(sizes, "%u", &requested) == 1 && requested <= kArenaBytes;
    if (sized) arena_bytes = requested;
    std::fclose(sizes);
  }
  uint8_t* arena = static_cast<uint8_t*>(memalign(16, kArenaBytes));
  if (model_data == nullptr || input == nullptr || arena == nullptr) {
    std::printf("jsqat-check: cannot read model.tflite/input.bin or allocate the arena\n");
    return 1;
  }
  const tflite::Model* model = tflite::GetModel(model_data);
  static tflite::MicroMutableOpResolver<kJsqatCheckOpCount> resolver;
  if (const int failed = AddJsqatCheckOps(resolver)) {
    std::printf("jsqat-check: %d of %u ops could not be registered\n", failed, kJsqatCheckOpCount);
    return 1;
  }

  std::memset(arena, 0, kArenaBytes);
  if (!sized) {
    tflite::RecordingMicroInterpreter recording(model, resolver, arena, kArenaBytes);
    if (recording.AllocateTensors() != kTfLiteOk) {
      std::printf("jsqat-check: recording AllocateTensors failed\n");
      return 1;
    }
    PrintAllocations(recording.GetMicroAllocator());
  }

  // Zeroed as a fresh .bss arena is (and as jsqat-embed's firmware does): TFLM's
  // SPACE_TO_BATCH_ND pads with a persistent value it never writes, so a reused
  // arena gives other pad bytes.
  std::memset(arena, 0, kArenaBytes);
  constexpr uint8_t kCanary = 0xA5;
  std::memset(arena + arena_bytes, kCanary, kArenaBytes - arena_bytes);
  tflite::MicroInterpreter interpreter(model, resolver, arena, arena_bytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    std::printf("jsqat-check: AllocateTensors failed\n");
    return 1;
  }
  std::printf("jsqat-check: arena_used_bytes %u\n", static_cast<unsigned>(interpreter.arena_used_bytes()));
  size_t sample_bytes = 0;
  for (size_t i = 0; i < interpreter.inputs_size(); ++i) sample_bytes += interpreter.input(i)->bytes;
  if (sample_bytes == 0 || input_size % sample_bytes != 0) {
    std::printf("jsqat-check: input.bin holds %u bytes, not a multiple of %u\n", static_cast<unsigned>(input_size),
                static_cast<unsigned>(sample_bytes));
    return 1;
  }
  FILE* out = std::fopen("output.bin", "wb");
  if (out == nullptr) {
    std::printf("jsqat-check: cannot write output.bin\n");
    return 1;
  }
  const size_t samples = input_size / sample_bytes;
  for (size_t sample = 0; sample < samples; ++sample) {
    // Each sample from the state after AllocateTensors, as the emulator and the wheel's runs
    // take it: variable tensors (SVDF, LSTM state) and stateful kernels (the signal library's
    // noise estimates) start over.
    if (sample > 0 && interpreter.Reset() != kTfLiteOk) {
      std::printf("jsqat-check: Reset failed\n");
      return 1;
    }
    size_t offset = sample * sample_bytes;
    for (size_t i = 0; i < interpreter.inputs_size(); ++i) {
      TfLiteTensor* tensor = interpreter.input(i);
      std::memcpy(tensor->data.raw, input + offset, tensor->bytes);
      offset += tensor->bytes;
    }
    if (interpreter.Invoke() != kTfLiteOk) {
      std::printf("jsqat-check: Invoke failed on sample %u\n", static_cast<unsigned>(sample));
      return 1;
    }
    for (size_t i = 0; i < interpreter.outputs_size(); ++i) {
      const TfLiteTensor* tensor = interpreter.output(i);
      std::fwrite(tensor->data.raw, 1, tensor->bytes, out);
    }
  }
  std::fclose(out);
  for (size_t i = arena_bytes; i < kArenaBytes; ++i) {
    if (arena[i] != kCanary) {
      std::printf("jsqat-check: wrote %u bytes past the arena's end\n", static_cast<unsigned>(i - arena_bytes + 1));
      return 1;
    }
  }
  std::printf("jsqat-check: done, %u samples\n", static_cast<unsigned>(samples));
  return 0;
}
