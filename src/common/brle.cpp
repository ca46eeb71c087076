#include "common/brle.h"

#include <algorithm>

namespace pie {

namespace {
// Run lengths are u32 on the wire: longer runs are split by a zero-length run of the other value.
constexpr uint64_t kMaxRun = UINT32_MAX;
}  // namespace

Brle Brle::filled(uint64_t count, bool value) {
  Brle b;
  b.append(value, count);
  return b;
}

Brle Brle::from_runs(std::span<const uint32_t> runs) {
  Brle b;
  for (size_t k = 0; k < runs.size(); ++k) b.append(k % 2 == 1, runs[k]);
  return b;
}

Brle Brle::from_bits(const std::vector<bool>& bits) {
  Brle b;
  for (bool bit : bits) b.append(bit);
  return b;
}

bool Brle::get(uint64_t i) const {
  uint64_t pos = 0;
  for (size_t k = 0; k < runs_.size(); ++k) {
    pos += runs_[k];
    if (i < pos) return k % 2 == 1;
  }
  return false;
}

bool Brle::all(bool value) const {
  for (size_t k = 0; k < runs_.size(); ++k) {
    if ((k % 2 == 1) != value && runs_[k] != 0) return false;
  }
  return true;
}

std::vector<bool> Brle::to_bits() const {
  std::vector<bool> bits;
  bits.reserve(size_);
  for (size_t k = 0; k < runs_.size(); ++k) bits.insert(bits.end(), runs_[k], k % 2 == 1);
  return bits;
}

void Brle::append(bool value, uint64_t count) {
  while (count > 0) {
    if (runs_.empty() && value) runs_.push_back(0);
    const bool last_value = runs_.size() % 2 == 0;  // runs alternate false, true, ...
    uint64_t take = 0;
    if (!runs_.empty() && last_value == value) {
      if (runs_.back() == kMaxRun) {
        runs_.push_back(0);
        continue;
      }
      take = std::min(count, kMaxRun - runs_.back());
      runs_.back() += static_cast<uint32_t>(take);
    } else {
      take = std::min(count, kMaxRun);
      runs_.push_back(static_cast<uint32_t>(take));
    }
    count -= take;
    size_ += take;
  }
}

bool Brle::set_range(uint64_t begin, uint64_t end, bool value) {
  if (begin > end || end > size_) return false;
  if (begin == end) return true;
  Brle out;
  uint64_t pos = 0;
  for (size_t k = 0; k < runs_.size(); ++k) {
    const uint64_t run_begin = pos;
    const uint64_t run_end = pos + runs_[k];
    const bool run_value = k % 2 == 1;
    pos = run_end;
    // The parts of this run before and after [begin, end) keep their value; the middle is replaced.
    out.append(run_value, std::min(run_end, begin) - std::min(run_begin, begin));
    if (run_begin < end && run_end > begin) {
      out.append(value, std::min(run_end, end) - std::max(run_begin, begin));
    }
    out.append(run_value, std::max(run_end, end) - std::max(run_begin, end));
  }
  *this = std::move(out);
  return true;
}

void Brle::truncate(uint64_t count) {
  if (count >= size_) return;
  Brle out;
  uint64_t pos = 0;
  for (size_t k = 0; k < runs_.size() && pos < count; ++k) {
    const uint64_t take = std::min<uint64_t>(runs_[k], count - pos);
    out.append(k % 2 == 1, take);
    pos += take;
  }
  *this = std::move(out);
}

namespace brle {

uint64_t length(std::span<const uint32_t> runs) {
  uint64_t n = 0;
  for (uint32_t r : runs) n += r;
  return n;
}

bool all_false(std::span<const uint32_t> runs, uint64_t n) {
  uint64_t false_count = 0;
  for (size_t k = 0; k < runs.size(); ++k) {
    if (k % 2 == 1 && runs[k] != 0) return false;
    if (k % 2 == 0) false_count += runs[k];
  }
  return false_count == n;
}

}  // namespace brle

}  // namespace pie
