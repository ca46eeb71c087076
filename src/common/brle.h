// Binary run-length encoding (BRLE) of boolean vectors, the wire form of attention masks
// (reference §4.8.3). A vector is stored as run lengths that alternate false, true, false, ...;
// the first run (false) may be empty. In attention masks `false` means "attend" and `true` means
// "masked": the runs of a mask row read attend, skip, attend, skip, ...
//
// Used by the backend (mask rows), the engine and the inferlet SDK, which is built without
// exceptions: nothing here throws; operations that can fail say so in their return value.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace pie {

class Brle {
 public:
  // The empty vector.
  Brle() = default;
  // `count` copies of `value`.
  static Brle filled(uint64_t count, bool value);
  // From run lengths in any form (zero-length runs anywhere are accepted and merged away).
  static Brle from_runs(std::span<const uint32_t> runs);
  static Brle from_bits(const std::vector<bool>& bits);

  // Canonical runs: no zero-length run except possibly the first (and, inside runs longer than
  // UINT32_MAX, the empty run that splits them), no trailing zero run.
  const std::vector<uint32_t>& runs() const { return runs_; }
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Value at index `i` (false when i >= size()).
  bool get(uint64_t i) const;
  // True when every element equals `value` (also when empty).
  bool all(bool value) const;
  std::vector<bool> to_bits() const;

  // Appends `count` copies of `value`.
  void append(bool value, uint64_t count = 1);
  // Sets [begin, end) to `value`. Returns false and changes nothing unless begin <= end <= size().
  [[nodiscard]] bool set_range(uint64_t begin, uint64_t end, bool value);
  // Keeps the first `count` elements (no-op when count >= size()).
  void truncate(uint64_t count);

  bool operator==(const Brle& other) const = default;

 private:
  std::vector<uint32_t> runs_;
  uint64_t size_ = 0;
};

// Helpers on raw run lists as they arrive on the wire, without building a Brle.
namespace brle {

// Sum of the run lengths.
uint64_t length(std::span<const uint32_t> runs);

// True when the runs describe `n` elements all false (for masks: attend to everything), in any
// form: [n], [n, 0], [0, 0, n], ...
bool all_false(std::span<const uint32_t> runs, uint64_t n);

// Calls `f(begin, end)` for each maximal range of `false` elements, in increasing order.
template <class F>
void for_each_false_range(std::span<const uint32_t> runs, F&& f) {
  uint64_t pos = 0;
  uint64_t open = 0;
  bool in_false = false;
  for (size_t k = 0; k < runs.size(); ++k) {
    const uint64_t len = runs[k];
    if (len == 0) continue;
    const bool is_false = k % 2 == 0;
    if (is_false && !in_false) {
      open = pos;
      in_false = true;
    } else if (!is_false && in_false) {
      f(open, pos);
      in_false = false;
    }
    pos += len;
  }
  if (in_false) f(open, pos);
}

}  // namespace brle

}  // namespace pie
