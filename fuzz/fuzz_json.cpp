// libFuzzer target: the JSON parser either throws JsonParseError with an offset inside the
// text, or returns a value that writes and reads back unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "nabla/io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nabla::io::Json j;
  try {
    j = nabla::io::Json::parse(text);
  } catch (const nabla::io::JsonParseError& e) {
    if (e.offset() > size) std::abort();
    return 0;
  }
  if (!(nabla::io::Json::parse(j.dump()) == j)) std::abort();
  if (!(nabla::io::Json::parse(j.dump(1)) == j)) std::abort();
  return 0;
}
