#include "backend/kv/kv_cache.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "backend/kernels/kernels.h"
#include "common/error.h"

namespace pie::kv {

KvCache::KvCache(const KvCacheShape& shape) : shape_(shape) {
  if (shape.layers == 0 || shape.kv_heads == 0 || shape.head_dim == 0 || shape.page_size == 0 ||
      shape.pages == 0) {
    throw Error("KV cache: layers, kv heads, head size, page size and page count must be positive");
  }
  if (shape.type != model::GgmlType::F32 && shape.type != model::GgmlType::F16) {
    throw Error("KV cache: storage type must be F32 or F16, not " + model::type_name(shape.type));
  }
  const bool overflow =
      __builtin_mul_overflow(static_cast<size_t>(shape.kv_heads) * shape.page_size,
                             static_cast<size_t>(shape.head_dim) * element_bytes(),
                             &block_bytes_) ||
      __builtin_mul_overflow(block_bytes_, 2 * static_cast<size_t>(shape.pages), &total_bytes_) ||
      __builtin_mul_overflow(total_bytes_, static_cast<size_t>(shape.layers), &total_bytes_);
  if (overflow) throw Error("KV cache: the requested pool does not fit in the address space");
  // Anonymous memory: zero-filled and committed only where written, so a large pool costs nothing
  // until sequences use it.
  void* p = mmap(nullptr, total_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw Error("KV cache: cannot reserve " + std::to_string(total_bytes_ >> 20) +
                " MiB: " + std::strerror(errno) + " (use fewer or smaller pages)");
  }
  base_ = static_cast<std::byte*>(p);
}

KvCache::~KvCache() {
  munmap(base_, total_bytes_);
}

void KvCache::store(uint32_t layer, uint32_t page, uint32_t slot, const float* k,
                    const float* v) const {
  const size_t hd = shape_.head_dim;
  const size_t head_stride = static_cast<size_t>(shape_.page_size) * hd * element_bytes();
  std::byte* kb = keys(layer, page) + slot * hd * element_bytes();
  std::byte* vb = values(layer, page) + slot * hd * element_bytes();
  for (size_t h = 0; h < shape_.kv_heads; ++h) {
    kernels::store_row(k + h * hd, shape_.type, kb + h * head_stride, hd);
    kernels::store_row(v + h * hd, shape_.type, vb + h * head_stride, hd);
  }
}

}  // namespace pie::kv
