// BLAKE3 (https://github.com/BLAKE3-team/BLAKE3-specs), the hash Pie uses to name programs and
// blobs on the wire (lowercase hex of the 32-byte digest). Portable C++: no SIMD, one chunk at a
// time, about 0.6 GB/s on one x86-64 core (enough to hash uploads as their chunks arrive). All
// three modes (hash, keyed hash, derive key) and extended output are supported.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pie {

class Blake3 {
 public:
  static constexpr size_t kKeyLen = 32;
  static constexpr size_t kOutLen = 32;
  using Key = std::array<uint8_t, kKeyLen>;

  // Plain hashing.
  Blake3();
  // Keyed hashing (a MAC) with a 32-byte key.
  static Blake3 keyed(const Key& key);
  // Key derivation: `context` is a hard-coded, globally unique, application-specific string; the
  // key material is then fed with update().
  static Blake3 derive_key(std::string_view context);

  Blake3& update(std::span<const uint8_t> data);
  Blake3& update(std::string_view data);

  // Writes out.size() bytes of output (any length: the first 32 bytes are the usual digest). Does
  // not change the state, so more input may follow.
  void finalize(std::span<uint8_t> out) const;
  std::array<uint8_t, kOutLen> digest() const;
  std::string hex_digest() const;

 private:
  struct ChunkState {
    std::array<uint32_t, 8> cv;
    uint64_t counter = 0;
    std::array<uint8_t, 64> block{};
    uint8_t block_len = 0;
    uint8_t blocks_compressed = 0;
    uint32_t flags = 0;

    size_t len() const { return 64 * size_t{blocks_compressed} + block_len; }
  };
  struct Output;

  Blake3(const std::array<uint32_t, 8>& key_words, uint32_t flags);
  ChunkState new_chunk(uint64_t counter) const;
  static Output chunk_output(const ChunkState& chunk);
  void push_cv(std::array<uint32_t, 8> cv, uint64_t total_chunks);

  std::array<uint32_t, 8> key_;
  uint32_t flags_;
  ChunkState chunk_;
  // Chaining values of completed subtrees; 54 levels cover 2^64 bytes.
  std::array<std::array<uint32_t, 8>, 54> stack_{};
  uint8_t stack_len_ = 0;
};

// The BLAKE3 hash of `data` as 64 lowercase hex digits (the form Pie puts on the wire).
std::string blake3_hex(std::string_view data);
std::string blake3_hex(std::span<const uint8_t> data);

// Lowercase hex of arbitrary bytes.
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace pie
