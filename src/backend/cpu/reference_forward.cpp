#include "backend/cpu/reference_forward.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/model/quant.h"

namespace pie::cpu::testing {

namespace {

using Vec = std::vector<double>;

// A weight matrix as doubles, row-major, and whether products with it see 8-bit activations.
struct Dense {
  std::vector<double> w;
  bool quantised_input = false;
};

bool is_quantised(model::GgmlType t) {
  return t != model::GgmlType::F32 && t != model::GgmlType::F16 && t != model::GgmlType::BF16;
}

// A tensor's values as doubles, row-major (rows x shape[0]).
std::vector<double> dense(const model::Tensor& t) {
  const uint64_t cols = t.shape[0];
  const uint64_t rows = t.elements() / cols;
  const uint64_t rb = model::row_bytes(t.type, cols);
  std::vector<float> row(cols);
  std::vector<double> out(rows * cols);
  for (uint64_t r = 0; r < rows; ++r) {
    model::dequantize_row(t.type, t.data + r * rb, row.data(), static_cast<int64_t>(cols));
    std::copy(row.begin(), row.end(), out.begin() + static_cast<ptrdiff_t>(r * cols));
  }
  return out;
}

Dense matrix(const model::Tensor& t) {
  return {dense(t), is_quantised(t.type)};
}

// x rounded to 8 bits per block of 32, as the kernels' activation packing does.
Vec quantise_activations(const Vec& x) {
  Vec out(x.size());
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(static_cast<float>(x[i])));
    const float d = amax / 127.0F;
    const float inv = d != 0 ? 1.0F / d : 0.0F;
    for (size_t i = b; i < b + 32; ++i) {
      out[i] = static_cast<double>(std::lrintf(static_cast<float>(x[i]) * inv)) * d;
    }
  }
  return out;
}

Vec matvec(const std::vector<double>& w, const Vec& x) {
  const size_t cols = x.size();
  Vec y(w.size() / cols);
  for (size_t r = 0; r < y.size(); ++r) {
    double s = 0;
    for (size_t c = 0; c < cols; ++c) s += w[r * cols + c] * x[c];
    y[r] = s;
  }
  return y;
}

Vec matvec(const Dense& m, const Vec& x) {
  return matvec(m.w, m.quantised_input ? quantise_activations(x) : x);
}

void rmsnorm(double* x, size_t n, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (size_t i = 0; i < n; ++i) x[i] = x[i] * inv * w[i];
}

void rope(double* v, uint32_t pos, const std::vector<float>& inv_freq, model::RopeStyle style) {
  const size_t pairs = inv_freq.size();
  for (size_t i = 0; i < pairs; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq[i];
    const size_t a = style == model::RopeStyle::Interleaved ? 2 * i : i;
    const size_t b = style == model::RopeStyle::Interleaved ? 2 * i + 1 : i + pairs;
    const double v0 = v[a];
    const double v1 = v[b];
    v[a] = v0 * std::cos(angle) - v1 * std::sin(angle);
    v[b] = v0 * std::sin(angle) + v1 * std::cos(angle);
  }
}

}  // namespace

std::vector<double> reference_softmax(const std::vector<double>& logits, double temperature) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logits[i] - mx) / temperature);
  for (double& v : p) v /= sum;
  return p;
}

ReferenceOutput reference_forward(const model::ModelFile& model,
                                  const std::vector<uint32_t>& tokens,
                                  const std::vector<uint32_t>& positions,
                                  const std::vector<std::vector<bool>>& attend) {
  const model::ModelConfig& c = model.config();
  const size_t n = tokens.size();
  const size_t hd = c.head_dim;
  const size_t group = c.n_heads / c.n_kv_heads;
  const std::vector<float> inv_freq = model::rope_inverse_frequencies(c.rope);
  const std::vector<double> embd = dense(model.tensor("token_embd.weight"));
  std::vector<Vec> x(n, Vec(c.dim));
  for (size_t i = 0; i < n; ++i) {
    std::copy_n(embd.begin() + static_cast<ptrdiff_t>(tokens[i] * c.dim), c.dim, x[i].begin());
  }
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    auto w = [&](const char* s) { return dense(model.layer_tensor(l, s)); };
    auto m = [&](const char* s) { return matrix(model.layer_tensor(l, s)); };
    const auto wq = m("attn_q.weight"), wk = m("attn_k.weight"), wv = m("attn_v.weight");
    const auto wo = m("attn_output.weight");
    const auto attn_norm = w("attn_norm.weight");
    std::vector<Vec> q(n), k(n), v(n);
    for (size_t i = 0; i < n; ++i) {
      Vec xn = x[i];
      rmsnorm(xn.data(), c.dim, attn_norm, c.rms_eps);
      q[i] = matvec(wq, xn);
      k[i] = matvec(wk, xn);
      v[i] = matvec(wv, xn);
      if (c.qkv_bias) {
        const auto bq = w("attn_q.bias"), bk = w("attn_k.bias"), bv = w("attn_v.bias");
        for (size_t j = 0; j < q[i].size(); ++j) q[i][j] += bq[j];
        for (size_t j = 0; j < k[i].size(); ++j) {
          k[i][j] += bk[j];
          v[i][j] += bv[j];
        }
      }
      for (size_t h = 0; h < c.n_heads; ++h) {
        if (c.qk_norm) rmsnorm(&q[i][h * hd], hd, w("attn_q_norm.weight"), c.rms_eps);
        rope(&q[i][h * hd], positions[i], inv_freq, c.rope.style);
      }
      for (size_t h = 0; h < c.n_kv_heads; ++h) {
        if (c.qk_norm) rmsnorm(&k[i][h * hd], hd, w("attn_k_norm.weight"), c.rms_eps);
        rope(&k[i][h * hd], positions[i], inv_freq, c.rope.style);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      Vec att(c.n_heads * hd, 0.0);
      for (size_t h = 0; h < c.n_heads; ++h) {
        const size_t kvh = h / group;
        std::vector<double> s(i + 1, -INFINITY);
        double mx = -INFINITY;
        for (size_t j = 0; j <= i; ++j) {
          if (!attend[i][j]) continue;
          double d = 0;
          for (size_t e = 0; e < hd; ++e) d += q[i][h * hd + e] * k[j][kvh * hd + e];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (size_t j = 0; j <= i; ++j) {
          if (!attend[i][j]) continue;
          const double p = std::exp(s[j] - mx);
          sum += p;
          for (size_t e = 0; e < hd; ++e) att[h * hd + e] += p * v[j][kvh * hd + e];
        }
        for (size_t e = 0; e < hd; ++e) att[h * hd + e] /= sum;
      }
      const Vec o = matvec(wo, att);
      for (size_t d = 0; d < c.dim; ++d) x[i][d] += o[d];
    }
    const auto ffn_norm = w("ffn_norm.weight");
    const auto wg = m("ffn_gate.weight"), wu = m("ffn_up.weight"), wd = m("ffn_down.weight");
    for (size_t i = 0; i < n; ++i) {
      Vec xn = x[i];
      rmsnorm(xn.data(), c.dim, ffn_norm, c.rms_eps);
      Vec g = matvec(wg, xn);
      const Vec u = matvec(wu, xn);
      for (size_t j = 0; j < g.size(); ++j) g[j] = g[j] / (1.0 + std::exp(-g[j])) * u[j];
      const Vec d = matvec(wd, g);
      for (size_t j = 0; j < c.dim; ++j) x[i][j] += d[j];
    }
  }
  ReferenceOutput out;
  const std::vector<double> out_norm = dense(model.tensor("output_norm.weight"));
  const Dense wout = matrix(model.output_weight());
  for (size_t i = 0; i < n; ++i) {
    Vec h = x[i];
    rmsnorm(h.data(), c.dim, out_norm, c.rms_eps);
    out.logits.push_back(matvec(wout, h));
    out.hidden.push_back(std::move(h));
  }
  return out;
}

}  // namespace pie::cpu::testing
