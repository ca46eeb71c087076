// Reading and writing the MessagePack maps both of Pie's protocols are made of: structs as maps
// keyed by field name, integers of any width, floats of either width. Every decoding failure throws
// pie::Error naming the field and what was wrong with it.
#pragma once

#include <cstdint>
#include <map>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace pie::protocol {

// Caps on what one payload may declare, so a few hostile bytes cannot make the decoder allocate
// much more than the payload itself.
struct DecodeLimits {
  size_t max_elements = 0;  // per array or map, at most the payload size; 0 = the payload size
  size_t max_depth = 32;
};

// Parses exactly one MessagePack value filling `bytes` (trailing bytes are an error). Strings and
// binaries in the result point into `bytes`, which must outlive it.
msgpack::object_handle parse_msgpack(std::string_view bytes, std::string_view what,
                                     const DecodeLimits& limits = {});

// Payload bytes written as MessagePack bin (plain std::string values are written as str).
struct Bin {
  std::string_view data;
};

// A decoded map, looked up by field name. `what` prefixes error messages (e.g. "upload_program").
class Fields {
 public:
  Fields(const msgpack::object& map, std::string what);

  // Absent and nil both count as missing.
  const msgpack::object* find(std::string_view key) const;
  const msgpack::object& at(std::string_view key) const;  // throws when missing

  template <class T>
  T get(std::string_view key) const;
  template <class T>
  std::optional<T> get_optional(std::string_view key) const;
  template <class T>
  T get_or(std::string_view key, T fallback) const {
    auto v = get_optional<T>(key);
    return v ? std::move(*v) : std::move(fallback);
  }
  std::string get_bin(std::string_view key) const;

  const std::string& what() const { return what_; }

 private:
  std::string path(std::string_view key) const;
  const msgpack::object& map_;
  std::string what_;
};

// Conversions from one MessagePack value, `path` naming it for error messages.
[[noreturn]] void fail_type(const std::string& path, std::string_view expected,
                            const msgpack::object& got);
uint64_t read_uint(const msgpack::object& o, const std::string& path, uint64_t max);
int64_t read_int(const msgpack::object& o, const std::string& path);
double read_double(const msgpack::object& o, const std::string& path);
bool read_bool(const msgpack::object& o, const std::string& path);
std::string read_str(const msgpack::object& o, const std::string& path);
// Accepts bin and str (older MessagePack writers have a single raw type).
std::string read_bin(const msgpack::object& o, const std::string& path);
const msgpack::object_array& read_array(const msgpack::object& o, const std::string& path);
const msgpack::object_map& read_map(const msgpack::object& o, const std::string& path);

template <class T>
struct Read;
template <>
struct Read<uint32_t> {
  static uint32_t from(const msgpack::object& o, const std::string& path) {
    return static_cast<uint32_t>(read_uint(o, path, UINT32_MAX));
  }
};
template <>
struct Read<uint64_t> {
  static uint64_t from(const msgpack::object& o, const std::string& path) {
    return read_uint(o, path, UINT64_MAX);
  }
};
template <>
struct Read<int64_t> {
  static int64_t from(const msgpack::object& o, const std::string& path) {
    return read_int(o, path);
  }
};
template <>
struct Read<float> {
  static float from(const msgpack::object& o, const std::string& path) {
    return static_cast<float>(read_double(o, path));
  }
};
template <>
struct Read<bool> {
  static bool from(const msgpack::object& o, const std::string& path) { return read_bool(o, path); }
};
template <>
struct Read<std::string> {
  static std::string from(const msgpack::object& o, const std::string& path) {
    return read_str(o, path);
  }
};
template <class T>
struct Read<std::vector<T>> {
  static std::vector<T> from(const msgpack::object& o, const std::string& path) {
    const auto& a = read_array(o, path);
    std::vector<T> out;
    out.reserve(a.size);
    for (uint32_t i = 0; i < a.size; ++i) {
      out.push_back(Read<T>::from(a.ptr[i], path + "[" + std::to_string(i) + "]"));
    }
    return out;
  }
};

template <class T>
T Fields::get(std::string_view key) const {
  return Read<T>::from(at(key), path(key));
}

template <class T>
std::optional<T> Fields::get_optional(std::string_view key) const {
  const msgpack::object* o = find(key);
  if (o == nullptr) return std::nullopt;
  return Read<T>::from(*o, path(key));
}

// Writes one map whose size is declared up front; the value overloads of add() pick the
// MessagePack type (integers in their smallest form, float as f32, std::string as str, Bin as bin).
class MapWriter {
 public:
  explicit MapWriter(uint32_t fields);

  template <class T>
  MapWriter& add(std::string_view key, const T& value) {
    pk_.pack_str(static_cast<uint32_t>(key.size()));
    pk_.pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
    pack(value);
    return *this;
  }
  // The encoded bytes.
  std::string finish() const { return std::string(buf_.data(), buf_.size()); }

  msgpack::packer<msgpack::sbuffer>& packer() { return pk_; }

  void pack(uint32_t v) { pk_.pack_uint32(v); }
  void pack(uint64_t v) { pk_.pack_uint64(v); }
  void pack(int64_t v) { pk_.pack_int64(v); }
  // Always as f32: msgpack-c's pack_float writes whole numbers as integers, which Pie's peers do
  // not.
  void pack(float v);
  void pack(bool v) { v ? pk_.pack_true() : pk_.pack_false(); }
  void pack(std::string_view v) {
    pk_.pack_str(static_cast<uint32_t>(v.size()));
    pk_.pack_str_body(v.data(), static_cast<uint32_t>(v.size()));
  }
  void pack(const std::string& v) { pack(std::string_view(v)); }
  void pack(const char* v) { pack(std::string_view(v)); }
  void pack(Bin v) {
    pk_.pack_bin(static_cast<uint32_t>(v.data.size()));
    pk_.pack_bin_body(v.data.data(), static_cast<uint32_t>(v.data.size()));
  }
  template <class T>
  void pack(const std::optional<T>& v) {
    if (v) {
      pack(*v);
    } else {
      pk_.pack_nil();
    }
  }
  template <class T>
  void pack(const std::vector<T>& v) {
    pk_.pack_array(static_cast<uint32_t>(v.size()));
    for (const auto& e : v) pack(e);
  }
  template <class K, class V>
  void pack(const std::map<K, V>& m) {
    pk_.pack_map(static_cast<uint32_t>(m.size()));
    for (const auto& [k, v] : m) {
      pack(k);
      pack(v);
    }
  }

 private:
  msgpack::sbuffer buf_;
  msgpack::packer<msgpack::sbuffer> pk_;
};

}  // namespace pie::protocol
