#include "protocol/msgpack_io.h"

#include <algorithm>
#include <bit>

namespace pie::protocol {

namespace {

std::string_view type_name(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "bool";
    case msgpack::type::POSITIVE_INTEGER:
      return "unsigned integer";
    case msgpack::type::NEGATIVE_INTEGER:
      return "negative integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "float";
    case msgpack::type::STR:
      return "str";
    case msgpack::type::BIN:
      return "bin";
    case msgpack::type::ARRAY:
      return "array";
    case msgpack::type::MAP:
      return "map";
    case msgpack::type::EXT:
      return "ext";
  }
  return "unknown";
}

// Strings and binaries stay in the caller's buffer: decoders copy what they keep.
bool reference_everything(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

}  // namespace

msgpack::object_handle parse_msgpack(std::string_view bytes, std::string_view what,
                                     const DecodeLimits& limits) {
  // Every element takes at least a byte, so no valid payload declares more than its size.
  const size_t elements =
      limits.max_elements != 0 ? std::min(limits.max_elements, bytes.size()) : bytes.size();
  const msgpack::unpack_limit limit(elements, elements, bytes.size(), bytes.size(), bytes.size(),
                                    limits.max_depth);
  size_t offset = 0;
  msgpack::object_handle handle;
  try {
    handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, reference_everything, nullptr, limit);
  } catch (const msgpack::insufficient_bytes&) {
    throw Error(std::string(what) + ": truncated MessagePack data");
  } catch (const std::exception& e) {
    throw Error(std::string(what) + ": invalid MessagePack data (" + e.what() + ")");
  }
  if (offset != bytes.size()) {
    throw Error(std::string(what) + ": " + std::to_string(bytes.size() - offset) +
                " unexpected bytes after the MessagePack value");
  }
  return handle;
}

void fail_type(const std::string& path, std::string_view expected, const msgpack::object& got) {
  throw Error(path + " must be " + std::string(expected) + ", got " + std::string(type_name(got)));
}

uint64_t read_uint(const msgpack::object& o, const std::string& path, uint64_t max) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > max) {
      throw Error(path + " is out of range: " + std::to_string(o.via.u64) + " > " +
                  std::to_string(max));
    }
    return o.via.u64;
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    throw Error(path + " must not be negative, got " + std::to_string(o.via.i64));
  }
  fail_type(path, "an unsigned integer", o);
}

int64_t read_int(const msgpack::object& o, const std::string& path) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) {
      throw Error(path + " is out of range: " + std::to_string(o.via.u64));
    }
    return static_cast<int64_t>(o.via.u64);
  }
  fail_type(path, "an integer", o);
}

double read_double(const msgpack::object& o, const std::string& path) {
  switch (o.type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    // Hand-written peers write whole numbers (temperature 1) as integers.
    case msgpack::type::POSITIVE_INTEGER:
      return static_cast<double>(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return static_cast<double>(o.via.i64);
    default:
      fail_type(path, "a number", o);
  }
}

bool read_bool(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::BOOLEAN) fail_type(path, "a bool", o);
  return o.via.boolean;
}

std::string read_str(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::STR) fail_type(path, "a str", o);
  return std::string(o.via.str.ptr, o.via.str.size);
}

std::string read_bin(const msgpack::object& o, const std::string& path) {
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  fail_type(path, "bin", o);
}

const msgpack::object_array& read_array(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::ARRAY) fail_type(path, "an array", o);
  return o.via.array;
}

const msgpack::object_map& read_map(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::MAP) fail_type(path, "a map", o);
  return o.via.map;
}

Fields::Fields(const msgpack::object& map, std::string what) : map_(map), what_(std::move(what)) {
  if (map.type != msgpack::type::MAP) {
    throw Error(what_ + ": expected a MessagePack map, got " + std::string(type_name(map)));
  }
}

const msgpack::object* Fields::find(std::string_view key) const {
  const auto& m = map_.via.map;
  for (uint32_t i = 0; i < m.size; ++i) {
    const msgpack::object& k = m.ptr[i].key;
    if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key) {
      const msgpack::object& v = m.ptr[i].val;
      return v.type == msgpack::type::NIL ? nullptr : &v;
    }
  }
  return nullptr;
}

const msgpack::object& Fields::at(std::string_view key) const {
  const msgpack::object* o = find(key);
  if (o == nullptr) throw Error(what_ + ": missing field '" + std::string(key) + "'");
  return *o;
}

std::string Fields::get_bin(std::string_view key) const {
  return read_bin(at(key), path(key));
}

std::string Fields::path(std::string_view key) const {
  return what_ + "." + std::string(key);
}

MapWriter::MapWriter(uint32_t fields) : pk_(buf_) {
  pk_.pack_map(fields);
}

void MapWriter::pack(float v) {
  const uint32_t bits = std::bit_cast<uint32_t>(v);
  const char bytes[5] = {'\xca', static_cast<char>(bits >> 24), static_cast<char>(bits >> 16),
                         static_cast<char>(bits >> 8), static_cast<char>(bits)};
  buf_.write(bytes, sizeof bytes);
}

}  // namespace pie::protocol
