// Test helper: writes a tiny but real ONNX model (protobuf wire format, written by hand, no
// onnx library needed) so that the onnx detector is tested end to end through OpenCV DNN:
//   images [1,3,S,S] → GlobalAveragePool → Conv 1x1 (weights, bias) → Reshape(out_shape).
// The output is `bias` plus `weights` · (per-channel mean of the input blob), so a test knows
// exactly what the "network" answers. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace linli::edge::testing {

// Serialised ModelProto. `bias.size()` must equal the product of `out_shape`; `weights` is
// empty (all zero) or bias.size() * 3 values (row k = output element k, columns = channels).
std::string TinyYoloOnnx(int input_size, const std::vector<int64_t>& out_shape,
                         const std::vector<float>& bias, const std::vector<float>& weights = {});

}  // namespace linli::edge::testing
