// Chunked uploads of one connection (reference §3.5.2, §3.5.6), without sockets: the rules, the
// exact error texts, and the limits that keep a hostile client from buffering without bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/blake3.h"

namespace pie::server {

struct UploadLimits {
  size_t max_uploads = 16;                   // program and blob uploads in flight at once
  size_t max_buffered_bytes = 256ULL << 20;  // bytes held across them (also caps one upload)
};

// At most one program upload is in flight per connection; blob uploads are told apart by hash.
enum class UploadKind { Program, Blob };

struct Chunk {
  UploadKind kind = UploadKind::Program;
  uint32_t corr_id = 0;
  std::string_view hash;
  uint64_t index = 0;
  uint64_t total = 0;
  std::string_view data;
};

struct ChunkOutcome {
  enum class Status { Pending, Complete, Failed };
  Status status = Status::Pending;
  std::string error;  // Failed: the response text
  std::string data;   // Complete: the payload
  std::string hash;   // Complete: its BLAKE3, as announced by the upload's first chunk
};

class UploadTable {
 public:
  using Clock = std::chrono::steady_clock;

  explicit UploadTable(UploadLimits limits) : limits_(limits) {}

  ChunkOutcome add(const Chunk& chunk, Clock::time_point now);

  // Drops uploads that received no chunk since `cutoff`; returns the corr_id of each one's last
  // chunk, so its sender can be told.
  std::vector<uint32_t> expire(Clock::time_point cutoff);
  // When the upload idle the longest got its last chunk (Clock::time_point::max() when none).
  Clock::time_point oldest_activity() const;

  size_t size() const { return uploads_.size(); }
  size_t buffered_bytes() const { return buffered_; }

 private:
  struct Upload {
    std::string hash;
    uint64_t total = 0;
    uint64_t next = 0;
    std::string buffer;
    Blake3 hasher;  // fed as chunks arrive, so completion does not stall on a large payload
    uint32_t corr_id = 0;
    Clock::time_point last_activity;
  };
  using Key = std::pair<UploadKind, std::string>;

  ChunkOutcome fail(const Key& key, std::string error);
  void erase(const Key& key);

  UploadLimits limits_;
  std::map<Key, Upload> uploads_;
  size_t buffered_ = 0;
};

}  // namespace pie::server
