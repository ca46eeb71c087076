// The reference implementations: plain loops written for clarity, accumulating in double where it
// matters. They are the ground truth of the kernel tests and the fallback on CPUs without AVX2.
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/kernels/table.h"
#include "backend/model/quant.h"

namespace pie::kernels::detail {
namespace {

using model::GgmlType;

// Packed activation row: k int8 values, then one float scale per block of 32.
constexpr uint64_t kActBlock = 32;

// Only Int8Blocks reaches the packing: int8_or_float_acts gives no other packed format.
size_t packed_act_bytes(ActFormat /*format*/, uint64_t k) {
  return k + k / kActBlock * sizeof(float);
}

void pack_acts(ActFormat /*format*/, const float* x, uint64_t k, std::byte* out) {
  auto* q = reinterpret_cast<int8_t*>(out);
  auto* d = reinterpret_cast<float*>(out + k);
  for (uint64_t b = 0; b < k / kActBlock; ++b) {
    float amax = 0;
    for (uint64_t i = 0; i < kActBlock; ++i)
      amax = std::fmax(amax, std::fabs(x[b * kActBlock + i]));
    const float scale = amax / 127.0F;
    const float inv = scale != 0 ? 1.0F / scale : 0.0F;
    d[b] = scale;
    for (uint64_t i = 0; i < kActBlock; ++i) {
      q[b * kActBlock + i] = static_cast<int8_t>(std::lrintf(x[b * kActBlock + i] * inv));
    }
  }
}

bool reads_lanes16(GgmlType /*type*/) {
  return false;
}

// Dot product of one quantised weight row with one packed activation row: per block, the exact
// integer sum times the weight and activation scales.
double dot_quantized(GgmlType type, const std::byte* w, const std::byte* act, uint64_t k) {
  const auto* q = reinterpret_cast<const int8_t*>(act);
  const auto* d = reinterpret_cast<const float*>(act + k);
  double acc = 0;
  switch (type) {
    case GgmlType::Q8_0: {
      const auto* blocks = reinterpret_cast<const model::BlockQ8_0*>(w);
      for (uint64_t b = 0; b < k / 32; ++b) {
        int32_t isum = 0;
        for (int i = 0; i < 32; ++i) isum += blocks[b].qs[i] * q[b * 32 + i];
        acc += static_cast<double>(model::fp16_to_fp32(blocks[b].d)) * d[b] * isum;
      }
      break;
    }
    case GgmlType::Q4_0: {
      const auto* blocks = reinterpret_cast<const model::BlockQ4_0*>(w);
      for (uint64_t b = 0; b < k / 32; ++b) {
        int32_t isum = 0;
        for (int i = 0; i < 16; ++i) {
          isum += ((blocks[b].qs[i] & 0xF) - 8) * q[b * 32 + i];
          isum += ((blocks[b].qs[i] >> 4) - 8) * q[b * 32 + 16 + i];
        }
        acc += static_cast<double>(model::fp16_to_fp32(blocks[b].d)) * d[b] * isum;
      }
      break;
    }
    case GgmlType::Q4_K: {
      const auto* blocks = reinterpret_cast<const model::BlockQ4_K*>(w);
      for (uint64_t sb = 0; sb < k / 256; ++sb) {
        const model::BlockQ4_K& blk = blocks[sb];
        const double dd = model::fp16_to_fp32(blk.d);
        const double dmin = model::fp16_to_fp32(blk.dmin);
        for (int j = 0; j < 8; ++j) {  // sub-blocks of 32 = activation blocks
          uint8_t sc = 0;
          uint8_t mn = 0;
          model::scale_min_k4(j, blk.scales, &sc, &mn);
          const uint8_t* qs = blk.qs + 32 * (j / 2);
          const uint64_t b = sb * 8 + j;
          int32_t isum = 0;
          int32_t xsum = 0;
          for (int i = 0; i < 32; ++i) {
            const int wq = j % 2 == 0 ? (qs[i] & 0xF) : (qs[i] >> 4);
            isum += wq * q[b * 32 + i];
            xsum += q[b * 32 + i];
          }
          acc += d[b] * (dd * sc * isum - dmin * mn * xsum);
        }
      }
      break;
    }
    case GgmlType::Q6_K: {
      const auto* blocks = reinterpret_cast<const model::BlockQ6_K*>(w);
      for (uint64_t sb = 0; sb < k / 256; ++sb) {
        const model::BlockQ6_K& blk = blocks[sb];
        const double dd = model::fp16_to_fp32(blk.d);
        int wq[256];
        for (int half = 0; half < 2; ++half) {
          const uint8_t* ql = blk.ql + 64 * half;
          const uint8_t* qh = blk.qh + 32 * half;
          for (int l = 0; l < 32; ++l) {
            wq[128 * half + l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            wq[128 * half + l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            wq[128 * half + l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            wq[128 * half + l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          }
        }
        for (int j = 0; j < 16; ++j) {  // sub-blocks of 16, two per activation block
          int32_t isum = 0;
          for (int i = 0; i < 16; ++i) isum += wq[16 * j + i] * q[sb * 256 + 16 * j + i];
          acc += dd * blk.scales[j] * d[sb * 8 + j / 2] * isum;
        }
      }
      break;
    }
    default:
      break;
  }
  return acc;
}

void matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  const bool packed = int8_or_float_acts(a.type, a.layout) == ActFormat::Int8Blocks;
  std::vector<float> row(packed ? 0 : a.k);
  for (size_t n = n_begin; n < n_end; ++n) {
    const std::byte* w = a.w + n * a.w_row_bytes;
    if (!packed) model::dequantize_row(a.type, w, row.data(), static_cast<int64_t>(a.k));
    for (size_t m = 0; m < a.m; ++m) {
      double acc = 0;
      if (packed) {
        acc = dot_quantized(a.type, w, a.packed_x + m * a.packed_x_row_bytes, a.k);
      } else {
        const float* x = a.x + m * a.ldx;
        for (uint64_t i = 0; i < a.k; ++i) acc += static_cast<double>(x[i]) * row[i];
      }
      float& y = a.y[m * a.ldy + n];
      y = a.accumulate ? y + static_cast<float>(acc) : static_cast<float>(acc);
    }
  }
}

void rmsnorm(const float* x, const float* w, float eps, float* y, size_t n) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void swiglu(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0F + std::exp(-gate[i])) * up[i];
}

void add(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void softmax(const float* x, size_t n, float scale, float* out) {
  float mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) mx = std::fmax(mx, x[i]);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    out[i] = std::exp((x[i] - mx) * scale);
    sum += out[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < n; ++i) out[i] *= inv;
}

void store_row(const float* x, GgmlType type, std::byte* dst, size_t n) {
  if (type == GgmlType::F16) {
    auto* h = reinterpret_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; ++i) h[i] = model::fp32_to_fp16(x[i]);
  } else {
    std::memcpy(dst, x, n * sizeof(float));
  }
}

float load_elem(const std::byte* p, GgmlType type, size_t i) {
  if (type == GgmlType::F16) return model::fp16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]);
  return reinterpret_cast<const float*>(p)[i];
}

void attention(const AttentionArgs& a) {
  const size_t elem = a.kv.type == GgmlType::F16 ? 2 : 4;
  const size_t ps = a.kv.page_size;
  const size_t hd = a.head_dim;
  auto key = [&](size_t slot) {
    return a.kv.k_pages[slot / ps] + ((a.kv_head * ps) + slot % ps) * hd * elem;
  };
  auto value = [&](size_t slot) {
    return a.kv.v_pages[slot / ps] + ((a.kv_head * ps) + slot % ps) * hd * elem;
  };
  std::vector<double> out(hd);
  for (size_t t = 0; t < a.count; ++t) {
    const size_t len = a.context + a.first + t + 1;
    std::vector<bool> attend(len, true);
    if (a.mask_runs != nullptr && a.mask_runs[t] != nullptr) {
      size_t pos = 0;
      for (size_t r = 0; r < a.mask_sizes[t]; ++r) {
        for (uint32_t i = 0; i < a.mask_runs[t][r]; ++i) attend[pos++] = r % 2 == 0;
      }
    }
    for (size_t g = 0; g < a.group; ++g) {
      const size_t head = a.kv_head * a.group + g;
      const float* q = a.q + t * a.ldq + head * hd;
      std::vector<double> score(len, -INFINITY);
      double max_score = -INFINITY;
      for (size_t j = 0; j < len; ++j) {
        if (!attend[j]) continue;
        double s = 0;
        for (size_t i = 0; i < hd; ++i)
          s += static_cast<double>(q[i]) * load_elem(key(j), a.kv.type, i);
        score[j] = s * a.scale;
        max_score = std::fmax(max_score, score[j]);
      }
      double sum = 0;
      std::fill(out.begin(), out.end(), 0.0);
      for (size_t j = 0; j < len; ++j) {
        if (!attend[j]) continue;
        const double p = std::exp(score[j] - max_score);
        sum += p;
        for (size_t i = 0; i < hd; ++i) out[i] += p * load_elem(value(j), a.kv.type, i);
      }
      float* o = a.out + t * a.ldout + head * hd;
      for (size_t i = 0; i < hd; ++i) o[i] = sum > 0 ? static_cast<float>(out[i] / sum) : 0.0F;
    }
  }
}

}  // namespace

const KernelTable& scalar_table() {
  static const KernelTable table{
      .act_format = int8_or_float_acts,
      .packed_act_bytes = packed_act_bytes,
      .pack_acts = pack_acts,
      .reads_lanes16 = reads_lanes16,
      .matmul = matmul,
      .rmsnorm = rmsnorm,
      .swiglu = swiglu,
      .add = add,
      .softmax = softmax,
      .store_row = store_row,
      .attention = attention,
  };
  return table;
}

}  // namespace pie::kernels::detail
