#include "backend/model/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/error.h"

namespace pie::model {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxArrayDepth = 8;
constexpr uint32_t kMaxDims = 8;

bool is_uint(GgufType t) {
  return t == GgufType::Uint8 || t == GgufType::Uint16 || t == GgufType::Uint32 ||
         t == GgufType::Uint64;
}
bool is_int(GgufType t) {
  return t == GgufType::Int8 || t == GgufType::Int16 || t == GgufType::Int32 ||
         t == GgufType::Int64;
}
bool is_float(GgufType t) {
  return t == GgufType::Float32 || t == GgufType::Float64;
}

// Bytes of a scalar of type t (0 for strings and arrays, whose size varies).
size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::Uint8:
    case GgufType::Int8:
    case GgufType::Bool:
      return 1;
    case GgufType::Uint16:
    case GgufType::Int16:
      return 2;
    case GgufType::Uint32:
    case GgufType::Int32:
    case GgufType::Float32:
      return 4;
    case GgufType::Uint64:
    case GgufType::Int64:
    case GgufType::Float64:
      return 8;
    default:
      return 0;
  }
}

class Reader {
 public:
  explicit Reader(const MappedFile& file) : file_(file) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file_.path().string() + ": " + what + " (at byte " + std::to_string(pos_) + ")");
  }

  const std::byte* take(uint64_t n, const char* what) {
    if (n > file_.size() - pos_)
      fail(std::string("truncated GGUF file: ") + what + " runs past the end");
    const std::byte* p = file_.data() + pos_;
    pos_ += n;
    return p;
  }

  template <class T>
  T read(const char* what) {
    T v{};
    std::memcpy(&v, take(sizeof v, what), sizeof v);
    return v;
  }

  std::string string(const char* what) {
    const auto n = read<uint64_t>(what);
    const std::byte* p = take(n, what);
    return {reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
  }

  GgufType type(const char* what) {
    const auto t = read<uint32_t>(what);
    if (t > static_cast<uint32_t>(GgufType::Float64)) {
      fail(std::string("unknown metadata type ") + std::to_string(t) + " for " + what);
    }
    return static_cast<GgufType>(t);
  }

  GgufValue value(GgufType t, const std::string& key, int depth) {
    switch (t) {
      case GgufType::Uint8:
        return GgufValue::of_uint(t, read<uint8_t>(key.c_str()));
      case GgufType::Uint16:
        return GgufValue::of_uint(t, read<uint16_t>(key.c_str()));
      case GgufType::Uint32:
        return GgufValue::of_uint(t, read<uint32_t>(key.c_str()));
      case GgufType::Uint64:
        return GgufValue::of_uint(t, read<uint64_t>(key.c_str()));
      case GgufType::Int8:
        return GgufValue::of_int(t, read<int8_t>(key.c_str()));
      case GgufType::Int16:
        return GgufValue::of_int(t, read<int16_t>(key.c_str()));
      case GgufType::Int32:
        return GgufValue::of_int(t, read<int32_t>(key.c_str()));
      case GgufType::Int64:
        return GgufValue::of_int(t, read<int64_t>(key.c_str()));
      case GgufType::Float32:
        return GgufValue::of_float(t, read<float>(key.c_str()));
      case GgufType::Float64:
        return GgufValue::of_float(t, read<double>(key.c_str()));
      case GgufType::Bool: {
        const auto b = read<uint8_t>(key.c_str());
        if (b > 1) fail("boolean " + key + " holds " + std::to_string(b));
        return GgufValue::of_bool(b != 0);
      }
      case GgufType::String:
        return GgufValue::of_string(string(key.c_str()));
      case GgufType::Array: {
        if (depth >= kMaxArrayDepth) fail("arrays nested too deeply in " + key);
        const GgufType element = type(key.c_str());
        const auto count = read<uint64_t>(key.c_str());
        // Each element takes at least one byte (8 for strings and arrays): reject absurd counts
        // before allocating.
        const size_t min_size = scalar_size(element) == 0 ? 8 : scalar_size(element);
        if (count > (file_.size() - pos_) / min_size) fail("array " + key + " runs past the end");
        GgufValue::Array items;
        items.reserve(static_cast<size_t>(count));
        for (uint64_t i = 0; i < count; ++i) items.push_back(value(element, key, depth + 1));
        return GgufValue::of_array(element, std::move(items));
      }
    }
    fail("unknown metadata type for " + key);
  }

  uint64_t pos() const { return pos_; }

 private:
  const MappedFile& file_;
  uint64_t pos_ = 0;
};

// Appends little-endian encodings to a byte string.
class Sink {
 public:
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    out_.append(p, sizeof v);
  }
  void string(const std::string& s) {
    put<uint64_t>(s.size());
    out_ += s;
  }
  void value(const GgufValue& v) {
    switch (v.type()) {
      case GgufType::Uint8:
        return put(static_cast<uint8_t>(v.to_uint()));
      case GgufType::Uint16:
        return put(static_cast<uint16_t>(v.to_uint()));
      case GgufType::Uint32:
        return put(static_cast<uint32_t>(v.to_uint()));
      case GgufType::Uint64:
        return put(v.to_uint());
      case GgufType::Int8:
        return put(static_cast<int8_t>(v.to_int()));
      case GgufType::Int16:
        return put(static_cast<int16_t>(v.to_int()));
      case GgufType::Int32:
        return put(static_cast<int32_t>(v.to_int()));
      case GgufType::Int64:
        return put(v.to_int());
      case GgufType::Float32:
        return put(static_cast<float>(v.to_float()));
      case GgufType::Float64:
        return put(v.to_float());
      case GgufType::Bool:
        return put(static_cast<uint8_t>(v.to_bool() ? 1 : 0));
      case GgufType::String:
        return string(v.str());
      case GgufType::Array:
        put(static_cast<uint32_t>(v.element_type()));
        put<uint64_t>(v.array().size());
        for (const GgufValue& item : v.array()) value(item);
        return;
    }
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  static constexpr std::string_view kNames[] = {"u8",   "i8",  "u16",   "i16", "u32", "i32", "f32",
                                                "bool", "str", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "?";
}

GgufValue GgufValue::of_uint(GgufType type, uint64_t v) {
  GgufValue g;
  g.type_ = type;
  g.value_ = v;
  return g;
}
GgufValue GgufValue::of_int(GgufType type, int64_t v) {
  GgufValue g;
  g.type_ = type;
  g.value_ = v;
  return g;
}
GgufValue GgufValue::of_float(GgufType type, double v) {
  GgufValue g;
  g.type_ = type;
  g.value_ = type == GgufType::Float32 ? static_cast<double>(static_cast<float>(v)) : v;
  return g;
}
GgufValue GgufValue::of_bool(bool v) {
  GgufValue g;
  g.type_ = GgufType::Bool;
  g.value_ = v;
  return g;
}
GgufValue GgufValue::of_string(std::string v) {
  GgufValue g;
  g.type_ = GgufType::String;
  g.value_ = std::move(v);
  return g;
}
GgufValue GgufValue::of_array(GgufType element_type, Array items) {
  GgufValue g;
  g.type_ = GgufType::Array;
  g.element_type_ = element_type;
  g.value_ = std::move(items);
  return g;
}
GgufValue GgufValue::of_strings(const std::vector<std::string>& items) {
  Array a;
  a.reserve(items.size());
  for (const auto& s : items) a.push_back(of_string(s));
  return of_array(GgufType::String, std::move(a));
}
GgufValue GgufValue::of_floats(const std::vector<float>& items) {
  Array a;
  a.reserve(items.size());
  for (float f : items) a.push_back(of_float(GgufType::Float32, f));
  return of_array(GgufType::Float32, std::move(a));
}
GgufValue GgufValue::of_int32s(const std::vector<int32_t>& items) {
  Array a;
  a.reserve(items.size());
  for (int32_t i : items) a.push_back(of_int(GgufType::Int32, i));
  return of_array(GgufType::Int32, std::move(a));
}

namespace {
[[noreturn]] void wrong_type(GgufType found, const char* wanted) {
  throw Error(std::string("GGUF value of type ") + std::string(gguf_type_name(found)) + " where " +
              wanted + " was expected");
}
}  // namespace

uint64_t GgufValue::to_uint() const {
  if (is_uint(type_)) return std::get<uint64_t>(value_);
  if (is_int(type_) && std::get<int64_t>(value_) >= 0) {
    return static_cast<uint64_t>(std::get<int64_t>(value_));
  }
  wrong_type(type_, "a non-negative integer");
}

int64_t GgufValue::to_int() const {
  if (is_int(type_)) return std::get<int64_t>(value_);
  if (is_uint(type_) &&
      std::get<uint64_t>(value_) <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(std::get<uint64_t>(value_));
  }
  wrong_type(type_, "an integer");
}

double GgufValue::to_float() const {
  if (is_float(type_)) return std::get<double>(value_);
  if (is_uint(type_)) return static_cast<double>(std::get<uint64_t>(value_));
  if (is_int(type_)) return static_cast<double>(std::get<int64_t>(value_));
  wrong_type(type_, "a number");
}

bool GgufValue::to_bool() const {
  if (type_ != GgufType::Bool) wrong_type(type_, "a boolean");
  return std::get<bool>(value_);
}

const std::string& GgufValue::str() const {
  if (type_ != GgufType::String) wrong_type(type_, "a string");
  return std::get<std::string>(value_);
}

const GgufValue::Array& GgufValue::array() const {
  if (type_ != GgufType::Array) wrong_type(type_, "an array");
  return std::get<Array>(value_);
}

std::string GgufValue::to_text(size_t max_items) const {
  std::ostringstream s;
  switch (type_) {
    case GgufType::String: {
      std::string v = str();
      if (v.size() > 80) v = v.substr(0, 77) + "...";
      for (char& c : v) {
        if (c == '\n') c = ' ';
      }
      s << '"' << v << '"';
      break;
    }
    case GgufType::Array: {
      const Array& a = array();
      s << gguf_type_name(element_type_) << "[" << a.size() << "] [";
      for (size_t i = 0; i < a.size() && i < max_items; ++i)
        s << (i ? ", " : "") << a[i].to_text(max_items);
      s << (a.size() > max_items ? ", ...]" : "]");
      break;
    }
    case GgufType::Bool:
      s << (to_bool() ? "true" : "false");
      break;
    case GgufType::Float32:
    case GgufType::Float64:
      s << to_float();
      break;
    default:
      if (is_uint(type_)) {
        s << to_uint();
      } else {
        s << to_int();
      }
  }
  return s.str();
}

const GgufValue* GgufMetadata::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

const GgufValue& GgufMetadata::at(std::string_view key) const {
  if (const GgufValue* v = find(key)) return *v;
  throw Error("GGUF metadata key " + std::string(key) + " is missing");
}

void GgufMetadata::set(std::string key, GgufValue value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
  GgufFile g;
  g.file_ = MappedFile::open(path);
  Reader r(*g.file_);
  if (g.file_->size() < 24 || r.read<uint32_t>("magic") != kMagic) r.fail("not a GGUF file");
  g.version_ = r.read<uint32_t>("version");
  if (g.version_ == 1) r.fail("GGUF version 1 is not supported (versions 2 and 3 are)");
  if ((g.version_ & 0xFFFF) == 0) r.fail("big-endian GGUF files are not supported");
  if (g.version_ > 3) r.fail("GGUF version " + std::to_string(g.version_) + " is not supported");
  const auto n_tensors = r.read<uint64_t>("tensor count");
  const auto n_kv = r.read<uint64_t>("metadata count");
  if (n_tensors > g.file_->size() / 8 || n_kv > g.file_->size() / 8) r.fail("implausible counts");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.string("metadata key");
    const GgufType t = r.type(key.c_str());
    GgufValue v = r.value(t, key, 0);
    if (g.metadata_.find(key) != nullptr) r.fail("metadata key " + key + " appears twice");
    g.metadata_.entries.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = g.metadata_.find("general.alignment")) {
    g.alignment_ = a->to_uint();
    if (g.alignment_ == 0 || (g.alignment_ & (g.alignment_ - 1)) != 0) {
      r.fail("general.alignment " + std::to_string(g.alignment_) + " is not a power of two");
    }
  }

  std::vector<uint64_t> offsets;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    Tensor t;
    t.name = r.string("tensor name");
    const auto n_dims = r.read<uint32_t>("tensor dimensions");
    if (n_dims == 0 || n_dims > kMaxDims) {
      r.fail("tensor " + t.name + " has " + std::to_string(n_dims) + " dimensions");
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = r.read<uint64_t>("tensor shape");
      if (ne == 0 || ne > (uint64_t{1} << 40) || elements > (uint64_t{1} << 50) / ne) {
        r.fail("tensor " + t.name + " has an implausible shape");
      }
      elements *= ne;
      t.shape.push_back(ne);
    }
    t.type = static_cast<GgmlType>(r.read<uint32_t>("tensor type"));
    if (!type_traits(t.type)) r.fail("tensor " + t.name + " has unknown type " + type_name(t.type));
    try {
      t.nbytes = row_bytes(t.type, t.shape[0]) * (elements / t.shape[0]);
    } catch (const Error& e) {
      r.fail("tensor " + t.name + ": " + e.what());
    }
    offsets.push_back(r.read<uint64_t>("tensor offset"));
    g.tensors_.push_back(std::move(t));
  }
  g.data_offset_ = align_up(r.pos(), g.alignment_);
  for (size_t i = 0; i < g.tensors_.size(); ++i) {
    Tensor& t = g.tensors_[i];
    const uint64_t offset = offsets[i];
    if (offset % g.alignment_ != 0) r.fail("tensor " + t.name + " is not aligned");
    if (g.data_offset_ > g.file_->size() || offset > g.file_->size() - g.data_offset_ ||
        t.nbytes > g.file_->size() - g.data_offset_ - offset) {
      r.fail("tensor " + t.name + " lies beyond the end of the file");
    }
    t.data = g.file_->data() + g.data_offset_ + offset;
  }
  return g;
}

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw Error("GGUF alignment must be a power of two");
  }
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<uint64_t> shape,
                            Producer producer) {
  if (shape.empty()) throw Error("tensor " + name + " has no shape");
  uint64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= shape[i];
  const uint64_t nbytes = row_bytes(type, shape[0]) * rows;
  tensors_.push_back({std::move(name), type, std::move(shape), nbytes, std::move(producer)});
}

void GgufWriter::add_tensor(const Tensor& tensor) {
  const std::byte* data = tensor.data;
  const uint64_t n = tensor.nbytes;
  add_tensor(tensor.name, tensor.type, tensor.shape,
             [data, n](std::byte* out) { std::memcpy(out, data, n); });
}

void GgufWriter::write(const std::filesystem::path& path, unsigned threads) const {
  GgufMetadata metadata = metadata_;
  if (alignment_ != 32 || metadata.find("general.alignment") != nullptr) {
    metadata.set("general.alignment",
                 GgufValue::of_uint(GgufType::Uint32, static_cast<uint32_t>(alignment_)));
  }
  Sink head;
  head.put(kMagic);
  head.put<uint32_t>(3);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(metadata.entries.size());
  for (const auto& [key, value] : metadata.entries) {
    head.string(key);
    head.put(static_cast<uint32_t>(value.type()));
    head.value(value);
  }
  std::vector<uint64_t> offsets;
  uint64_t offset = 0;
  for (const Entry& t : tensors_) {
    head.string(t.name);
    head.put(static_cast<uint32_t>(t.shape.size()));
    for (uint64_t d : t.shape) head.put(d);
    head.put(static_cast<uint32_t>(t.type));
    head.put(offset);
    offsets.push_back(offset);
    offset = align_up(offset + t.nbytes, alignment_);
  }
  const uint64_t data_offset = align_up(head.bytes().size(), alignment_);
  const uint64_t total = data_offset + offset;

  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot create " + path.string() + ": " + std::strerror(errno));
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error("cannot size " + path.string() + ": " + std::strerror(err));
  }
  void* map = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot map " + path.string() + ": " + std::strerror(errno));
  auto* base = static_cast<std::byte*>(map);
  std::memcpy(base, head.bytes().data(), head.bytes().size());

  // Producers run in parallel, each tensor on one thread; an exception stops the others early.
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (size_t i = next++; i < tensors_.size(); i = next++) {
      try {
        tensors_[i].producer(base + data_offset + offsets[i]);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = tensors_.size();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  ::munmap(map, total);
  if (failure) {
    std::filesystem::remove(path);
    std::rethrow_exception(failure);
  }
}

}  // namespace pie::model
