// The server over real loopback WebSockets, against the scripted FakeEngine.
#include "server/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/blake3.h"
#include "common/uuid.h"
#include "protocol/client_messages.h"
#include "server/auth.h"
#include "server/testing/fake_engine.h"
#include "server/testing/peer.h"

namespace pie::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace protocol;
using testing::FakeEngine;
using ::testing::HasSubstr;
using testing::Peer;
using ::testing::StartsWith;

constexpr const char* kSecret = "test-secret";

std::vector<UploadProgram> program_chunks(uint32_t corr_id, const std::string& bytes,
                                          const std::string& hash) {
  const uint64_t total = std::max<uint64_t>(1, (bytes.size() + kChunkSize - 1) / kChunkSize);
  std::vector<UploadProgram> chunks;
  for (uint64_t i = 0; i < total; ++i) {
    chunks.push_back(
        UploadProgram{corr_id, hash, i, total, bytes.substr(i * kChunkSize, kChunkSize)});
  }
  return chunks;
}

std::vector<UploadBlob> blob_chunks(uint32_t corr_id, const std::string& instance_id,
                                    const std::string& bytes) {
  const std::string hash = blake3_hex(bytes);
  const uint64_t total = std::max<uint64_t>(1, (bytes.size() + kChunkSize - 1) / kChunkSize);
  std::vector<UploadBlob> chunks;
  for (uint64_t i = 0; i < total; ++i) {
    chunks.push_back(
        UploadBlob{corr_id, instance_id, hash, i, total, bytes.substr(i * kChunkSize, kChunkSize)});
  }
  return chunks;
}

std::string bytes_of(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 13);
  return s;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(ServerOptions options) {
    options.host = "127.0.0.1";
    options.port = 0;
    if (options.auth_secret.empty()) options.auth_secret = kSecret;
    server_ = std::make_unique<Server>(options, engine_);
    server_->start();
  }
  void restart(ServerOptions options) {
    server_.reset();
    start(std::move(options));
  }

  std::unique_ptr<Peer> connect(bool authenticate = true) {
    auto peer = std::make_unique<Peer>(server_->port());
    if (authenticate) {
      const Response r = peer->request(Authenticate{1, mint_token(kSecret, "tester")});
      EXPECT_TRUE(r.successful) << r.result;
    }
    return peer;
  }

  // Uploads `bytes` as a program and returns its hash.
  std::string upload(Peer& peer, const std::string& bytes) {
    const std::string hash = blake3_hex(bytes);
    for (const auto& c : program_chunks(5, bytes, hash)) peer.send(c);
    const Response r = peer.response();
    EXPECT_TRUE(r.successful) << r.result;
    EXPECT_EQ(r.result, hash);
    return hash;
  }

  // Launches the program with these script arguments; returns the instance id.
  std::string launch(Peer& peer, const std::vector<std::string>& script) {
    const std::string hash = upload(peer, "program");
    const Response r = peer.request(LaunchInstance{9, hash, script});
    EXPECT_TRUE(r.successful) << r.result;
    EXPECT_TRUE(canonical_uuid(r.result).has_value()) << r.result;
    return r.result;
  }

  // The server still answers a fresh, authenticated connection.
  void expect_serving() {
    auto peer = connect();
    const Response r = peer->request(Query{77, "program_exists", "nothing"});
    EXPECT_EQ(r.corr_id, 77U);
    EXPECT_EQ(r.result, "false");
  }

  FakeEngine engine_;
  std::unique_ptr<Server> server_;
};

// --- authentication ---

TEST_F(ServerTest, UnauthenticatedRequestsAreRefused) {
  auto peer = connect(false);
  Response r = peer->request(Query{3, "program_exists", "x"});
  EXPECT_EQ(r.corr_id, 3U);
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Not authenticated");
  EXPECT_EQ(peer->request(UploadProgram{4, "h", 0, 1, "x"}).result, "Not authenticated");
  EXPECT_EQ(peer->request(LaunchInstance{5, "h", {}}).result, "Not authenticated");
  EXPECT_EQ(peer->request(AttachRemoteService{6, "tcp://x", "model", "m"}).result,
            "Not authenticated");
  // Fire-and-forget requests get no reply at all: the next message answers the next request.
  peer->send(SignalInstance{random_uuid_v4(), "hi"});
  peer->send(TerminateInstance{random_uuid_v4()});
  r = peer->request(Authenticate{7, "not.a.token"});
  EXPECT_EQ(r.corr_id, 7U);
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Invalid token");
  r = peer->request(Authenticate{8, mint_token("wrong secret", "mallory")});
  EXPECT_EQ(r.result, "Invalid token");
  r = peer->request(Authenticate{9, mint_token(kSecret, "alice")});
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(r.result, "alice");
  r = peer->request(Authenticate{10, mint_token(kSecret, "bob")});
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(r.result, "Already authenticated");
  EXPECT_EQ(peer->request(Query{11, "program_exists", "x"}).result, "false");
}

TEST_F(ServerTest, WithAuthOffConnectionsStartAuthenticated) {
  ServerOptions options;
  options.enable_auth = false;
  restart(options);
  auto peer = connect(false);
  EXPECT_EQ(peer->request(Query{1, "program_exists", "x"}).result, "false");
  const Response r = peer->request(Authenticate{2, "anything"});
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(r.result, "Already authenticated");
}

TEST_F(ServerTest, RefusesToStartWithAuthButNoSecret) {
  server_.reset();
  ServerOptions options;
  options.port = 0;
  Server server(options, engine_);
  EXPECT_THROW(server.start(), Error);
}

TEST_F(ServerTest, ReportsAPortThatCannotBeBound) {
  ServerOptions options;
  options.port = server_->port();
  options.auth_secret = kSecret;
  Server second(options, engine_);
  try {
    second.start();
    FAIL() << "bound a port already in use";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot listen on 127.0.0.1:"));
  }
}

// --- queries ---

TEST_F(ServerTest, Queries) {
  auto peer = connect();
  EXPECT_EQ(peer->request(Query{1, "program_exists", blake3_hex("prog")}).result, "false");
  upload(*peer, "prog");
  EXPECT_EQ(peer->request(Query{2, "program_exists", blake3_hex("prog")}).result, "true");

  EXPECT_TRUE(
      peer->request(AttachRemoteService{3, "tcp://127.0.0.1:5555", "model", "m1"}).successful);
  const Response status = peer->request(Query{4, "model_status", ""});
  EXPECT_TRUE(status.successful);
  const auto json = nlohmann::json::parse(status.result);
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json.at("m1.model.name"), "m1");
  EXPECT_EQ(json.at("m1.resource.0.capacity"), "1024");

  const Response unknown = peer->request(Query{5, "weather", ""});
  EXPECT_EQ(unknown.corr_id, 5U);
  EXPECT_FALSE(unknown.successful);
  EXPECT_EQ(unknown.result, "Unknown query subject");
}

// --- program upload ---

TEST_F(ServerTest, MultiChunkUploadRepliesOnceWithTheHash) {
  auto peer = connect();
  const std::string program = bytes_of(2 * kChunkSize + 1000, 'a');
  const std::string hash = blake3_hex(program);
  // Intermediate chunks get no reply: the first message is the final response.
  for (const auto& c : program_chunks(42, program, hash)) peer->send(c);
  const Response r = peer->response();
  EXPECT_EQ(r.corr_id, 42U);
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(r.result, hash);
  EXPECT_TRUE(engine_.program_exists(hash));
  // An empty program is one empty chunk.
  EXPECT_EQ(upload(*peer, ""), blake3_hex(std::string_view()));
}

TEST_F(ServerTest, UploadErrorTexts) {
  auto peer = connect();
  const std::string big(kChunkSize + 1, 'x');
  EXPECT_EQ(peer->request(UploadProgram{1, "h", 0, 1, big}).result,
            "Chunk size 262145 exceeds limit 262144");
  EXPECT_EQ(peer->request(UploadProgram{2, "h", 1, 2, "x"}).result, "First chunk index must be 0");
  peer->send(UploadProgram{3, "h", 0, 3, "x"});
  EXPECT_EQ(peer->request(UploadProgram{3, "h", 1, 4, "x"}).result,
            "Chunk count mismatch: expected 3, got 4");
  peer->send(UploadProgram{4, "h", 0, 3, "x"});
  EXPECT_EQ(peer->request(UploadProgram{4, "h", 2, 3, "x"}).result,
            "Out-of-order chunk: expected 1, got 2");
  const std::string wrong(64, 'f');
  const Response mismatch = peer->request(UploadProgram{5, wrong, 0, 1, "abc"});
  EXPECT_FALSE(mismatch.successful);
  EXPECT_EQ(mismatch.result, "Hash mismatch: expected " + wrong + ", got " + blake3_hex("abc"));
  const Response compile =
      peer->request(UploadProgram{6, blake3_hex("bad wasm"), 0, 1, "bad wasm"});
  EXPECT_FALSE(compile.successful);
  EXPECT_EQ(compile.result, "Failed to compile: not a WebAssembly module");
  // After all of that the connection uploads normally.
  upload(*peer, "fine");
}

TEST_F(ServerTest, AProgramIsStoredUnderTheHashItWasVerifiedAgainst) {
  auto peer = connect();
  const std::string program = bytes_of(kChunkSize + 10, 'v');
  const std::string hash = blake3_hex(program);
  const std::string other = blake3_hex("something else");
  auto chunks = program_chunks(8, program, hash);
  chunks[1].program_hash = other;  // a last chunk naming another program must not poison it
  for (const auto& c : chunks) peer->send(c);
  const Response r = peer->response();
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(r.result, hash);
  EXPECT_TRUE(engine_.program_exists(hash));
  EXPECT_FALSE(engine_.program_exists(other));
}

TEST_F(ServerTest, IdleUploadIsDroppedAndItsSenderTold) {
  ServerOptions options;
  options.limits.upload_idle_timeout = std::chrono::milliseconds(100);
  restart(options);
  auto peer = connect();
  peer->send(UploadProgram{12, "h", 0, 2, "x"});
  const Response r = peer->response();
  EXPECT_EQ(r.corr_id, 12U);
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Upload timed out: no chunk for 100 ms");
  // The state was reset: a new upload starts from chunk 0.
  EXPECT_EQ(peer->request(UploadProgram{13, "h", 1, 2, "x"}).result, "First chunk index must be 0");
}

// --- instances ---

TEST_F(ServerTest, LaunchRepliesWithTheIdBeforeTheInstancesFirstEvents) {
  auto peer = connect();
  const std::string hash = upload(*peer, "program");
  peer->send(LaunchInstance{20, hash, {"send:hello", "blob:0", "exit:the end"}});
  const Response r = peer->response();
  EXPECT_EQ(r.corr_id, 20U);
  ASSERT_TRUE(r.successful) << r.result;
  const std::string id = r.result;
  const InstanceEvent hello = peer->event();
  EXPECT_EQ(hello.instance_id, id);
  EXPECT_EQ(hello.event, static_cast<uint32_t>(EventCode::Message));
  EXPECT_EQ(hello.message, "hello");
  // An empty blob still arrives: one empty chunk, total_chunks 1.
  const auto blob = std::get<DownloadBlob>(peer->recv());
  EXPECT_EQ(blob.instance_id, id);
  EXPECT_EQ(blob.corr_id, 0U);
  EXPECT_EQ(blob.chunk_index, 0U);
  EXPECT_EQ(blob.total_chunks, 1U);
  EXPECT_TRUE(blob.chunk_data.empty());
  EXPECT_EQ(blob.blob_hash, blake3_hex(std::string_view()));
  const InstanceEvent done = peer->event();
  EXPECT_EQ(done.event, static_cast<uint32_t>(EventCode::Completed));
  EXPECT_EQ(done.message, "the end");
  // Once it ended the instance is no longer owned.
  EXPECT_EQ(peer->request(UploadBlob{21, id, blake3_hex("x"), 0, 1, "x"}).result,
            "Instance not owned by client: " + id);
}

TEST_F(ServerTest, LaunchOfAnUnknownProgramFails) {
  auto peer = connect();
  const std::string missing(64, '0');
  const Response r = peer->request(LaunchInstance{1, missing, {}});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "No such program with hash=" + missing);
}

TEST_F(ServerTest, TerminationCodesMapToEventCodes) {
  auto peer = connect();
  const std::pair<std::string, EventCode> cases[] = {
      {"exit:ok", EventCode::Completed},
      {"fail:boom", EventCode::Exception},
      {"error:backend died", EventCode::ServerError},
      {"oom", EventCode::OutOfResources},
  };
  for (const auto& [script, code] : cases) {
    const std::string id = launch(*peer, {script});
    const InstanceEvent e = peer->event();
    EXPECT_EQ(e.instance_id, id);
    EXPECT_EQ(e.event, static_cast<uint32_t>(code)) << script;
  }
  const std::string id = launch(*peer, {});
  peer->send(TerminateInstance{id});
  const InstanceEvent aborted = peer->event();
  EXPECT_EQ(aborted.event, static_cast<uint32_t>(EventCode::Aborted));
  EXPECT_EQ(aborted.message, "Signal termination");
}

TEST_F(ServerTest, SignalsReachOnlyOwnedInstances) {
  auto owner = connect();
  auto other = connect();
  const std::string id = launch(*owner, {});
  // The other connection can neither signal, terminate nor upload to it.
  other->send(SignalInstance{id, "from other"});
  other->send(TerminateInstance{id});
  EXPECT_EQ(other->request(UploadBlob{1, id, blake3_hex("x"), 0, 1, "x"}).result,
            "Instance not owned by client: " + id);
  EXPECT_EQ(other->request(UploadBlob{2, "not-a-uuid", blake3_hex("x"), 0, 1, "x"}).result,
            "Invalid instance_id: not-a-uuid");
  // The owner's signals are echoed, in order, also when it writes the id in upper case.
  owner->send(SignalInstance{id, "one"});
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  owner->send(SignalInstance{upper, "two"});
  EXPECT_EQ(owner->event().message, "one");
  EXPECT_EQ(owner->event().message, "two");
  owner->send(SignalInstance{id, "exit"});
  const InstanceEvent done = owner->event();
  EXPECT_EQ(done.event, static_cast<uint32_t>(EventCode::Completed));
  EXPECT_EQ(done.message, "bye");
  EXPECT_EQ(engine_.running(), 0U);
}

TEST_F(ServerTest, BlobsGoBothWays) {
  auto peer = connect();
  const std::string id = launch(*peer, {});
  // Receives the upload's reply and the instance's echo of the blob, in whichever order.
  auto expect_echo = [&](uint32_t corr_id, const std::string& data) {
    const uint64_t chunks = std::max<uint64_t>(1, (data.size() + kChunkSize - 1) / kChunkSize);
    bool replied = false;
    uint64_t next = 0;
    std::string got;
    while (!replied || next < chunks) {
      ServerMessage m = peer->recv();
      if (auto* r = std::get_if<Response>(&m)) {
        EXPECT_EQ(r->corr_id, corr_id);
        EXPECT_TRUE(r->successful) << r->result;
        EXPECT_EQ(r->result, "Blob sent to instance");
        replied = true;
        continue;
      }
      const auto& chunk = std::get<DownloadBlob>(m);
      EXPECT_EQ(chunk.instance_id, id);
      EXPECT_EQ(chunk.blob_hash, blake3_hex(data));
      EXPECT_EQ(chunk.chunk_index, next++);
      EXPECT_EQ(chunk.total_chunks, chunks);
      got += chunk.chunk_data;
    }
    EXPECT_EQ(got, data);
  };
  // Two uploads in flight at once, their chunks interleaved.
  const std::string a = bytes_of(kChunkSize + 100, 'a');
  const std::string b = bytes_of(2 * kChunkSize + 7, 'b');
  const auto ca = blob_chunks(30, id, a);
  const auto cb = blob_chunks(31, id, b);
  ASSERT_EQ(cb.size(), 3U);
  peer->send(ca[0]);
  peer->send(cb[0]);
  peer->send(cb[1]);
  peer->send(ca[1]);
  expect_echo(30, a);
  peer->send(cb[2]);
  expect_echo(31, b);
  // An empty blob is delivered too, and comes back as one empty chunk.
  peer->send(blob_chunks(32, id, "")[0]);
  expect_echo(32, "");
  // Blob uploads obey the same chunk rules.
  EXPECT_EQ(peer->request(UploadBlob{33, id, "h", 1, 2, "x"}).result,
            "First chunk index must be 0");
  const Response mismatch = peer->request(UploadBlob{34, id, "h", 0, 1, "x"});
  EXPECT_EQ(mismatch.result, "Hash mismatch: expected h, got " + blake3_hex("x"));
}

TEST_F(ServerTest, ABigBlobFromAnInstanceArrivesInOrderedChunks) {
  auto peer = connect();
  const size_t size = 3 * kChunkSize + 5;
  const std::string id = launch(*peer, {"blob:" + std::to_string(size)});
  std::string got;
  std::string hash;
  for (uint64_t i = 0; i < 4; ++i) {
    const auto chunk = std::get<DownloadBlob>(peer->recv());
    EXPECT_EQ(chunk.instance_id, id);
    EXPECT_EQ(chunk.chunk_index, i);
    EXPECT_EQ(chunk.total_chunks, 4U);
    hash = chunk.blob_hash;
    got += chunk.chunk_data;
  }
  EXPECT_EQ(got.size(), size);
  EXPECT_EQ(blake3_hex(got), hash);
}

// --- connections ending ---

TEST_F(ServerTest, ClosingAConnectionTerminatesWhatItOwned) {
  auto peer = connect();
  const std::string a = launch(*peer, {});
  const std::string b = launch(*peer, {});
  const std::string done = launch(*peer, {"exit:x"});
  EXPECT_EQ(peer->event().event, static_cast<uint32_t>(EventCode::Completed));
  peer->close();
  const auto terminations = engine_.wait_for_terminations(2);
  ASSERT_EQ(terminations.size(), 2U);
  std::set<std::string> ids;
  for (const auto& t : terminations) {
    ids.insert(t.instance_id);
    EXPECT_EQ(t.code, TerminationCode::Exception);
    EXPECT_EQ(t.message, "socket terminated");
  }
  EXPECT_EQ(ids, (std::set<std::string>{a, b}));
  EXPECT_EQ(engine_.running(), 0U);
  expect_serving();
}

TEST_F(ServerTest, ClientVanishingMidUploadLeavesTheServerServing) {
  {
    auto peer = connect();
    const std::string id = launch(*peer, {});
    peer->send(UploadProgram{1, "h", 0, 5, bytes_of(kChunkSize, 'p')});
    peer->send(blob_chunks(2, id, bytes_of(2 * kChunkSize, 'q'))[0]);
    peer->drop();
  }
  EXPECT_EQ(engine_.wait_for_terminations(1).size(), 1U);
  expect_serving();
}

// --- what the server ignores or refuses ---

TEST_F(ServerTest, GarbageAndTextFramesGetNoReplyAndTheConnectionGoesOn) {
  auto peer = connect();
  peer->send_raw("\xc1 definitely not msgpack");
  peer->send_raw("");
  peer->send_raw(std::string("\x93\x01\x02\x03", 4));        // an array, not a map
  peer->send_raw(std::string("\x81\xa4type\xa3zap", 10));    // unknown type
  peer->send_raw(std::string("\x81\xa4type\xa5query", 12));  // missing fields
  // Text frames are ignored, even one spelling out a request.
  peer->send_text(R"({"type":"query","corr_id":99,"subject":"program_exists","record":"x"})");
  const Response r = peer->request(Query{100, "program_exists", "x"});
  EXPECT_EQ(r.corr_id, 100U);
  EXPECT_EQ(r.result, "false");
}

TEST_F(ServerTest, AnOversizedFrameClosesOnlyThatConnection) {
  ServerOptions options;
  options.limits.max_frame_bytes = 1 << 20;
  restart(options);
  auto bystander = connect();
  auto peer = connect();
  peer->send_raw(std::string((1 << 20) + 1, '\0'));
  EXPECT_TRUE(peer->ended_by_server());
  EXPECT_EQ(bystander->request(Query{5, "program_exists", "x"}).result, "false");
  expect_serving();
}

TEST_F(ServerTest, UploadLimitsPerConnection) {
  ServerOptions options;
  options.limits.uploads.max_uploads = 2;
  options.limits.uploads.max_buffered_bytes = kChunkSize;
  restart(options);
  auto peer = connect();
  const std::string id = launch(*peer, {});
  peer->send(UploadBlob{1, id, "b1", 0, 3, "x"});
  peer->send(UploadBlob{2, id, "b2", 0, 3, "x"});
  EXPECT_EQ(peer->request(UploadBlob{3, id, "b3", 0, 3, "x"}).result,
            "Too many uploads in flight (limit 2)");
  EXPECT_EQ(peer->request(UploadBlob{4, id, "b1", 1, 3, bytes_of(kChunkSize, 'z')}).result,
            "Upload buffer limit of 262144 bytes exceeded");
}

// --- blocking engine calls ---

TEST_F(ServerTest, ASlowEngineCallDoesNotStallOtherConnections) {
  auto slow = connect();
  const std::string hash = upload(*slow, "program");
  slow->send(LaunchInstance{50, hash, {"block", "send:unblocked"}});
  // The launch is parked inside the engine; another connection is served meanwhile.
  expect_serving();
  auto other = connect();
  upload(*other, "other program");
  engine_.release();
  const Response r = slow->response();
  EXPECT_EQ(r.corr_id, 50U);
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(slow->event().message, "unblocked");
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto peer = connect();
  const std::string hash = blake3_hex("prog");
  // Upload, query and launch sent back to back without waiting: handled one after the other,
  // so the launch sees the program the upload stored.
  peer->send(UploadProgram{1, hash, 0, 1, "prog"});
  peer->send(Query{2, "program_exists", hash});
  peer->send(LaunchInstance{3, hash, {}});
  peer->send(Query{4, "weather", ""});
  for (uint32_t corr_id = 1; corr_id <= 4; ++corr_id) {
    const Response r = peer->response();
    EXPECT_EQ(r.corr_id, corr_id);
    EXPECT_EQ(r.successful, corr_id != 4) << r.result;
  }
}

// --- backends and server instances ---

TEST_F(ServerTest, AttachRemoteService) {
  auto peer = connect();
  Response r = peer->request(AttachRemoteService{1, "ipc:///tmp/pie-test", "model", "llama"});
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(r.result, "Model service registered");
  r = peer->request(AttachRemoteService{2, "ipc:///tmp/pie-test2", "model", "llama"});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Failed to register model");
  r = peer->request(AttachRemoteService{3, "nowhere", "model", "qwen"});
  EXPECT_EQ(r.result, "Failed to attach to model backend");
  r = peer->request(AttachRemoteService{4, "tcp://x:1", "l4m", "qwen"});
  EXPECT_EQ(r.result, "Unknown service type: l4m");
}

TEST_F(ServerTest, LaunchServerInstance) {
  auto peer = connect();
  const std::string hash = upload(*peer, "http program");
  Response r = peer->request(LaunchServerInstance{1, 8123, hash, {"--x"}});
  EXPECT_TRUE(r.successful);
  EXPECT_EQ(r.result, "server launched");
  EXPECT_EQ(engine_.server_ports(), std::vector<uint32_t>{8123});
  r = peer->request(LaunchServerInstance{2, 8124, std::string(64, '1'), {}});
  EXPECT_FALSE(r.successful);
  EXPECT_THAT(r.result, StartsWith("No such program with hash="));
}

// --- many connections, shutdown ---

TEST_F(ServerTest, AThousandConnectionsOpenAndClose) {
  for (int round = 0; round < 10; ++round) {
    std::vector<std::unique_ptr<Peer>> peers;
    for (int i = 0; i < 100; ++i) peers.push_back(std::make_unique<Peer>(server_->port()));
    for (auto& p : peers) p->send(Authenticate{1, mint_token(kSecret, "many")});
    for (auto& p : peers) EXPECT_TRUE(p->response().successful);
    for (size_t i = 0; i < peers.size(); ++i) {
      // Half close politely, half just vanish.
      if (i % 2 == 0) {
        peers[i]->close();
      } else {
        peers[i]->drop();
      }
    }
  }
  expect_serving();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (server_->connection_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->connection_count(), 0U);
}

TEST_F(ServerTest, StopClosesConnectionsAndEndsTheirInstances) {
  auto peer = connect();
  const std::string id = launch(*peer, {});
  server_->stop();
  EXPECT_TRUE(peer->ended_by_server());
  const auto terminations = engine_.wait_for_terminations(1);
  ASSERT_EQ(terminations.size(), 1U);
  EXPECT_EQ(terminations[0].instance_id, id);
  EXPECT_EQ(terminations[0].message, "socket terminated");
  EXPECT_EQ(server_->connection_count(), 0U);
  server_->stop();  // idempotent
}

}  // namespace
}  // namespace pie::server
