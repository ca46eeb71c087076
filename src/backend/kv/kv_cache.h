// The paged KV cache: a pool of pages, each holding `page_size` token slots of keys and values for
// every layer. Sequences own no storage: a forward pass names its pages (a page table), so pages
// can be shared between sequences and moved between owners without copying.
//
// Layout: one block per (layer, page, K or V), [kv_head][slot][head_dim] elements of F32 or F16,
// blocks ordered by layer, then page, then K before V. A layer's pages are contiguous, and within a
// page the keys of one head are contiguous, which is the order attention reads them in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "backend/model/ggml_type.h"

namespace pie::kv {

struct KvCacheShape {
  uint32_t layers = 0;
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t page_size = 0;
  uint32_t pages = 0;
  model::GgmlType type = model::GgmlType::F32;  // F32 or F16
};

class KvCache {
 public:
  // Reserves the whole pool (memory is committed as pages are first written). Throws pie::Error for
  // a zero dimension, an unsupported type, or a pool the machine cannot map.
  explicit KvCache(const KvCacheShape& shape);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheShape& shape() const { return shape_; }
  size_t element_bytes() const { return shape_.type == model::GgmlType::F16 ? 2 : 4; }
  // Bytes of one K (or V) block of one page of one layer.
  size_t block_bytes() const { return block_bytes_; }
  size_t total_bytes() const { return total_bytes_; }

  // The K or V block of `page` in `layer` (no range checks: callers validate page ids).
  std::byte* keys(uint32_t layer, uint32_t page) const { return block(layer, page, 0); }
  std::byte* values(uint32_t layer, uint32_t page) const { return block(layer, page, 1); }

  // Writes one token's keys and values (kv_heads * head_dim floats each) into `slot` of `page`.
  void store(uint32_t layer, uint32_t page, uint32_t slot, const float* k, const float* v) const;

 private:
  std::byte* block(uint32_t layer, uint32_t page, int kind) const {
    return base_ + ((static_cast<size_t>(layer) * shape_.pages + page) * 2 + kind) * block_bytes_;
  }

  KvCacheShape shape_;
  size_t block_bytes_ = 0;
  size_t total_bytes_ = 0;
  std::byte* base_ = nullptr;
};

}  // namespace pie::kv
