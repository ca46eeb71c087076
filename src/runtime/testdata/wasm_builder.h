// Test helper: tiny hand-assembled Wasm modules, for cases the SDK cannot produce (another ABI
// version, unknown imports, missing exports).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pie::runtime::testing {

struct TinyModule {
  int abi_version = 1;       // what pie_abi_version returns; < 0: no such export
  bool export_start = true;  // export an empty _start
  std::string import_name;   // when set: import pie.<import_name> : () -> ()
};

inline std::string build_wasm(const TinyModule& m) {
  std::string out("\0asm\1\0\0\0", 8);
  auto section = [&](uint8_t id, const std::string& content) {
    out.push_back(static_cast<char>(id));
    out.push_back(static_cast<char>(content.size()));  // all sections stay under 128 bytes
    out += content;
  };
  auto name = [](const std::string& s) { return std::string(1, static_cast<char>(s.size())) + s; };
  // types: 0 = () -> i32, 1 = () -> ()
  section(1, std::string("\x02\x60\x00\x01\x7f\x60\x00\x00", 8));
  const bool imported = !m.import_name.empty();
  if (imported)
    section(
        2, std::string("\x01", 1) + name("pie") + name(m.import_name) + std::string("\x00\x01", 2));
  section(3, std::string("\x02\x00\x01", 3));  // two functions: version, start
  section(5, std::string("\x01\x00\x01", 3));  // one memory, min 1 page
  const uint8_t first = imported ? 1 : 0;      // imported functions come first in the index space
  std::string exports;
  uint8_t count = 1;
  exports += name("memory") + std::string("\x02\x00", 2);
  if (m.abi_version >= 0) {
    exports +=
        name("pie_abi_version") + std::string(1, '\0') + std::string(1, static_cast<char>(first));
    ++count;
  }
  if (m.export_start) {
    exports += name("_start") + std::string(1, '\0') + std::string(1, static_cast<char>(first + 1));
    ++count;
  }
  section(7, std::string(1, static_cast<char>(count)) + exports);
  const uint8_t v = static_cast<uint8_t>(m.abi_version < 0 ? 0 : m.abi_version);  // < 64
  section(10, std::string("\x02\x04\x00\x41", 4) + std::string(1, static_cast<char>(v)) +
                  std::string("\x0b\x02\x00\x0b", 4));
  return out;
}

}  // namespace pie::runtime::testing
