#include "server/uploads.h"

#include <gtest/gtest.h>

#include "protocol/client_messages.h"

namespace pie::server {
namespace {

using protocol::kChunkSize;
using Status = ChunkOutcome::Status;
using namespace std::chrono_literals;

const UploadTable::Clock::time_point kT0{};

std::string payload(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + 3);
  return s;
}

// Splits `data` the way Pie's clients do and feeds every chunk; returns the last outcome.
ChunkOutcome upload(UploadTable& t, UploadKind kind, const std::string& hash,
                    const std::string& data) {
  const uint64_t total = std::max<uint64_t>(1, (data.size() + kChunkSize - 1) / kChunkSize);
  ChunkOutcome out;
  for (uint64_t i = 0; i < total; ++i) {
    const std::string_view part = std::string_view(data).substr(i * kChunkSize, kChunkSize);
    out = t.add(Chunk{kind, 7, hash, i, total, part}, kT0);
    if (i + 1 < total) {
      EXPECT_EQ(out.status, Status::Pending) << out.error;
    }
  }
  return out;
}

TEST(Uploads, MultiChunkUploadCompletesWithTheVerifiedBytes) {
  UploadTable t({});
  const std::string data = payload(2 * kChunkSize + 123);
  const auto out = upload(t, UploadKind::Program, blake3_hex(data), data);
  EXPECT_EQ(out.status, Status::Complete);
  EXPECT_EQ(out.data, data);
  EXPECT_EQ(out.hash, blake3_hex(data));
  EXPECT_EQ(t.size(), 0U);
  EXPECT_EQ(t.buffered_bytes(), 0U);
}

TEST(Uploads, TheFirstChunksHashIsTheOneVerified) {
  UploadTable t({});
  const std::string data = payload(kChunkSize + 1);
  const std::string hash = blake3_hex(data);
  const std::string_view all(data);
  ASSERT_EQ(t.add(Chunk{UploadKind::Program, 1, hash, 0, 2, all.substr(0, kChunkSize)}, kT0).status,
            Status::Pending);
  // A later chunk naming another hash changes nothing: the content is checked against the first.
  const auto out = t.add(Chunk{UploadKind::Program, 1, "other", 1, 2, all.substr(kChunkSize)}, kT0);
  EXPECT_EQ(out.status, Status::Complete);
  EXPECT_EQ(out.hash, hash);
}

TEST(Uploads, EmptyPayloadIsOneEmptyChunk) {
  UploadTable t({});
  const auto out = upload(t, UploadKind::Blob, blake3_hex(std::string_view()), "");
  EXPECT_EQ(out.status, Status::Complete);
  EXPECT_TRUE(out.data.empty());
}

TEST(Uploads, ErrorTextsOfPie) {
  UploadTable t({});
  const std::string big(kChunkSize + 1, 'x');
  auto out = t.add(Chunk{UploadKind::Program, 1, "h", 0, 1, big}, kT0);
  EXPECT_EQ(out.status, Status::Failed);
  EXPECT_EQ(out.error, "Chunk size 262145 exceeds limit 262144");

  out = t.add(Chunk{UploadKind::Program, 1, "h", 1, 3, "a"}, kT0);
  EXPECT_EQ(out.error, "First chunk index must be 0");

  EXPECT_EQ(t.add(Chunk{UploadKind::Program, 1, "h", 0, 3, "a"}, kT0).status, Status::Pending);
  out = t.add(Chunk{UploadKind::Program, 1, "h", 1, 4, "a"}, kT0);
  EXPECT_EQ(out.error, "Chunk count mismatch: expected 3, got 4");
  EXPECT_EQ(t.size(), 0U) << "a mismatch resets the upload";

  EXPECT_EQ(t.add(Chunk{UploadKind::Program, 1, "h", 0, 3, "a"}, kT0).status, Status::Pending);
  out = t.add(Chunk{UploadKind::Program, 1, "h", 2, 3, "a"}, kT0);
  EXPECT_EQ(out.error, "Out-of-order chunk: expected 1, got 2");
  EXPECT_EQ(t.size(), 0U);

  // A chunk that is too large also resets an upload in progress.
  EXPECT_EQ(t.add(Chunk{UploadKind::Program, 1, "h", 0, 3, "a"}, kT0).status, Status::Pending);
  EXPECT_EQ(t.add(Chunk{UploadKind::Program, 1, "h", 1, 3, big}, kT0).status, Status::Failed);
  EXPECT_EQ(t.size(), 0U);

  const std::string wrong(64, '0');
  out = t.add(Chunk{UploadKind::Program, 1, wrong, 0, 1, "abc"}, kT0);
  EXPECT_EQ(out.error, "Hash mismatch: expected " + wrong + ", got " + blake3_hex("abc"));

  out = t.add(Chunk{UploadKind::Blob, 1, "h", 0, 0, ""}, kT0);
  EXPECT_EQ(out.error, "Chunk count must be at least 1");
  EXPECT_EQ(t.size(), 0U);
  EXPECT_EQ(t.buffered_bytes(), 0U);
}

TEST(Uploads, BlobUploadsInterleaveByHash) {
  UploadTable t({});
  const std::string a = payload(kChunkSize + 5);
  const std::string b = payload(kChunkSize + 9);
  const std::string ha = blake3_hex(a);
  const std::string hb = blake3_hex(b);
  EXPECT_EQ(
      t.add(Chunk{UploadKind::Blob, 1, ha, 0, 2, std::string_view(a).substr(0, kChunkSize)}, kT0)
          .status,
      Status::Pending);
  EXPECT_EQ(
      t.add(Chunk{UploadKind::Blob, 2, hb, 0, 2, std::string_view(b).substr(0, kChunkSize)}, kT0)
          .status,
      Status::Pending);
  // A program upload is independent of blobs, even under the same hash.
  EXPECT_EQ(t.add(Chunk{UploadKind::Program, 3, ha, 0, 2, "p"}, kT0).status, Status::Pending);
  EXPECT_EQ(t.size(), 3U);
  auto out =
      t.add(Chunk{UploadKind::Blob, 2, hb, 1, 2, std::string_view(b).substr(kChunkSize)}, kT0);
  EXPECT_EQ(out.status, Status::Complete);
  EXPECT_EQ(out.data, b);
  out = t.add(Chunk{UploadKind::Blob, 1, ha, 1, 2, std::string_view(a).substr(kChunkSize)}, kT0);
  EXPECT_EQ(out.status, Status::Complete);
  EXPECT_EQ(out.data, a);
  EXPECT_EQ(t.size(), 1U);
}

TEST(Uploads, LimitsOnCountAndBufferedBytes) {
  UploadTable t({.max_uploads = 2, .max_buffered_bytes = 10});
  EXPECT_EQ(t.add(Chunk{UploadKind::Blob, 1, "a", 0, 5, "1234"}, kT0).status, Status::Pending);
  EXPECT_EQ(t.add(Chunk{UploadKind::Blob, 1, "b", 0, 5, "1234"}, kT0).status, Status::Pending);
  auto out = t.add(Chunk{UploadKind::Blob, 1, "c", 0, 5, "1"}, kT0);
  EXPECT_EQ(out.error, "Too many uploads in flight (limit 2)");
  EXPECT_EQ(t.buffered_bytes(), 8U);
  out = t.add(Chunk{UploadKind::Blob, 1, "a", 1, 5, "123"}, kT0);
  EXPECT_EQ(out.error, "Upload buffer limit of 10 bytes exceeded");
  EXPECT_EQ(t.size(), 1U);
  EXPECT_EQ(t.buffered_bytes(), 4U);
}

TEST(Uploads, IdleUploadsExpire) {
  UploadTable t({});
  EXPECT_EQ(t.oldest_activity(), UploadTable::Clock::time_point::max());
  EXPECT_EQ(t.add(Chunk{UploadKind::Blob, 11, "a", 0, 2, "x"}, kT0).status, Status::Pending);
  EXPECT_EQ(t.add(Chunk{UploadKind::Blob, 12, "b", 0, 2, "y"}, kT0 + 5s).status, Status::Pending);
  EXPECT_EQ(t.oldest_activity(), kT0);
  EXPECT_TRUE(t.expire(kT0).empty());
  EXPECT_EQ(t.expire(kT0 + 1s), std::vector<uint32_t>{11});
  EXPECT_EQ(t.size(), 1U);
  EXPECT_EQ(t.buffered_bytes(), 1U);
  EXPECT_EQ(t.oldest_activity(), kT0 + 5s);
}

}  // namespace
}  // namespace pie::server
