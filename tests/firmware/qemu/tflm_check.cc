// Runs one model through TFLM compiled for Cortex-M4 (reference kernels, no
// USE_TFLM_COMPRESSION, as jsqat-embed's firmware builds it) under QEMU with
// semihosting, for tests/memory/test_arena_qemu.py:
//   reads model.tflite and input.bin (every input tensor's bytes, in order) from
//   the working directory; reports the arena the plain MicroInterpreter uses and
//   what RecordingMicroAllocator records; writes every output tensor's bytes to
//   output.bin after one Invoke.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <malloc.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/recording_micro_interpreter.h"

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
  if (data != nullptr && std::fread(data, 1, *size, file) != *size) data = nullptr;
  std::fclose(file);
  return data;
}

void AddOps(tflite::MicroMutableOpResolver<40>& r) {
  r.AddConv2D(); r.AddDepthwiseConv2D(); r.AddFullyConnected(); r.AddAdd(); r.AddSub(); r.AddMul();
  r.AddAveragePool2D(); r.AddMaxPool2D(); r.AddMean(); r.AddReduceMax(); r.AddSoftmax(); r.AddLogistic();
  r.AddTanh(); r.AddHardSwish(); r.AddRelu(); r.AddRelu6(); r.AddLeakyRelu(); r.AddPad(); r.AddPadV2();
  r.AddConcatenation(); r.AddReshape(); r.AddSqueeze(); r.AddTranspose(); r.AddSpaceToBatchNd();
  r.AddBatchToSpaceNd(); r.AddShape(); r.AddStridedSlice(); r.AddPack(); r.AddQuantize(); r.AddDequantize();
  r.AddDecode();
}

}  // namespace

int main() {
  size_t model_size = 0, input_size = 0;
  uint8_t* model_data = ReadFile("model.tflite", &model_size);
  uint8_t* input = ReadFile("input.bin", &input_size);
  uint8_t* arena = static_cast<uint8_t*>(memalign(16, kArenaBytes));
  if (model_data == nullptr || input == nullptr || arena == nullptr) {
    std::printf("jsqat-check: cannot read model.tflite/input.bin or allocate the arena\n");
    return 1;
  }
  const tflite::Model* model = tflite::GetModel(model_data);
  static tflite::MicroMutableOpResolver<40> resolver;
  AddOps(resolver);

  std::memset(arena, 0, kArenaBytes);
  {
    tflite::RecordingMicroInterpreter recording(model, resolver, arena, kArenaBytes);
    if (recording.AllocateTensors() != kTfLiteOk) {
      std::printf("jsqat-check: recording AllocateTensors failed\n");
      return 1;
    }
    recording.GetMicroAllocator().PrintAllocations();
  }

  // Zeroed as a fresh .bss arena is (and as jsqat-embed's firmware does): TFLM's
  // SPACE_TO_BATCH_ND pads with a persistent value it never writes, so a reused
  // arena gives other pad bytes.
  std::memset(arena, 0, kArenaBytes);
  tflite::MicroInterpreter interpreter(model, resolver, arena, kArenaBytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    std::printf("jsqat-check: AllocateTensors failed\n");
    return 1;
  }
  std::printf("jsqat-check: arena_used_bytes %u\n", static_cast<unsigned>(interpreter.arena_used_bytes()));
  size_t offset = 0;
  for (size_t i = 0; i < interpreter.inputs_size(); ++i) {
    TfLiteTensor* tensor = interpreter.input(i);
    if (offset + tensor->bytes > input_size) {
      std::printf("jsqat-check: input.bin is too short\n");
      return 1;
    }
    std::memcpy(tensor->data.raw, input + offset, tensor->bytes);
    offset += tensor->bytes;
  }
  if (interpreter.Invoke() != kTfLiteOk) {
    std::printf("jsqat-check: Invoke failed\n");
    return 1;
  }
  FILE* out = std::fopen("output.bin", "wb");
  for (size_t i = 0; out != nullptr && i < interpreter.outputs_size(); ++i) {
    const TfLiteTensor* tensor = interpreter.output(i);
    std::fwrite(tensor->data.raw, 1, tensor->bytes, out);
  }
  if (out != nullptr) std::fclose(out);
  std::printf("jsqat-check: done\n");
  return 0;
}
