// The ISA-independent side of the kernels: argument checks, work splitting over the thread pool,
// and the dispatch to the table of the instruction-set level in use.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backend/kernels/isa.h"
#include "backend/kernels/kernels.h"
#include "backend/kernels/table.h"
#include "common/brle.h"
#include "common/error.h"

namespace pie::kernels {

using model::GgmlType;

namespace detail {

std::byte* thread_scratch(unsigned slot, size_t bytes) {
  struct Buffer {
    std::unique_ptr<std::byte, decltype(&std::free)> data{nullptr, &std::free};
    size_t size = 0;
  };
  constexpr unsigned kSlots = 5;
  thread_local Buffer buffers[kSlots];
  Buffer& b = buffers[slot % kSlots];
  if (b.size < bytes) {
    const size_t size = (std::max(bytes, b.size * 2) + 63) / 64 * 64;
    b.data.reset(static_cast<std::byte*>(std::aligned_alloc(64, size)));
    if (!b.data)
      throw Error("out of memory for kernel scratch (" + std::to_string(size) + " bytes)");
    b.size = size;
  }
  return b.data.get();
}

ActFormat int8_or_float_acts(GgmlType type, WeightLayout /*layout*/) {
  const bool quantised = type == GgmlType::Q8_0 || type == GgmlType::Q4_0 ||
                         type == GgmlType::Q4_K || type == GgmlType::Q6_K;
  return quantised ? ActFormat::Int8Blocks : ActFormat::Floats;
}

const KernelTable& active_table() {
  switch (active_isa()) {
    case Isa::Amx:
      return amx_table();
    case Isa::Avx512:
      return avx512_table();
    case Isa::Avx2:
      return avx2_table();
    case Isa::Scalar:
      break;
  }
  return scalar_table();
}

}  // namespace detail

namespace {

// Scratch slots: 0 and 1 belong to the per-ISA matmul (every thread), 2 and 4 to the packed
// activations of a matmul call (calling thread; by ActFormat), 3 to attention scores (every
// thread).
constexpr unsigned kPackedActsSlots[detail::kActFormats] = {/*floats: none*/ 0, 2, 4};
constexpr unsigned kAttentionSlot = 3;

// Splits `rows` rows into about 8 pieces per thread (for balance when a core is busy elsewhere),
// in multiples of 64 rows (the widest tile of weight rows, avx512's packed F16 output lanes).
size_t rows_per_task(size_t total_rows, size_t threads) {
  const size_t target = total_rows / (8 * threads);
  return std::clamp<size_t>((target + 63) / 64 * 64, 64, 512);
}

}  // namespace

bool supported_weight_type(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q4_K:
    case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

WeightMatrix weight_matrix(const model::Tensor& tensor) {
  if (!supported_weight_type(tensor.type)) {
    throw Error("tensor " + tensor.name + " has type " + model::type_name(tensor.type) +
                ", which the CPU kernels cannot multiply (supported: F32, F16, BF16, Q8_0, Q4_0, "
                "Q4_K, Q6_K)");
  }
  if (tensor.shape.size() != 2) {
    throw Error("tensor " + tensor.name + " is not a matrix (" +
                std::to_string(tensor.shape.size()) + " dimensions)");
  }
  WeightMatrix w;
  w.type = tensor.type;
  w.data = tensor.data;
  w.cols = tensor.shape[0];
  w.rows = tensor.shape[1];
  w.row_bytes = model::row_bytes(tensor.type, w.cols);
  if (w.row_bytes * w.rows > tensor.nbytes) {
    throw Error("tensor " + tensor.name + " holds fewer bytes than its shape needs");
  }
  return w;
}

void matmul(ThreadPool& pool, const float* x, size_t ldx, size_t rows,
            std::span<const MatmulOutput> outputs) {
  if (rows == 0 || outputs.empty()) return;
  const detail::KernelTable& t = detail::active_table();
  const uint64_t k = outputs[0].w->cols;
  bool needs[detail::kActFormats] = {};
  for (const MatmulOutput& o : outputs) {
    if (o.w->cols != k) throw Error("matmul: outputs sharing an input must have equal row lengths");
    if (o.ldy < o.w->rows) throw Error("matmul: output stride shorter than the output row");
    needs[static_cast<unsigned>(t.act_format(o.w->type, o.w->layout))] = true;
    if (o.w->layout != WeightLayout::Rows && !t.reads_lanes16(o.w->type)) {
      throw Error(std::string("matmul: these weights were packed for another instruction-set "
                              "level than the one in use (") +
                  std::string(isa_name(active_isa())) + ")");
    }
  }
  if (ldx < k) throw Error("matmul: input stride shorter than the input row");

  // The inputs in each packed form some output reads, each packed once for all of them.
  std::byte* packed[detail::kActFormats] = {};
  size_t packed_row_bytes[detail::kActFormats] = {};
  for (unsigned f = 1; f < detail::kActFormats; ++f) {
    if (!needs[f]) continue;
    const auto format = static_cast<detail::ActFormat>(f);
    if (format == detail::ActFormat::Int8Blocks && k % 32 != 0)
      throw Error("matmul: quantised weights need rows of a multiple of 32 elements");
    packed_row_bytes[f] = (t.packed_act_bytes(format, k) + 63) / 64 * 64;
    packed[f] = detail::thread_scratch(kPackedActsSlots[f], rows * packed_row_bytes[f]);
    std::byte* out = packed[f];
    const size_t row_bytes = packed_row_bytes[f];
    pool.parallel_for(rows,
                      [&](size_t r) { t.pack_acts(format, x + r * ldx, k, out + r * row_bytes); });
  }

  struct Task {
    size_t output;
    size_t n_begin;
    size_t n_end;
  };
  size_t total_rows = 0;
  for (const MatmulOutput& o : outputs) total_rows += o.w->rows;
  const size_t step = rows_per_task(total_rows, pool.size());
  std::vector<Task> tasks;
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (size_t n = 0; n < outputs[i].w->rows; n += step) {
      tasks.push_back({i, n, std::min<size_t>(n + step, outputs[i].w->rows)});
    }
  }
  pool.parallel_for(tasks.size(), [&](size_t i) {
    const Task& task = tasks[i];
    const MatmulOutput& o = outputs[task.output];
    detail::MatmulArgs a{};
    a.type = o.w->type;
    a.layout = o.w->layout;
    a.w = o.w->data;
    a.w_row_bytes = o.w->row_bytes;
    a.k = k;
    a.x = x;
    a.ldx = ldx;
    const auto format = static_cast<unsigned>(t.act_format(o.w->type, o.w->layout));
    a.packed_x = packed[format];
    a.packed_x_row_bytes = packed_row_bytes[format];
    a.m = rows;
    a.y = o.y;
    a.ldy = o.ldy;
    a.accumulate = o.accumulate;
    t.matmul(a, task.n_begin, task.n_end);
  });
}

void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, size_t ldx, size_t rows,
            float* y, size_t ldy, bool accumulate) {
  const MatmulOutput out{&w, y, ldy, accumulate};
  matmul(pool, x, ldx, rows, std::span(&out, 1));
}

void rmsnorm(ThreadPool& pool, const float* x, size_t ldx, size_t rows, const float* weight,
             size_t n, float eps, float* y, size_t ldy) {
  const detail::KernelTable& t = detail::active_table();
  pool.parallel_for(rows, [&](size_t r) { t.rmsnorm(x + r * ldx, weight, eps, y + r * ldy, n); });
}

void rmsnorm_heads(ThreadPool& pool, float* x, size_t ldx, size_t rows, size_t heads,
                   size_t head_dim, const float* weight, float eps) {
  const detail::KernelTable& t = detail::active_table();
  pool.parallel_for(rows, [&](size_t r) {
    for (size_t h = 0; h < heads; ++h) {
      float* p = x + r * ldx + h * head_dim;
      t.rmsnorm(p, weight, eps, p, head_dim);
    }
  });
}

void swiglu(ThreadPool& pool, const float* gate, const float* up, float* out, size_t ld,
            size_t rows, size_t n) {
  const detail::KernelTable& t = detail::active_table();
  pool.parallel_for(rows, [&](size_t r) { t.swiglu(gate + r * ld, up + r * ld, out + r * ld, n); });
}

void add(ThreadPool& pool, const float* x, size_t ldx, float* y, size_t ldy, size_t rows,
         size_t n) {
  const detail::KernelTable& t = detail::active_table();
  pool.parallel_for(rows, [&](size_t r) { t.add(x + r * ldx, y + r * ldy, n); });
}

void rope(float* x, size_t ldx, size_t rows, size_t heads, size_t head_dim,
          std::span<const uint32_t> positions, std::span<const float> inv_freq,
          model::RopeStyle style) {
  if (positions.size() < rows) throw Error("rope: fewer positions than rows");
  const size_t pairs = inv_freq.size();
  if (2 * pairs > head_dim) throw Error("rope: more rotated elements than the head holds");
  std::vector<float> cos_t(pairs);
  std::vector<float> sin_t(pairs);
  for (size_t r = 0; r < rows; ++r) {
    // The angle is formed in float, as the reference implementations of these models do.
    for (size_t i = 0; i < pairs; ++i) {
      const float angle = static_cast<float>(positions[r]) * inv_freq[i];
      cos_t[i] = std::cos(angle);
      sin_t[i] = std::sin(angle);
    }
    for (size_t h = 0; h < heads; ++h) {
      float* v = x + r * ldx + h * head_dim;
      for (size_t i = 0; i < pairs; ++i) {
        const size_t a = style == model::RopeStyle::Interleaved ? 2 * i : i;
        const size_t b = style == model::RopeStyle::Interleaved ? 2 * i + 1 : i + pairs;
        const float v0 = v[a];
        const float v1 = v[b];
        v[a] = v0 * cos_t[i] - v1 * sin_t[i];
        v[b] = v0 * sin_t[i] + v1 * cos_t[i];
      }
    }
  }
}

void softmax(const float* x, size_t n, float scale, float* probs) {
  if (n == 0) return;
  detail::active_table().softmax(x, n, scale, probs);
}

void store_row(const float* x, GgmlType type, std::byte* dst, size_t n) {
  detail::active_table().store_row(x, type, dst, n);
}

void attention(ThreadPool& pool, const AttentionShape& shape,
               std::span<const AttentionSequence> sequences) {
  if (shape.kv_heads == 0 || shape.heads % shape.kv_heads != 0) {
    throw Error("attention: query heads must be a multiple of kv heads");
  }
  if (shape.head_dim == 0 || shape.head_dim > 256) {
    throw Error("attention: head_dim must be between 1 and 256");
  }
  if (shape.kv_type != GgmlType::F32 && shape.kv_type != GgmlType::F16) {
    throw Error("attention: KV storage must be F32 or F16");
  }
  const detail::KernelTable& t = detail::active_table();
  const size_t group = shape.heads / shape.kv_heads;
  constexpr size_t kTokensPerTask = 16;

  // Mask rows in the form the kernels take; rows that attend to every slot become causal.
  struct MaskRows {
    std::vector<const uint32_t*> runs;
    std::vector<size_t> sizes;
    bool any = false;
  };
  std::vector<MaskRows> masks(sequences.size());
  struct Task {
    size_t seq;
    size_t kv_head;
    size_t first;
    size_t count;
  };
  std::vector<Task> tasks;
  for (size_t s = 0; s < sequences.size(); ++s) {
    const AttentionSequence& seq = sequences[s];
    if (!seq.masks.empty()) {
      if (seq.masks.size() != seq.tokens) throw Error("attention: one mask row per token needed");
      MaskRows& m = masks[s];
      m.runs.resize(seq.tokens, nullptr);
      m.sizes.resize(seq.tokens, 0);
      for (size_t i = 0; i < seq.tokens; ++i) {
        const auto row = seq.masks[i];
        if (brle::length(row) != seq.context + i + 1) {
          throw Error("attention: mask row length differs from the tokens it covers");
        }
        if (brle::all_false(row, seq.context + i + 1)) continue;
        m.runs[i] = row.data();
        m.sizes[i] = row.size();
        m.any = true;
      }
    }
    for (size_t h = 0; h < shape.kv_heads; ++h) {
      for (size_t f = 0; f < seq.tokens; f += kTokensPerTask) {
        tasks.push_back({s, h, f, std::min(kTokensPerTask, seq.tokens - f)});
      }
    }
  }
  pool.parallel_for(tasks.size(), [&](size_t i) {
    const Task& task = tasks[i];
    const AttentionSequence& seq = sequences[task.seq];
    const MaskRows& m = masks[task.seq];
    detail::AttentionArgs a{};
    a.kv.k_pages = seq.k_pages.data();
    a.kv.v_pages = seq.v_pages.data();
    a.kv.page_size = shape.page_size;
    a.kv.type = shape.kv_type;
    a.head_dim = shape.head_dim;
    a.kv_head = task.kv_head;
    a.group = group;
    a.context = seq.context;
    a.first = task.first;
    a.count = task.count;
    a.q = seq.q + task.first * shape.ldq;
    a.ldq = shape.ldq;
    a.out = seq.out + task.first * shape.ldout;
    a.ldout = shape.ldout;
    a.scale = shape.scale;
    a.mask_runs = m.any ? m.runs.data() + task.first : nullptr;
    a.mask_sizes = m.any ? m.sizes.data() + task.first : nullptr;
    const size_t len = seq.context + task.first + task.count;
    a.scratch = reinterpret_cast<float*>(
        detail::thread_scratch(kAttentionSlot, group * ((len + 15) / 16 * 16) * sizeof(float)));
    t.attention(a);
  });
}

}  // namespace pie::kernels
