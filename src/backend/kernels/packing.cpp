// Weight matrices repacked into the layouts of table.h, for the levels whose kernels read them.
#include <cstring>

#include "backend/kernels/kernels.h"
#include "backend/kernels/table.h"
#include "backend/model/quant.h"

namespace pie::kernels {

namespace {

// Q8_0 in Lanes16 (table.h): block b of 16 rows, transposed so that each dword holds 4 consecutive
// elements of one row, stored as value + 128; rows past the end are zero.
void pack_q8_0(ThreadPool& pool, const WeightMatrix& w, std::byte* out) {
  const uint64_t blocks = w.cols / 32;
  const uint64_t groups = (w.rows + 15) / 16;
  pool.parallel_for(groups, [&](size_t g) {
    for (uint64_t b = 0; b < blocks; ++b) {
      auto* dst = reinterpret_cast<uint8_t*>(out + (g * blocks + b) * detail::kLanes16Q8BlockBytes);
      uint16_t scales[16] = {};
      for (uint64_t r = 0; r < 16 && 16 * g + r < w.rows; ++r) {
        const auto& blk =
            reinterpret_cast<const model::BlockQ8_0*>(w.data + (16 * g + r) * w.row_bytes)[b];
        for (int j = 0; j < 8; ++j) {
          for (int i = 0; i < 4; ++i) {
            dst[64 * j + 4 * r + i] = static_cast<uint8_t>(blk.qs[4 * j + i]) ^ 0x80U;
          }
        }
        scales[r] = blk.d;
      }
      std::memcpy(dst + 512, scales, sizeof scales);
    }
  });
}

// F16 and BF16 in Lanes16 (table.h): element k of 16 rows together; rows past the end are zero.
void pack_halves(ThreadPool& pool, const WeightMatrix& w, std::byte* out) {
  const uint64_t groups = (w.rows + 15) / 16;
  pool.parallel_for(groups, [&](size_t g) {
    auto* dst = reinterpret_cast<uint16_t*>(out) + g * w.cols * 16;
    for (uint64_t r = 0; r < 16 && 16 * g + r < w.rows; ++r) {
      const auto* row = reinterpret_cast<const uint16_t*>(w.data + (16 * g + r) * w.row_bytes);
      for (uint64_t k = 0; k < w.cols; ++k) dst[16 * k + r] = row[k];
    }
  });
}

}  // namespace

std::optional<PackedWeights> pack_weights(ThreadPool& pool, const WeightMatrix& w) {
  if (w.layout != WeightLayout::Rows || !detail::active_table().reads_lanes16(w.type)) {
    return std::nullopt;
  }
  PackedWeights p;
  const uint64_t groups = (w.rows + 15) / 16;
  if (w.type == model::GgmlType::F16 || w.type == model::GgmlType::BF16) {
    p.bytes.resize(groups * w.cols * 16 * sizeof(uint16_t));
    pack_halves(pool, w, p.bytes.data());
  } else {
    p.bytes.resize(groups * (w.cols / 32) * detail::kLanes16Q8BlockBytes);
    pack_q8_0(pool, w, p.bytes.data());
  }
  p.matrix = w;
  p.matrix.data = p.bytes.data();
  p.matrix.row_bytes = 0;
  p.matrix.layout = WeightLayout::Lanes16;
  return p;
}

}  // namespace pie::kernels
