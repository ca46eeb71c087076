#include "protocol/client_messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "common/error.h"

namespace pie::protocol {
namespace {

using ::testing::HasSubstr;

std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Builds maps byte by byte, choosing integer widths the way other peers do.
class RawMap {
 public:
  explicit RawMap(uint32_t fields) { pk_.pack_map(fields); }
  RawMap& key(std::string_view k) {
    pk_.pack_str(static_cast<uint32_t>(k.size()));
    pk_.pack_str_body(k.data(), static_cast<uint32_t>(k.size()));
    return *this;
  }
  RawMap& str(std::string_view k, std::string_view v) {
    key(k);
    pk_.pack_str(static_cast<uint32_t>(v.size()));
    pk_.pack_str_body(v.data(), static_cast<uint32_t>(v.size()));
    return *this;
  }
  RawMap& bin(std::string_view k, std::string_view v) {
    key(k);
    pk_.pack_bin(static_cast<uint32_t>(v.size()));
    pk_.pack_bin_body(v.data(), static_cast<uint32_t>(v.size()));
    return *this;
  }
  RawMap& u64(std::string_view k, uint64_t v) {  // always the 9-byte form, as u64 fields are
    key(k);
    pk_.pack_fix_uint64(v);
    return *this;
  }
  RawMap& u8(std::string_view k, uint8_t v) {
    key(k);
    pk_.pack_fix_uint8(v);
    return *this;
  }
  RawMap& i64(std::string_view k, int64_t v) {
    key(k);
    pk_.pack_int64(v);
    return *this;
  }
  msgpack::packer<msgpack::sbuffer>& packer() { return pk_; }
  std::string bytes() const { return std::string(buf_.data(), buf_.size()); }

 private:
  msgpack::sbuffer buf_;
  msgpack::packer<msgpack::sbuffer> pk_{buf_};
};

template <class T>
T decode_as(const std::string& bytes) {
  ClientMessage m = decode_client_message(bytes);
  EXPECT_TRUE(std::holds_alternative<T>(m)) << "decoded as " << type_name(m);
  return std::get<T>(m);
}

std::string decode_error(const std::string& bytes) {
  try {
    decode_client_message(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "decoded without error";
  return "";
}

TEST(ClientMessages, EveryClientMessageRoundTrips) {
  const std::string blob("\x00\x01\xff payload", 11);
  const std::vector<ClientMessage> messages = {
      Authenticate{1, "tok"},
      Query{2, "program_exists", "abc"},
      UploadProgram{3, "h", 4, 9, blob},
      LaunchInstance{4, "h", {"--prompt", "hi there", ""}},
      LaunchServerInstance{5, 8081, "h", {"a"}},
      SignalInstance{"id-1", "hello"},
      UploadBlob{6, "id-2", "bh", 0, 1, std::string()},
      TerminateInstance{"id-3"},
      AttachRemoteService{UINT32_MAX, "ipc:///tmp/x", "model", "llama"},
  };
  for (const auto& m : messages) {
    SCOPED_TRACE(std::string(type_name(m)));
    const ClientMessage back = decode_client_message(encode(m));
    ASSERT_EQ(back.index(), m.index());
    EXPECT_EQ(encode(back), encode(m));
  }
  const auto up = std::get<UploadProgram>(decode_client_message(encode(messages[2])));
  EXPECT_EQ(up.chunk_data, blob);
  EXPECT_EQ(up.chunk_index, 4U);
  EXPECT_EQ(up.total_chunks, 9U);
  const auto launch = std::get<LaunchInstance>(decode_client_message(encode(messages[3])));
  EXPECT_EQ(launch.arguments, (std::vector<std::string>{"--prompt", "hi there", ""}));
}

TEST(ClientMessages, EveryServerMessageRoundTrips) {
  const std::vector<ServerMessage> messages = {
      Response{9, true, "ok"},
      InstanceEvent{"id", 5, "Terminated by OOM killer"},
      DownloadBlob{0, "id", "bh", 1, 2, std::string("\x00\x02", 2)},
      ServerEvent{"hi"},
  };
  for (const auto& m : messages) {
    const ServerMessage back = decode_server_message(encode(m));
    ASSERT_EQ(back.index(), m.index());
    EXPECT_EQ(encode(back), encode(m));
  }
  const auto blob = std::get<DownloadBlob>(decode_server_message(encode(messages[2])));
  EXPECT_EQ(blob.chunk_data, std::string("\x00\x02", 2));
}

// The bytes Python's msgpack.packb writes for the same maps, key for key.
TEST(ClientMessages, ServerMessagesEncodeLikePiesPeers) {
  EXPECT_EQ(encode(ServerMessage{Response{7, true, "ok"}}),
            from_hex("84a474797065a8726573706f6e7365a7636f72725f696407aa7375636365737366756cc3a6"
                     "726573756c74a26f6b"));
  EXPECT_EQ(encode(ServerMessage{InstanceEvent{"abc", 5, "m"}}),
            from_hex("84a474797065ae696e7374616e63655f6576656e74ab696e7374616e63655f6964a36162"
                     "63a56576656e7405a76d657373616765a16d"));
}

TEST(ClientMessages, AcceptsAnyIntegerWidthAnyKeyOrderAndExtraKeys) {
  RawMap m(8);
  m.bin("chunk_data", "xyz")
      .u64("total_chunks", 3)
      .str("unknown_key", "ignored")
      .u8("corr_id", 200)
      .u64("chunk_index", 2)
      .str("program_hash", "abc")
      .str("type", "upload_program")
      .key("extra")
      .packer()
      .pack_nil();
  const auto up = decode_as<UploadProgram>(m.bytes());
  EXPECT_EQ(up.corr_id, 200U);
  EXPECT_EQ(up.chunk_index, 2U);
  EXPECT_EQ(up.total_chunks, 3U);
  EXPECT_EQ(up.chunk_data, "xyz");
  EXPECT_EQ(up.program_hash, "abc");
}

TEST(ClientMessages, ChunkDataWrittenAsRawStrIsAccepted) {
  // chunk_data written as str, as MessagePack writers without a bin type do.
  RawMap full(7);
  full.str("type", "upload_blob")
      .u8("corr_id", 1)
      .str("instance_id", "i")
      .str("blob_hash", "h")
      .u8("chunk_index", 0)
      .u8("total_chunks", 1)
      .str("chunk_data", "raw");
  EXPECT_EQ(decode_as<UploadBlob>(full.bytes()).chunk_data, "raw");
}

TEST(ClientMessages, LaunchWithoutArgumentsMeansNoArguments) {
  RawMap m(3);
  m.str("type", "launch_instance").u8("corr_id", 1).str("program_hash", "h");
  EXPECT_TRUE(decode_as<LaunchInstance>(m.bytes()).arguments.empty());
}

TEST(ClientMessages, ChunkCount) {
  EXPECT_EQ(chunk_count(0), 1U);
  EXPECT_EQ(chunk_count(1), 1U);
  EXPECT_EQ(chunk_count(kChunkSize), 1U);
  EXPECT_EQ(chunk_count(kChunkSize + 1), 2U);
  EXPECT_EQ(chunk_count(3 * kChunkSize), 3U);
}

TEST(ClientMessages, CorrIdOfRequestsOnly) {
  EXPECT_EQ(corr_id_of(Query{42, "", ""}), 42U);
  EXPECT_EQ(corr_id_of(UploadBlob{7, "", "", 0, 1, ""}), 7U);
  EXPECT_FALSE(corr_id_of(SignalInstance{"i", "m"}).has_value());
  EXPECT_FALSE(corr_id_of(TerminateInstance{"i"}).has_value());
}

TEST(ClientMessages, MalformedInputIsRejectedWithAReason) {
  msgpack::sbuffer array;
  msgpack::packer<msgpack::sbuffer>(array).pack_array(0);
  EXPECT_THAT(decode_error(std::string(array.data(), array.size())),
              HasSubstr("expected a MessagePack map, got array"));

  EXPECT_THAT(decode_error(RawMap(1).u8("corr_id", 1).bytes()), HasSubstr("no 'type' field"));
  EXPECT_THAT(decode_error(RawMap(1).u8("type", 1).bytes()),
              HasSubstr("message.type must be a str, got unsigned integer"));
  EXPECT_THAT(decode_error(RawMap(2).str("type", "fly").u8("corr_id", 1).bytes()),
              HasSubstr("unknown message type 'fly'"));
  EXPECT_THAT(decode_error(RawMap(2).str("type", "authenticate").u8("corr_id", 1).bytes()),
              HasSubstr("authenticate: missing field 'token'"));
  EXPECT_THAT(
      decode_error(
          RawMap(3).str("type", "authenticate").str("corr_id", "1").str("token", "t").bytes()),
      HasSubstr("authenticate.corr_id must be an unsigned integer, got str"));
  EXPECT_THAT(decode_error(RawMap(3)
                               .str("type", "authenticate")
                               .u64("corr_id", uint64_t{1} << 32)
                               .str("token", "t")
                               .bytes()),
              HasSubstr("authenticate.corr_id is out of range"));
  EXPECT_THAT(
      decode_error(
          RawMap(3).str("type", "authenticate").i64("corr_id", -1).str("token", "t").bytes()),
      HasSubstr("authenticate.corr_id must not be negative"));
  EXPECT_THAT(decode_error(RawMap(6)
                               .str("type", "upload_program")
                               .u8("corr_id", 1)
                               .str("program_hash", "h")
                               .u8("chunk_index", 0)
                               .u8("total_chunks", 1)
                               .u8("chunk_data", 3)
                               .bytes()),
              HasSubstr("upload_program.chunk_data must be bin, got unsigned integer"));

  RawMap args(4);
  args.str("type", "launch_instance").u8("corr_id", 1).str("program_hash", "h").key("arguments");
  args.packer().pack_array(2);
  args.packer().pack(std::string("ok"));
  args.packer().pack(3);
  EXPECT_THAT(decode_error(args.bytes()),
              HasSubstr("launch_instance.arguments[1] must be a str, got unsigned integer"));
}

TEST(ClientMessages, BrokenMessagePackIsRejected) {
  const std::string good = encode(ClientMessage{Authenticate{1, "token"}});
  EXPECT_THAT(decode_error(good.substr(0, good.size() - 2)), HasSubstr("truncated"));
  EXPECT_THAT(decode_error(good + "x"), HasSubstr("unexpected bytes"));
  EXPECT_THAT(decode_error(""), HasSubstr("truncated"));
  EXPECT_THAT(decode_error("\xc1"), HasSubstr("invalid MessagePack"));
  // A tiny payload claiming a huge array must not allocate for it.
  EXPECT_THAT(decode_error(std::string("\xdd\xff\xff\xff\xff", 5)), HasSubstr("MessagePack"));
  // Deep nesting is refused.
  EXPECT_THAT(decode_error(std::string(100, '\x91')), HasSubstr("MessagePack"));
}

}  // namespace
}  // namespace pie::protocol
