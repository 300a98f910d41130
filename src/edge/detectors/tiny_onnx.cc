#include "edge/detectors/tiny_onnx.h"

#include <cstring>

namespace linli::edge::testing {

namespace {

// Protobuf wire format: varints (type 0) and length-delimited fields (type 2).
void Varint(std::string& o, uint64_t v) {
  while (v >= 0x80) {
    o.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  o.push_back(static_cast<char>(v));
}
void Tag(std::string& o, int field, int type) { Varint(o, (uint64_t(field) << 3) | type); }
void IntField(std::string& o, int field, int64_t v) {
  Tag(o, field, 0);
  Varint(o, static_cast<uint64_t>(v));
}
void Bytes(std::string& o, int field, const std::string& b) {
  Tag(o, field, 2);
  Varint(o, b.size());
  o += b;
}

// TensorProto: dims=1, data_type=2 (1 float, 7 int64), name=8, raw_data=9.
std::string Tensor(const std::string& name, const std::vector<int64_t>& dims, int type,
                   const void* data, std::size_t bytes) {
  std::string t;
  for (int64_t d : dims) IntField(t, 1, d);
  IntField(t, 2, type);
  Bytes(t, 8, name);
  Bytes(t, 9, std::string(static_cast<const char*>(data), bytes));
  return t;
}

// ValueInfoProto{name=1, type=2 TypeProto{tensor_type=1 {elem_type=1, shape=2 {dim=1
// {dim_value=1}}}}}.
std::string ValueInfo(const std::string& name, const std::vector<int64_t>& dims) {
  std::string shape;
  for (int64_t d : dims) {
    std::string dim;
    IntField(dim, 1, d);
    Bytes(shape, 1, dim);
  }
  std::string tensor;
  IntField(tensor, 1, 1);
  Bytes(tensor, 2, shape);
  std::string type;
  Bytes(type, 1, tensor);
  std::string vi;
  Bytes(vi, 1, name);
  Bytes(vi, 2, type);
  return vi;
}

// NodeProto: input=1, output=2, name=3, op_type=4, attribute=5.
std::string Node(const std::vector<std::string>& in, const std::string& out,
                 const std::string& op, const std::vector<std::string>& attrs = {}) {
  std::string n;
  for (const auto& i : in) Bytes(n, 1, i);
  Bytes(n, 2, out);
  Bytes(n, 3, op + "_" + out);
  Bytes(n, 4, op);
  for (const auto& a : attrs) Bytes(n, 5, a);
  return n;
}

// AttributeProto{name=1, ints=8, type=20 (INTS=7)}.
std::string IntsAttr(const std::string& name, const std::vector<int64_t>& v) {
  std::string a;
  Bytes(a, 1, name);
  for (int64_t x : v) IntField(a, 8, x);
  IntField(a, 20, 7);
  return a;
}

}  // namespace

std::string TinyYoloOnnx(int input_size, const std::vector<int64_t>& out_shape,
                         const std::vector<float>& bias, const std::vector<float>& weights) {
  const int64_t k = static_cast<int64_t>(bias.size());
  std::vector<float> w = weights;
  if (w.empty()) w.assign(static_cast<std::size_t>(k) * 3, 0.f);
  std::string graph;
  Bytes(graph, 1, Node({"images"}, "pooled", "GlobalAveragePool"));
  Bytes(graph, 1, Node({"pooled", "W", "B"}, "conv", "Conv",
                       {IntsAttr("kernel_shape", {1, 1}), IntsAttr("strides", {1, 1})}));
  Bytes(graph, 1, Node({"conv", "shape"}, "output0", "Reshape"));
  Bytes(graph, 2, "tiny_yolo");
  Bytes(graph, 5, Tensor("W", {k, 3, 1, 1}, 1, w.data(), w.size() * sizeof(float)));
  Bytes(graph, 5, Tensor("B", {k}, 1, bias.data(), bias.size() * sizeof(float)));
  Bytes(graph, 5, Tensor("shape", {static_cast<int64_t>(out_shape.size())}, 7, out_shape.data(),
                         out_shape.size() * sizeof(int64_t)));
  Bytes(graph, 11, ValueInfo("images", {1, 3, input_size, input_size}));
  Bytes(graph, 12, ValueInfo("output0", out_shape));
  std::string opset;
  Bytes(opset, 1, "");
  IntField(opset, 2, 13);
  std::string model;
  IntField(model, 1, 8);  // ir_version
  Bytes(model, 2, "linli-test");
  Bytes(model, 7, graph);
  Bytes(model, 8, opset);
  return model;
}

}  // namespace linli::edge::testing
