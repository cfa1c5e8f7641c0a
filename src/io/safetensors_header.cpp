// Strict validation of a safetensors header. Every size is checked with overflow-safe
// arithmetic before anything is allocated: integer overflow in size math is how most model
// loaders (gguf, TFLite, mlx's safetensors reader) came to read out of bounds.
#include <algorithm>
#include <array>
#include <limits>
#include <string_view>
#include <unordered_set>

#include "nabla/io/json.h"
#include "safetensors_format.h"

namespace nabla::io::detail {

const char* dtype_tag(DType d) {
  switch (d) {
    case DType::boolean: return "BOOL";
    case DType::u8: return "U8";
    case DType::i64: return "I64";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::f32: return "F32";
    case DType::f64: return "F64";
  }
  return "?";
}

std::string show(std::string_view name) {
  constexpr size_t kMax = 80;
  if (name.size() > kMax) {
    size_t cut = kMax;
    while (cut > 0 && (uint8_t(name[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
    name = name.substr(0, cut);
    std::string q = json_quote(name);
    q.insert(q.size() - 1, "...");
    return q;
  }
  return json_quote(name);
}

std::string where(const std::string& file) { return "[safetensors] '" + file + "': "; }

void check_header_length(uint64_t n, uint64_t file_size, const std::string& file) {
  NB_CHECK(n <= kMaxHeaderBytes, where(file), "header length ", n, " is larger than the limit of ", kMaxHeaderBytes,
           " bytes (corrupt file, or not a safetensors file)");
  NB_CHECK(n <= file_size - 8, where(file), "header length ", n, " is larger than the ", file_size - 8,
           " bytes after the length field (truncated file, or not a safetensors file)");
  NB_CHECK(n >= 2, where(file), "header length ", n, " is too small to hold a JSON object");
}

namespace {

struct DtypeInfo {
  const char* tag;
  bool supported;
  DType dtype;
};

// Every dtype the safetensors specification defines; the ones nabla has no type for are
// named explicitly so the user learns the file is fine but the dtype is not supported.
constexpr std::array<DtypeInfo, 21> kDtypes = {{
    {"F32", true, DType::f32},      {"F64", true, DType::f64},      {"I64", true, DType::i64},
    {"U8", true, DType::u8},        {"BOOL", true, DType::boolean},     {"I8", false, DType::u8},
    {"I16", false, DType::u8},      {"U16", false, DType::u8},      {"I32", false, DType::u8},
    {"U32", false, DType::u8},      {"U64", false, DType::u8},      {"F16", true, DType::f16},
    {"BF16", true, DType::bf16},     {"F8_E4M3", false, DType::u8},  {"F8_E5M2", false, DType::u8},
    {"F8_E8M0", false, DType::u8},  {"F6_E2M3", false, DType::u8},  {"F6_E3M2", false, DType::u8},
    {"F4", false, DType::u8},       {"C64", false, DType::u8},      {"C128", false, DType::u8},
}};

class EntryParser {
 public:
  EntryParser(const std::string& file, uint64_t data_size) : file_(file), data_size_(data_size) {}

  TensorEntry parse(std::string name, const Json& v) {
    TensorEntry e;
    e.name = std::move(name);
    name_ = &e.name;
    check(v.is_object(), "expected an object with dtype, shape and data_offsets, got ", v.type_name());
    const Json *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
    for (const auto& [key, value] : v.as_object()) {
      if (key == "dtype") dtype = &value;
      else if (key == "shape") shape = &value;
      else if (key == "data_offsets") offsets = &value;
      else fail_tensor("unknown field ", show(key), " (expected dtype, shape and data_offsets)");
    }
    check(dtype != nullptr, "missing \"dtype\"");
    check(shape != nullptr, "missing \"shape\"");
    check(offsets != nullptr, "missing \"data_offsets\"");
    e.dtype = parse_dtype(*dtype);
    e.shape = parse_shape(*shape);
    parse_offsets(*offsets, e);
    check_size(e);
    return e;
  }

 private:
  const std::string& file_;
  uint64_t data_size_;
  const std::string* name_ = nullptr;

  template <typename... Args>
  [[noreturn]] void fail_tensor(const Args&... args) {
    fail(where(file_), "tensor ", show(*name_), ": ", args...);
  }
  template <typename... Args>
  void check(bool ok, const Args&... args) {
    if (!ok) fail_tensor(args...);
  }

  DType parse_dtype(const Json& j) {
    check(j.is_string(), "dtype must be a string, got ", j.type_name());
    const std::string& tag = j.as_string();
    for (const DtypeInfo& d : kDtypes) {
      if (tag != d.tag) continue;
      check(d.supported, "dtype ", tag, " is not supported (nabla reads F32, F64, BF16, F16, I64, U8 and BOOL)");
      return d.dtype;
    }
    fail_tensor("unknown dtype ", show(tag));
  }

  // A non-negative integer, or an error naming `what` (and `index` when >= 0); doubles such as
  // 2.0 or 1e3 are refused. Messages are only formatted on failure: this runs per dimension.
  uint64_t size_value(const Json& j, const char* what, int64_t index = -1) {
    if (j.is_int() && j.as_int() >= 0) return uint64_t(j.as_int());
    std::string name = index >= 0 ? std::string(what) + " " + std::to_string(index) : std::string(what);
    if (j.is_int()) fail_tensor(name, " is ", j.as_int(), "; expected a non-negative integer");
    if (j.is_number()) fail_tensor(name, " is ", j.dump(), "; expected a non-negative integer below 2^63");
    fail_tensor(name, " is a ", j.type_name(), "; expected a non-negative integer");
  }

  Shape parse_shape(const Json& j) {
    check(j.is_array(), "shape must be an array, got ", j.type_name());
    const Json::Array& dims = j.as_array();
    Shape shape(dims.size());
    for (size_t k = 0; k < dims.size(); ++k) shape[k] = int64_t(size_value(dims[k], "shape entry", int64_t(k)));
    return shape;
  }

  void parse_offsets(const Json& j, TensorEntry& e) {
    if (!j.is_array()) fail_tensor("data_offsets must be an array [begin, end], got ", j.type_name());
    if (j.size() != 2) fail_tensor("data_offsets must be an array [begin, end], got ", j.size(), " elements");
    e.begin = size_value(j.at(size_t(0)), "data_offsets begin");
    e.end = size_value(j.at(size_t(1)), "data_offsets end");
    check(e.begin <= e.end, "data_offsets [", e.begin, ", ", e.end, "] end before they begin");
    check(e.end <= data_size_, "data_offsets [", e.begin, ", ", e.end, "] reach past the end of the data area (",
          data_size_, " bytes)");
  }

  // Product of the dims, overflow-checked. Core computes contiguous strides as the product of
  // max(dim, 1), so that product must fit in int64 too, even when a 0 makes numel 0.
  void check_size(const TensorEntry& e) {
    uint64_t numel = 1, stride_span = 1;
    bool overflow = false;
    for (int64_t d : e.shape) {
      overflow |= __builtin_mul_overflow(numel, uint64_t(d), &numel);
      overflow |= __builtin_mul_overflow(stride_span, uint64_t(std::max<int64_t>(d, 1)), &stride_span);
    }
    uint64_t bytes = 0;
    overflow |= __builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &bytes);
    overflow |= stride_span > uint64_t(std::numeric_limits<int64_t>::max()) ||
                bytes > uint64_t(std::numeric_limits<int64_t>::max());
    // (plain ifs: the messages format the shape, which costs more than the checks)
    if (overflow) fail_tensor("shape ", shape_str(e.shape), " is too large: its size overflows 64-bit arithmetic");
    if (e.end - e.begin != bytes) {
      fail_tensor("dtype ", dtype_tag(e.dtype), " and shape ", shape_str(e.shape), " need ", bytes,
                  " bytes, but data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin);
    }
  }
};

Metadata parse_metadata(const Json& j, const std::string& file) {
  NB_CHECK(j.is_object(), where(file), "__metadata__ must be an object mapping strings to strings, got ",
           j.type_name());
  Metadata m;
  for (const auto& [key, value] : j.as_object()) {
    NB_CHECK(value.is_string(), where(file), "__metadata__ key ", show(key), " has a non-string value (",
             value.type_name(), "); metadata values must be strings");
    m.emplace(key, value.as_string());
  }
  return m;
}

// Sorted by offset the tensors must tile the data area: no gap (a hole could hide a second
// file, a "polyglot"), no overlap (many tensors on one region multiply memory), no tail.
void check_layout(const std::vector<TensorEntry>& t, uint64_t data_size, const std::string& file) {
  uint64_t pos = 0;
  for (size_t k = 0; k < t.size(); ++k) {
    if (t[k].begin < pos) {
      fail(where(file), "tensor ", show(t[k].name), " at data_offsets [", t[k].begin, ", ", t[k].end,
           "] overlaps tensor ", show(t[k - 1].name), " at [", t[k - 1].begin, ", ", t[k - 1].end, "]");
    }
    if (t[k].begin > pos) {
      fail(where(file), "gap of ", t[k].begin - pos, " unused bytes in the data area before tensor ",
           show(t[k].name), " at data_offsets [", t[k].begin, ", ", t[k].end, "]",
           k ? " (previous tensor " + show(t[k - 1].name) + " ends at " + std::to_string(pos) + ")" : "");
    }
    pos = t[k].end;
  }
  NB_CHECK(pos == data_size, where(file), data_size - pos,
           " unused trailing bytes after the last tensor (data area is ", data_size, " bytes, tensors end at ", pos, ")");
}

// Two members with one name: the JSON reader leaves this to us because the header is streamed.
void check_unique(const std::vector<TensorEntry>& t, const std::string& file) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(t.size());
  for (const TensorEntry& e : t)
    NB_CHECK(seen.insert(e.name).second, where(file), "duplicate tensor name ", show(e.name));
}

}  // namespace

Header parse_header(std::string_view json, uint64_t data_size, const std::string& file) {
  // The specification requires the header to start with '{' (no BOM, no whitespace).
  NB_CHECK(!json.empty() && json[0] == '{', where(file), "header does not start with '{' (not a safetensors file?)");
  Header h;
  bool has_metadata = false;
  EntryParser entries(file, data_size);
  auto on_member = [&](std::string&& key, Json&& value, size_t) {
    if (key == "__metadata__") {
      NB_CHECK(!has_metadata, where(file), "duplicate key \"__metadata__\"");
      has_metadata = true;
      h.metadata = parse_metadata(value, file);
    } else {
      h.tensors.push_back(entries.parse(std::move(key), value));
    }
  };
  try {
    Json::parse_members(json, on_member);
  } catch (const JsonParseError& e) {
    fail(where(file), "header is not valid JSON: ", e.reason(), " at header byte ", e.offset(), " (file offset ",
         e.offset() + 8, ")");
  }
  check_unique(h.tensors, file);
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  check_layout(h.tensors, data_size, file);
  return h;
}

}  // namespace nabla::io::detail
