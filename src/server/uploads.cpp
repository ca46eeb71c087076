#include "server/uploads.h"

#include "protocol/client_messages.h"

namespace pie::server {

using protocol::kChunkSize;

ChunkOutcome UploadTable::add(const Chunk& chunk, Clock::time_point now) {
  const Key key{chunk.kind,
                chunk.kind == UploadKind::Program ? std::string() : std::string(chunk.hash)};
  if (chunk.data.size() > kChunkSize) {
    return fail(key, "Chunk size " + std::to_string(chunk.data.size()) + " exceeds limit " +
                         std::to_string(kChunkSize));
  }
  auto it = uploads_.find(key);
  if (it == uploads_.end()) {
    if (chunk.index != 0) return fail(key, "First chunk index must be 0");
    if (chunk.total == 0) return fail(key, "Chunk count must be at least 1");
    if (uploads_.size() >= limits_.max_uploads) {
      return fail(key,
                  "Too many uploads in flight (limit " + std::to_string(limits_.max_uploads) + ")");
    }
    it = uploads_.emplace(key, Upload{.hash = std::string(chunk.hash), .total = chunk.total}).first;
  }
  Upload& up = it->second;
  if (chunk.total != up.total) {
    return fail(key, "Chunk count mismatch: expected " + std::to_string(up.total) + ", got " +
                         std::to_string(chunk.total));
  }
  if (chunk.index != up.next) {
    return fail(key, "Out-of-order chunk: expected " + std::to_string(up.next) + ", got " +
                         std::to_string(chunk.index));
  }
  if (buffered_ + chunk.data.size() > limits_.max_buffered_bytes) {
    return fail(key, "Upload buffer limit of " + std::to_string(limits_.max_buffered_bytes) +
                         " bytes exceeded");
  }
  up.buffer.append(chunk.data);
  up.hasher.update(chunk.data);
  buffered_ += chunk.data.size();
  up.corr_id = chunk.corr_id;
  up.last_activity = now;
  if (++up.next < up.total) return {};

  const std::string actual = up.hasher.hex_digest();
  buffered_ -= up.buffer.size();
  ChunkOutcome out;
  if (actual == up.hash) {
    out.status = ChunkOutcome::Status::Complete;
    out.data = std::move(up.buffer);
    out.hash = actual;
  } else {
    out.status = ChunkOutcome::Status::Failed;
    out.error = "Hash mismatch: expected " + up.hash + ", got " + actual;
  }
  uploads_.erase(it);
  return out;
}

std::vector<uint32_t> UploadTable::expire(Clock::time_point cutoff) {
  std::vector<uint32_t> expired;
  for (auto it = uploads_.begin(); it != uploads_.end();) {
    if (it->second.last_activity < cutoff) {
      expired.push_back(it->second.corr_id);
      buffered_ -= it->second.buffer.size();
      it = uploads_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

UploadTable::Clock::time_point UploadTable::oldest_activity() const {
  auto oldest = Clock::time_point::max();
  for (const auto& [key, up] : uploads_) oldest = std::min(oldest, up.last_activity);
  return oldest;
}

ChunkOutcome UploadTable::fail(const Key& key, std::string error) {
  erase(key);
  return ChunkOutcome{ChunkOutcome::Status::Failed, std::move(error), {}};
}

void UploadTable::erase(const Key& key) {
  const auto it = uploads_.find(key);
  if (it == uploads_.end()) return;
  buffered_ -= it->second.buffer.size();
  uploads_.erase(it);
}

}  // namespace pie::server
