#include "common/blake3.h"

#include <algorithm>
#include <cstring>

namespace pie {

namespace {

constexpr size_t kBlockLen = 64;
constexpr size_t kChunkLen = 1024;

constexpr uint32_t kChunkStart = 1U << 0;
constexpr uint32_t kChunkEnd = 1U << 1;
constexpr uint32_t kParent = 1U << 2;
constexpr uint32_t kRoot = 1U << 3;
constexpr uint32_t kKeyedHash = 1U << 4;
constexpr uint32_t kDeriveKeyContext = 1U << 5;
constexpr uint32_t kDeriveKeyMaterial = 1U << 6;

constexpr std::array<uint32_t, 8> kIv = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                         0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// Message word order of each of the 7 rounds: the spec's permutation applied repeatedly, unrolled
// so that rounds index the block directly instead of shuffling it.
constexpr uint8_t kSchedule[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

using Words8 = std::array<uint32_t, 8>;
using Words16 = std::array<uint32_t, 16>;

inline uint32_t rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

inline uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

inline void store_le32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

Words16 load_block(const uint8_t* block) {
  Words16 m;
  for (size_t i = 0; i < 16; ++i) m[i] = load_le32(block + 4 * i);
  return m;
}

inline void g(Words16& s, size_t a, size_t b, size_t c, size_t d, uint32_t x, uint32_t y) {
  s[a] = s[a] + s[b] + x;
  s[d] = rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + y;
  s[d] = rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 7);
}

Words16 compress(const Words8& cv, const Words16& m, uint64_t counter, uint32_t block_len,
                 uint32_t flags) {
  Words16 s = {cv[0],
               cv[1],
               cv[2],
               cv[3],
               cv[4],
               cv[5],
               cv[6],
               cv[7],
               kIv[0],
               kIv[1],
               kIv[2],
               kIv[3],
               static_cast<uint32_t>(counter),
               static_cast<uint32_t>(counter >> 32),
               block_len,
               flags};
  for (const auto& r : kSchedule) {
    g(s, 0, 4, 8, 12, m[r[0]], m[r[1]]);
    g(s, 1, 5, 9, 13, m[r[2]], m[r[3]]);
    g(s, 2, 6, 10, 14, m[r[4]], m[r[5]]);
    g(s, 3, 7, 11, 15, m[r[6]], m[r[7]]);
    g(s, 0, 5, 10, 15, m[r[8]], m[r[9]]);
    g(s, 1, 6, 11, 12, m[r[10]], m[r[11]]);
    g(s, 2, 7, 8, 13, m[r[12]], m[r[13]]);
    g(s, 3, 4, 9, 14, m[r[14]], m[r[15]]);
  }
  for (size_t i = 0; i < 8; ++i) {
    s[i] ^= s[i + 8];
    s[i + 8] ^= cv[i];
  }
  return s;
}

Words8 first8(const Words16& w) {
  Words8 out;
  std::copy_n(w.begin(), 8, out.begin());
  return out;
}

Words8 key_words(std::span<const uint8_t, 32> key) {
  Words8 w;
  for (size_t i = 0; i < 8; ++i) w[i] = load_le32(key.data() + 4 * i);
  return w;
}

}  // namespace

// The last compression of a (sub)tree, kept unevaluated: as a chaining value it is compressed once,
// as the root it is compressed with increasing counters to produce any amount of output.
struct Blake3::Output {
  Words8 cv;
  Words16 block;
  uint64_t counter;
  uint32_t block_len;
  uint32_t flags;

  Words8 chaining_value() const { return first8(compress(cv, block, counter, block_len, flags)); }

  void root_bytes(std::span<uint8_t> out) const {
    uint64_t block_counter = 0;
    size_t pos = 0;
    while (pos < out.size()) {
      const Words16 words = compress(cv, block, block_counter++, block_len, flags | kRoot);
      uint8_t bytes[kBlockLen];
      for (size_t i = 0; i < 16; ++i) store_le32(bytes + 4 * i, words[i]);
      const size_t take = std::min(kBlockLen, out.size() - pos);
      std::memcpy(out.data() + pos, bytes, take);
      pos += take;
    }
  }
};

Blake3::Blake3() : Blake3(kIv, 0) {}

Blake3::Blake3(const std::array<uint32_t, 8>& key_words, uint32_t flags)
    : key_(key_words), flags_(flags), chunk_(new_chunk(0)) {}

Blake3 Blake3::keyed(const Key& key) {
  return Blake3(key_words(key), kKeyedHash);
}

Blake3 Blake3::derive_key(std::string_view context) {
  Blake3 context_hasher(kIv, kDeriveKeyContext);
  context_hasher.update(context);
  const auto context_key = context_hasher.digest();
  return Blake3(key_words(context_key), kDeriveKeyMaterial);
}

Blake3::ChunkState Blake3::new_chunk(uint64_t counter) const {
  ChunkState chunk;
  chunk.cv = key_;
  chunk.counter = counter;
  chunk.flags = flags_;
  return chunk;
}

Blake3::Output Blake3::chunk_output(const ChunkState& chunk) {
  const uint32_t start = chunk.blocks_compressed == 0 ? kChunkStart : 0;
  return Output{chunk.cv, load_block(chunk.block.data()), chunk.counter, chunk.block_len,
                chunk.flags | start | kChunkEnd};
}

void Blake3::push_cv(std::array<uint32_t, 8> cv, uint64_t total_chunks) {
  // Each trailing zero bit of the chunk count is a completed subtree to merge with its left
  // sibling.
  while ((total_chunks & 1) == 0) {
    Words16 block;
    std::copy(stack_[stack_len_ - 1].begin(), stack_[stack_len_ - 1].end(), block.begin());
    std::copy(cv.begin(), cv.end(), block.begin() + 8);
    --stack_len_;
    cv = first8(compress(key_, block, 0, kBlockLen, flags_ | kParent));
    total_chunks >>= 1;
  }
  stack_[stack_len_++] = cv;
}

Blake3& Blake3::update(std::string_view data) {
  return update(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Blake3& Blake3::update(std::span<const uint8_t> data) {
  const uint8_t* in = data.data();
  size_t left = data.size();
  while (left > 0) {
    if (chunk_.len() == kChunkLen) {
      const uint64_t total = chunk_.counter + 1;
      push_cv(chunk_output(chunk_).chaining_value(), total);
      chunk_ = new_chunk(total);
    }
    // A block is compressed only once more input follows it: the last block of a chunk needs the
    // CHUNK_END flag, which is unknown until then.
    if (chunk_.block_len == kBlockLen) {
      const uint32_t start = chunk_.blocks_compressed == 0 ? kChunkStart : 0;
      chunk_.cv = first8(compress(chunk_.cv, load_block(chunk_.block.data()), chunk_.counter,
                                  kBlockLen, chunk_.flags | start));
      ++chunk_.blocks_compressed;
      chunk_.block_len = 0;
    }
    // Whole blocks straight from the input, keeping at least one byte back for the rule above.
    while (chunk_.block_len == 0 && left > kBlockLen && chunk_.len() + kBlockLen < kChunkLen) {
      const uint32_t start = chunk_.blocks_compressed == 0 ? kChunkStart : 0;
      chunk_.cv = first8(
          compress(chunk_.cv, load_block(in), chunk_.counter, kBlockLen, chunk_.flags | start));
      ++chunk_.blocks_compressed;
      in += kBlockLen;
      left -= kBlockLen;
    }
    const size_t take = std::min(kBlockLen - chunk_.block_len, left);
    std::memcpy(chunk_.block.data() + chunk_.block_len, in, take);
    chunk_.block_len = static_cast<uint8_t>(chunk_.block_len + take);
    in += take;
    left -= take;
  }
  return *this;
}

void Blake3::finalize(std::span<uint8_t> out) const {
  ChunkState last = chunk_;
  // chunk_output reads the whole 64-byte block: bytes past block_len must be zero.
  std::fill(last.block.begin() + last.block_len, last.block.end(), 0);
  Output output = chunk_output(last);
  for (size_t i = stack_len_; i-- > 0;) {
    Words16 block;
    std::copy(stack_[i].begin(), stack_[i].end(), block.begin());
    const Words8 right = output.chaining_value();
    std::copy(right.begin(), right.end(), block.begin() + 8);
    output = Output{key_, block, 0, kBlockLen, flags_ | kParent};
  }
  output.root_bytes(out);
}

std::array<uint8_t, Blake3::kOutLen> Blake3::digest() const {
  std::array<uint8_t, kOutLen> out;
  finalize(out);
  return out;
}

std::string Blake3::hex_digest() const {
  const auto d = digest();
  return to_hex(d);
}

std::string blake3_hex(std::string_view data) {
  return Blake3().update(data).hex_digest();
}

std::string blake3_hex(std::span<const uint8_t> data) {
  return Blake3().update(data).hex_digest();
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return out;
}

}  // namespace pie
