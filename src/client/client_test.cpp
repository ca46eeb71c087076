// The client against the real server and the scripted FakeEngine, over loopback.
#include "client/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <thread>

#include "common/blake3.h"
#include "common/error.h"
#include "protocol/client_messages.h"
#include "server/auth.h"
#include "server/server.h"
#include "server/testing/fake_engine.h"

namespace pie::client {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr const char* kSecret = "client-test-secret";
constexpr size_t kChunk = 262144;

std::string pattern(size_t n) {  // what FakeEngine's "blob:<n>" sends
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 % 251);
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.port = 0;
    options.auth_secret = kSecret;
    server_ = std::make_unique<server::Server>(options, engine_);
    server_->start();
    url_ = "ws://127.0.0.1:" + std::to_string(server_->port());
  }

  std::unique_ptr<Client> connect(std::chrono::milliseconds timeout = 0ms) {
    auto c = std::make_unique<Client>(url_, timeout);
    EXPECT_EQ(c->authenticate(server::mint_token(kSecret, "carol")), "carol");
    return c;
  }

  server::testing::FakeEngine engine_;
  std::unique_ptr<server::Server> server_;
  std::string url_;
};

TEST_F(ClientTest, ConnectionErrorsAreReported) {
  EXPECT_THAT(error_of([] { Client("ws://127.0.0.1:1"); }),
              StartsWith("cannot connect to ws://127.0.0.1:1"));
  EXPECT_THAT(error_of([] { Client("ws://localhost"); }), HasSubstr("has no port"));
  EXPECT_THAT(error_of([] { Client("wss://localhost:1"); }), HasSubstr("not supported"));
}

TEST_F(ClientTest, AuthenticationAndQueries) {
  Client c(url_);
  EXPECT_EQ(error_of([&] { c.query("program_exists", "x"); }), "Not authenticated");
  EXPECT_EQ(error_of([&] { c.authenticate("forged"); }), "Invalid token");
  EXPECT_EQ(c.authenticate(server::mint_token(kSecret, "dave")), "dave");
  EXPECT_EQ(c.authenticate(server::mint_token(kSecret, "dave")), "Already authenticated");
  EXPECT_FALSE(c.program_exists(blake3_hex("nothing")));
  EXPECT_EQ(error_of([&] { c.query("weather", ""); }), "Unknown query subject");
  EXPECT_EQ(c.attach_remote_service("tcp://127.0.0.1:9", "model", "m"), "Model service registered");
  EXPECT_THAT(c.query("model_status", ""), HasSubstr("\"m.model.name\":\"m\""));
}

TEST_F(ClientTest, UploadReportsProgressAndTheHash) {
  auto c = connect();
  const std::string program(600000, 'w');
  std::vector<size_t> seen;
  const std::string hash = c->upload_program(program, [&](size_t sent, size_t total) {
    EXPECT_EQ(total, program.size());
    seen.push_back(sent);
  });
  EXPECT_EQ(hash, blake3_hex(program));
  EXPECT_EQ(seen, (std::vector<size_t>{262144, 524288, 600000}));
  EXPECT_TRUE(c->program_exists(hash));
  EXPECT_EQ(c->upload_program(""), blake3_hex(std::string_view()));
  EXPECT_EQ(error_of([&] { c->upload_program("bad module"); }),
            "Failed to compile: not a WebAssembly module");
}

TEST_F(ClientTest, InstanceEventsBlobsAndTermination) {
  auto c = connect();
  const std::string hash = c->upload_program("program");
  Instance inst = c->launch_instance(hash, {"send:hi", "blob:600000", "exit:done"});
  Event e = inst.recv();
  EXPECT_EQ(e.kind, EventKind::Message);
  EXPECT_EQ(e.data, "hi");
  e = inst.recv();
  EXPECT_EQ(e.kind, EventKind::Blob);
  EXPECT_EQ(e.data, pattern(600000));
  e = inst.recv();
  EXPECT_EQ(e.kind, EventKind::Completed);
  EXPECT_TRUE(e.terminal());
  EXPECT_EQ(e.data, "done");
  EXPECT_EQ(error_of([&] { inst.recv(); }), "instance " + inst.id() + " has ended");

  EXPECT_EQ(error_of([&] { c->launch_instance(std::string(64, 'e')); }),
            "No such program with hash=" + std::string(64, 'e'));
}

TEST_F(ClientTest, TalkingToARunningInstance) {
  auto c = connect();
  Instance inst = c->launch_instance(c->upload_program("program"));
  inst.send("ping");
  EXPECT_EQ(inst.recv().data, "ping");
  const std::string blob(300000, 'b');
  inst.upload_blob(blob);
  Event echoed = inst.recv();
  EXPECT_EQ(echoed.kind, EventKind::Blob);
  EXPECT_EQ(echoed.data, blob);
  inst.upload_blob("");
  EXPECT_EQ(inst.recv().data, "");
  EXPECT_FALSE(inst.recv_for(20ms).has_value());
  inst.terminate();
  const Event end = inst.recv();
  EXPECT_EQ(end.kind, EventKind::Aborted);
  EXPECT_EQ(end.data, "Signal termination");
  EXPECT_THAT(error_of([&] { c->upload_blob(inst.id(), "x"); }),
              StartsWith("Instance not owned by client"));
  EXPECT_EQ(to_string(EventKind::OutOfResources), "OutOfResources");
}

TEST_F(ClientTest, RequestTimeout) {
  auto c = connect(200ms);
  const std::string hash = c->upload_program("program");
  EXPECT_EQ(error_of([&] { c->launch_instance(hash, {"block"}); }),
            "no response to launch_instance within 200 ms");
  engine_.release();
  // The late reply is dropped; the connection goes on.
  EXPECT_TRUE(c->program_exists(hash));
}

TEST_F(ClientTest, ManyThreadsShareOneClient) {
  auto c = connect();
  const std::string hash = c->upload_program("program");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Instance inst = c->launch_instance(hash);
      for (int i = 0; i < 20; ++i) {
        const std::string msg = std::to_string(t) + "/" + std::to_string(i);
        inst.send(msg);
        if (inst.recv().data == msg) ++ok;
      }
      inst.send("exit");
      if (inst.recv().kind == EventKind::Completed) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 8 * 21);
}

TEST_F(ClientTest, ServerGoingAwayWakesWaiters) {
  auto c = connect();
  Instance inst = c->launch_instance(c->upload_program("program"));
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    server_->stop();
  });
  EXPECT_THAT(error_of([&] { inst.recv(); }), HasSubstr("connection to the server is closed"));
  stopper.join();
  EXPECT_THAT(error_of([&] { c->program_exists("x"); }),
              HasSubstr("connection to the server is closed"));
}

TEST_F(ClientTest, ClosingEndsTheInstancesOnTheServer) {
  auto c = connect();
  Instance inst = c->launch_instance(c->upload_program("program"));
  c->close();
  const auto terminations = engine_.wait_for_terminations(1);
  ASSERT_EQ(terminations.size(), 1U);
  EXPECT_EQ(terminations[0].instance_id, inst.id());
  EXPECT_EQ(terminations[0].message, "socket terminated");
  EXPECT_THAT(error_of([&] { inst.send("x"); }), HasSubstr("closed"));
}

// A server that answers the first request with a scripted list of frames, to show the client
// what the real server never sends: corrupt and disordered blob downloads.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<std::vector<protocol::ServerMessage>(uint32_t)> script)
      : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, script = std::move(script)] {
      namespace websocket = boost::beast::websocket;
      websocket::stream<boost::asio::ip::tcp::socket> ws(acceptor_.accept());
      ws.accept();
      ws.binary(true);
      boost::beast::flat_buffer buffer;
      ws.read(buffer);
      const auto data = buffer.data();
      const auto request = protocol::decode_client_message(
          std::string_view(static_cast<const char*>(data.data()), data.size()));
      for (const auto& m : script(*protocol::corr_id_of(request))) {
        ws.write(boost::asio::buffer(protocol::encode(m)));
      }
      boost::beast::error_code ec;
      while (!ec) ws.read(buffer, ec);  // until the client leaves
    });
  }
  ~ScriptedServer() { thread_.join(); }
  std::string url() const {
    return "ws://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

TEST(ClientDownloads, CorruptAndDisorderedBlobsAreDroppedGoodOnesDelivered) {
  const std::string id = "8d1c3a0e-1111-4a52-9c4e-2f0a8d6b1e97";
  const std::string good(kChunk + 3, 'g');
  const std::string good_hash = blake3_hex(good);
  ScriptedServer server([&](uint32_t corr_id) {
    using protocol::DownloadBlob;
    return std::vector<protocol::ServerMessage>{
        protocol::Response{corr_id, true, id},
        DownloadBlob{0, id, blake3_hex("expected"), 0, 1, "tampered"},  // hash mismatch
        DownloadBlob{0, id, good_hash, 1, 2, good.substr(kChunk)},      // starts at chunk 1
        DownloadBlob{0, id, good_hash, 0, 2, good.substr(0, kChunk)},
        DownloadBlob{0, id, good_hash, 1, 2, good.substr(kChunk)},
        protocol::InstanceEvent{id, 3, "boom"},
    };
  });
  Client c(server.url());
  Instance inst = c.launch_instance("whatever");
  EXPECT_EQ(inst.id(), id);
  const Event blob = inst.recv();
  EXPECT_EQ(blob.kind, EventKind::Blob);
  EXPECT_EQ(blob.data, good);
  const Event end = inst.recv();
  EXPECT_EQ(end.kind, EventKind::Exception);
  EXPECT_EQ(end.data, "boom");
}

}  // namespace
}  // namespace pie::client
