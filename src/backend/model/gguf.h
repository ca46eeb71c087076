// GGUF files (versions 2 and 3): typed metadata, the tensor table and aligned tensor data, read
// through a memory map and written by GgufWriter. Only little-endian files are supported.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "backend/model/mapped_file.h"
#include "backend/model/model_file.h"

namespace pie::model {

enum class GgufType : uint32_t {
  Uint8 = 0,
  Int8 = 1,
  Uint16 = 2,
  Int16 = 3,
  Uint32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  Uint64 = 10,
  Int64 = 11,
  Float64 = 12,
};

std::string_view gguf_type_name(GgufType type);

// One metadata value with its exact GGUF type (kept so a rewrite is byte-identical).
class GgufValue {
 public:
  using Array = std::vector<GgufValue>;

  GgufValue() = default;
  static GgufValue of_uint(GgufType type, uint64_t v);  // Uint8 .. Uint64
  static GgufValue of_int(GgufType type, int64_t v);    // Int8 .. Int64
  static GgufValue of_float(GgufType type, double v);   // Float32, Float64
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
  // An array of `element_type` (itself possibly Array: nested arrays).
  static GgufValue of_array(GgufType element_type, Array items);
  static GgufValue of_strings(const std::vector<std::string>& items);
  static GgufValue of_floats(const std::vector<float>& items);
  static GgufValue of_int32s(const std::vector<int32_t>& items);

  GgufType type() const { return type_; }
  GgufType element_type() const { return element_type_; }  // arrays only

  // Checked accessors: throw pie::Error naming the type found when it does not fit.
  uint64_t to_uint() const;  // any integer type holding a non-negative value
  int64_t to_int() const;    // any integer type that fits
  double to_float() const;   // any number
  bool to_bool() const;
  const std::string& str() const;
  const Array& array() const;

  // Human-readable rendering for `pie model info` (long arrays shortened).
  std::string to_text(size_t max_items = 8) const;

  bool operator==(const GgufValue&) const = default;

 private:
  GgufType type_ = GgufType::Uint8;
  GgufType element_type_ = GgufType::Uint8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> value_;
};

struct GgufMetadata {
  std::vector<std::pair<std::string, GgufValue>> entries;  // file order

  const GgufValue* find(std::string_view key) const;
  // The value of `key`; throws pie::Error naming the key when it is missing.
  const GgufValue& at(std::string_view key) const;
  // Replaces the value of `key`, or appends it.
  void set(std::string key, GgufValue value);
  bool operator==(const GgufMetadata&) const = default;
};

class GgufFile {
 public:
  // Maps and parses the file: header, metadata, tensor table (checking every tensor lies inside
  // the file at an aligned offset). Throws pie::Error describing the first problem found.
  static GgufFile open(const std::filesystem::path& path);

  uint32_t version() const { return version_; }
  const GgufMetadata& metadata() const { return metadata_; }
  // Tensors in table order; their data points into the mapped file.
  const std::vector<Tensor>& tensors() const { return tensors_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::shared_ptr<const MappedFile>& file() const { return file_; }

 private:
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  GgufMetadata metadata_;
  std::vector<Tensor> tensors_;
  std::shared_ptr<const MappedFile> file_;
};

// Writes GGUF version 3. Tensor data is produced by a callback per tensor straight into the output
// file (which is memory-mapped while written), so models larger than memory can be written;
// callbacks of different tensors may run on several threads at once.
class GgufWriter {
 public:
  // Fills `out` (exactly the tensor's byte size) with the tensor's data.
  using Producer = std::function<void(std::byte* out)>;

  explicit GgufWriter(uint64_t alignment = 32);

  GgufMetadata& metadata() { return metadata_; }
  // Adds a tensor; its byte size follows from type and shape (throws pie::Error when the row length
  // is not a multiple of the type's block).
  void add_tensor(std::string name, GgmlType type, std::vector<uint64_t> shape, Producer producer);
  // Adds a tensor by copying existing bytes.
  void add_tensor(const Tensor& tensor);

  // Writes the file (replacing it), running producers on up to `threads` threads.
  void write(const std::filesystem::path& path, unsigned threads = 1) const;

 private:
  struct Entry {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> shape;
    uint64_t nbytes;
    Producer producer;
  };
  uint64_t alignment_;
  GgufMetadata metadata_;
  std::vector<Entry> tensors_;
};

}  // namespace pie::model
