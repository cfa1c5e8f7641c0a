// Writing safetensors exactly as the reference implementation (huggingface/safetensors,
// `prepare`) does, so files compare byte for byte: data ordered by dtype (widest first: I64,
// F64, F32, BF16, F16, U8, BOOL) then by name, which keeps every tensor aligned to its element size; header
// listing __metadata__ first and then the tensors in data order, each as
// {"dtype":..,"shape":..,"data_offsets":[begin,end]}, padded with spaces to a multiple of 8.
#include <algorithm>
#include <cstring>
#include <vector>

#include "nabla/io/atomic_file.h"
#include "nabla/io/json.h"
#include "safetensors_format.h"

namespace nabla::io {
namespace {

// Reference dtype order (its Dtype enum), for the data layout.
int dtype_rank(DType d) {
  switch (d) {
    case DType::boolean: return -1;  // BOOL comes first in the reference enum: its data goes last
    case DType::u8: return 0;
    case DType::f16: return 1;
    case DType::bf16: return 2;
    case DType::f32: return 3;
    case DType::f64: return 4;
    case DType::i64: return 5;
  }
  return 0;
}

struct Planned {
  const std::string* name;
  const Tensor* tensor;
  uint64_t bytes;
};

std::vector<Planned> plan(const TensorMap& tensors, const std::string& path) {
  std::vector<Planned> out;
  out.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    NB_CHECK(name != "__metadata__", "[save_safetensors] '", path,
             "': \"__metadata__\" is reserved and cannot name a tensor");
    NB_CHECK(is_valid_utf8(name), "[save_safetensors] '", path, "': tensor name is not valid UTF-8");
    NB_CHECK(t.defined(), "[save_safetensors] '", path, "': tensor ", detail::show(name), " is undefined");
    out.push_back({&name, &t, uint64_t(t.numel()) * dtype_size(t.dtype())});
  }
  std::stable_sort(out.begin(), out.end(), [](const Planned& a, const Planned& b) {
    int ra = dtype_rank(a.tensor->dtype()), rb = dtype_rank(b.tensor->dtype());
    return ra != rb ? ra > rb : *a.name < *b.name;  // the map already orders names bytewise
  });
  return out;
}

std::string make_header(const std::vector<Planned>& tensors, const Metadata& metadata, const std::string& path) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) {
      NB_CHECK(is_valid_utf8(k) && is_valid_utf8(v), "[save_safetensors] '", path,
               "': metadata key/value is not valid UTF-8");
      m.append(k, v);
    }
    header.append("__metadata__", std::move(m));
  }
  uint64_t offset = 0;
  for (const Planned& p : tensors) {
    Json shape = Json::array();
    for (int64_t d : p.tensor->shape()) shape.push_back(d);
    Json entry = Json::object();
    entry.append("dtype", detail::dtype_tag(p.tensor->dtype()));
    entry.append("shape", std::move(shape));
    entry.append("data_offsets", Json::array({int64_t(offset), int64_t(offset + p.bytes)}));
    header.append(*p.name, std::move(entry));
    offset += p.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  return text;
}

// Row-major bytes of any strided view: contiguous rows are copied whole, others gathered.
void write_data(AtomicFile& f, const Tensor& t0) {
  const Tensor t = t0.device().is_cpu() ? t0 : t0.to(Device::cpu());  // GPU tensors: one copy to the host
  const size_t item = dtype_size(t.dtype());
  const auto* base = static_cast<const char*>(t.raw_data());
  if (t.is_contiguous()) {
    f.write(base, size_t(t.numel()) * item);
    return;
  }
  const Shape& shape = t.shape();
  const Shape& strides = t.strides();
  const size_t nd = shape.size();  // >= 1: a 0-d tensor is contiguous
  const int64_t inner = shape[nd - 1], inner_stride = strides[nd - 1];
  std::vector<char> row(size_t(inner) * item);
  std::vector<int64_t> idx(nd - 1, 0);
  for (int64_t rows = t.numel() / inner; rows > 0; --rows) {
    int64_t off = 0;
    for (size_t d = 0; d + 1 < nd; ++d) off += idx[d] * strides[d];
    const char* src = base + off * int64_t(item);
    if (inner_stride == 1) {
      f.write(src, row.size());
    } else {
      const int64_t step = inner_stride * int64_t(item);
      for (int64_t k = 0; k < inner; ++k) std::memcpy(row.data() + k * item, src + k * step, item);
      f.write(row.data(), row.size());
    }
    for (size_t d = nd - 1; d-- > 0;) {  // odometer over the outer dims
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

void save_safetensors(const TensorMap& tensors, const std::string& path, const Metadata& metadata) {
  std::vector<Planned> order = plan(tensors, path);
  std::string header = make_header(order, metadata, path);
  // Readers (ours and the reference) refuse bigger headers, so such a file would be unreadable.
  NB_CHECK(header.size() <= detail::kMaxHeaderBytes, "[save_safetensors] '", path, "': the header would be ",
           header.size(), " bytes, over the ", detail::kMaxHeaderBytes, "-byte limit readers accept (",
           tensors.size(), " tensors, ", metadata.size(), " metadata entries)");
  uint8_t prefix[8];
  for (int k = 0; k < 8; ++k) prefix[k] = uint8_t(uint64_t(header.size()) >> (8 * k));
  AtomicFile f(path, "save_safetensors");
  f.write(prefix, 8);
  f.write(header);
  for (const Planned& p : order)
    if (p.bytes > 0) write_data(f, *p.tensor);
  f.commit();
}

}  // namespace nabla::io
