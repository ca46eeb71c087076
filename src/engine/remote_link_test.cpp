// The ZeroMQ link and the backend server: frames on the wire, heartbeats, timeouts, a backend
// process that dies.
#include "engine/remote_link.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <future>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "engine/backend_server.h"
#include "engine/model_service.h"
#include "engine/testing/fake_backend.h"
#include "engine/testing/service_harness.h"
#include "protocol/backend_codec.h"

namespace pie::engine {
namespace {

using namespace std::chrono_literals;
using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using protocol::HandlerId;
using testing::FakeBackend;
using ::testing::HasSubstr;
using testing::Outcome;

// A ROUTER the test controls: it records every message and answers what it is told to.
class ScriptedBackend {
 public:
  struct Message {
    uint32_t corr;
    uint32_t handler;
    std::vector<std::string> payloads;
  };

  ScriptedBackend(bool answer_heartbeats, bool answer_forward)
      : answer_heartbeats_(answer_heartbeats), answer_forward_(answer_forward) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { loop(); });
  }
  ~ScriptedBackend() {
    stop_ = true;
    thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }

  // Waits (at most 20 s) until `count` messages of `handler` arrived; returns them all.
  std::vector<Message> wait_for(HandlerId handler, size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 20s, [&] { return of(handler).size() >= count; });
    return of(handler);
  }

 private:
  std::vector<Message> of(HandlerId handler) const {
    std::vector<Message> out;
    for (const Message& m : messages_) {
      if (m.handler == static_cast<uint32_t>(handler)) out.push_back(m);
    }
    return out;
  }

  void loop() {
    while (!stop_) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 20ms);
      if ((item.revents & ZMQ_POLLIN) == 0) continue;
      std::vector<zmq::message_t> frames;
      (void)zmq::recv_multipart(router_, std::back_inserter(frames));
      Message m{protocol::decode_u32_frame(frames[1].to_string_view()),
                protocol::decode_u32_frame(frames[2].to_string_view()),
                {}};
      for (size_t i = 3; i < frames.size(); ++i) m.payloads.push_back(frames[i].to_string());
      std::vector<std::string> reply{frames[0].to_string(), frames[1].to_string(),
                                     frames[2].to_string()};
      const auto handler = static_cast<HandlerId>(m.handler);
      bool answer = false;
      if (handler == HandlerId::Handshake) {
        protocol::HandshakeResponse h;
        h.model_name = "scripted";
        h.kv_page_size = 4;
        h.resources = {{0, 8}};
        reply.push_back(protocol::encode(h));
        answer = true;
      } else if (handler == HandlerId::Heartbeat) {
        reply.push_back(protocol::encode(protocol::HeartbeatResponse{}));
        answer = answer_heartbeats_;
      } else if (handler == HandlerId::ForwardPass) {
        for (size_t i = 0; i < m.payloads.size(); ++i) {
          reply.push_back(protocol::encode(ForwardPassResponse{}));
        }
        answer = answer_forward_;
      } else if (handler == HandlerId::Query) {
        reply.push_back(protocol::encode(protocol::QueryResponse{"answer"}));
        answer = true;
      }
      if (answer) {
        std::vector<zmq::const_buffer> out;
        for (const std::string& f : reply) out.push_back(zmq::buffer(f));
        zmq::send_multipart(router_, out);
      }
      {
        std::lock_guard lock(mutex_);
        messages_.push_back(std::move(m));
      }
      changed_.notify_all();
    }
  }

  const bool answer_heartbeats_;
  const bool answer_forward_;
  zmq::context_t context_{1};
  zmq::socket_t router_{context_, zmq::socket_type::router};
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Message> messages_;
  std::thread thread_;
};

ForwardPassRequest small_pass(uint32_t token) {
  ForwardPassRequest r;
  r.input_tokens = {token};
  r.input_token_positions = {0};
  r.kv_page_ptrs = {0};
  r.kv_page_last_len = 1;
  return r;
}

RemoteLinkOptions fast(std::chrono::milliseconds heartbeat_timeout = 10s,
                       std::chrono::milliseconds request_timeout = 120s) {
  RemoteLinkOptions o;
  o.heartbeat_interval = 50ms;
  o.heartbeat_timeout = heartbeat_timeout;
  o.request_timeout = request_timeout;
  o.handshake_timeout = 20s;
  return o;
}

TEST(RemoteLink, SpeaksTheFramesOfTheReference) {
  ScriptedBackend backend(true, true);
  RemoteLink link(backend.endpoint(), fast());
  EXPECT_EQ(link.handshake().model_name, "scripted");
  Outcome<std::vector<ForwardPassResponse>> batch;
  link.forward_pass({small_pass(1), small_pass(2)}, batch.callback());
  EXPECT_EQ(batch.get().value().size(), 2U);
  Outcome<protocol::QueryResponse> answer;
  link.query(protocol::QueryRequest{"stats"}, answer.callback());
  EXPECT_EQ(answer.get().value().value, "answer");

  const auto handshakes = backend.wait_for(HandlerId::Handshake, 1);
  ASSERT_EQ(handshakes.size(), 1U);
  EXPECT_EQ(handshakes[0].corr, 0U);  // the first correlation id
  ASSERT_EQ(handshakes[0].payloads.size(), 1U);
  EXPECT_EQ(protocol::decode<protocol::HandshakeRequest>(handshakes[0].payloads[0]).version,
            "0.1.0");
  const auto forwards = backend.wait_for(HandlerId::ForwardPass, 1);
  ASSERT_EQ(forwards.size(), 1U);
  EXPECT_EQ(forwards[0].corr, 1U);
  ASSERT_EQ(forwards[0].payloads.size(), 2U);  // one message, one payload per request
  EXPECT_EQ(forwards[0].payloads[1], protocol::encode(small_pass(2)));
  const auto queries = backend.wait_for(HandlerId::Query, 1);
  EXPECT_EQ(queries[0].corr, 2U);
  EXPECT_EQ(protocol::decode<protocol::QueryRequest>(queries[0].payloads[0]).query, "stats");

  const auto beats = backend.wait_for(HandlerId::Heartbeat, 3);  // they keep coming
  ASSERT_GE(beats.size(), 3U);
  for (const auto& b : beats) {
    EXPECT_EQ(b.corr, protocol::kHeartbeatCorrId);
    ASSERT_EQ(b.payloads.size(), 1U);
    EXPECT_EQ(b.payloads[0], std::string("\x80", 1));  // an empty map
  }
  EXPECT_FALSE(link.unavailable());
}

TEST(RemoteLink, UnansweredHeartbeatsMakeTheBackendUnavailable) {
  ScriptedBackend backend(false, false);
  RemoteLink link(backend.endpoint(), fast(300ms), "model-x");
  link.handshake();
  Outcome<std::vector<ForwardPassResponse>> pending;
  link.forward_pass({small_pass(1)}, pending.callback());
  ASSERT_FALSE(pending.get().ok());
  const std::string why = pending.get().error().what();
  EXPECT_EQ(why, "backend model-x is unavailable: no reply to heartbeats for 0.3 s");
  EXPECT_EQ(link.unavailable(), why);
  Outcome<protocol::QueryResponse> later;
  link.query(protocol::QueryRequest{"ping"}, later.callback());
  ASSERT_FALSE(later.get().ok());
  EXPECT_EQ(later.get().error().what(), why);
}

TEST(RemoteLink, ARequestWithoutAnswerTimesOutAlone) {
  ScriptedBackend backend(true, false);
  RemoteLink link(backend.endpoint(), fast(10s, 200ms), "model-y");
  link.handshake();
  Outcome<std::vector<ForwardPassResponse>> lost;
  link.forward_pass({small_pass(1)}, lost.callback());
  ASSERT_FALSE(lost.get().ok());
  EXPECT_STREQ(lost.get().error().what(),
               "backend model-y did not answer a forward pass request within 0.2 s");
  EXPECT_FALSE(link.unavailable());
  Outcome<protocol::QueryResponse> still;
  link.query(protocol::QueryRequest{"ping"}, still.callback());
  EXPECT_TRUE(still.get().ok());
}

TEST(RemoteLink, ATimedOutPassWithoutCallbackEndsItsInstance) {
  ScriptedBackend backend(true, false);
  std::promise<testing::Termination> ended;
  ModelService service("m", std::make_unique<RemoteLink>(backend.endpoint(), fast(10s, 200ms)), {},
                       [&](InstanceKey i, uint32_t code, std::string message) {
                         ended.set_value({i, code, std::move(message)});
                       });
  Outcome<std::vector<uint32_t>> page;
  service.allocate(5, ResourceType::KvPage, 1, page.callback());
  ASSERT_TRUE(page.get().ok());
  service.forward_pass(5, service.create_stream(), small_pass(1), nullptr);
  auto f = ended.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  const testing::Termination t = f.get();
  EXPECT_EQ(t.instance, 5U);
  EXPECT_EQ(t.code, kTerminateException);
  EXPECT_THAT(t.message, HasSubstr("did not answer a forward pass request within 0.2 s"));
}

TEST(RemoteLink, AHandshakeNobodyAnswersFails) {
  zmq::context_t context;
  zmq::socket_t silent(context, zmq::socket_type::router);
  silent.bind("tcp://127.0.0.1:*");
  RemoteLinkOptions o = fast();
  o.handshake_timeout = 100ms;
  RemoteLink link(silent.get(zmq::sockopt::last_endpoint), o, "nobody");
  try {
    link.handshake();
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "backend nobody did not answer the handshake within 0.1 s");
  }
  EXPECT_THROW(RemoteLink("nonsense://here"), Error);
}

// ---- A backend process that dies ----------------------------------------------------------------

class BackendProcess {
 public:
  explicit BackendProcess(std::vector<std::string> args) {
    const std::string exe = PIE_ENGINE_FAKE_BACKEND;
    args.insert(args.begin(), exe);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) throw Error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const int rc = posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      throw Error("cannot start " + exe + ": " + std::strerror(rc));
    }
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') endpoint_ += c;
    close(out[0]);
  }
  ~BackendProcess() {
    if (pid_ > 0) kill_now();
  }
  const std::string& endpoint() const { return endpoint_; }
  void kill_now() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  // Waits (at most 20 s) for the process to exit on its own; true when it did.
  bool wait_exit() {
    for (int i = 0; i < 2000; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = 0;
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  pid_t pid_ = 0;
  std::string endpoint_;
};

TEST(RemoteBackend, KillingTheBackendFailsPendingAndLaterRequests) {
  BackendProcess process({"--hold"});
  ASSERT_FALSE(process.endpoint().empty());
  std::vector<testing::Termination> ended;
  std::mutex mutex;
  ModelService service("",
                       std::make_unique<RemoteLink>(process.endpoint(), fast(500ms), "fake-proc"),
                       {}, [&](InstanceKey i, uint32_t code, std::string message) {
                         std::lock_guard lock(mutex);
                         ended.push_back({i, code, std::move(message)});
                       });
  EXPECT_EQ(service.info().name, "fake");
  Outcome<std::vector<uint32_t>> page;
  service.allocate(1, ResourceType::KvPage, 1, page.callback());
  ASSERT_TRUE(page.get().ok());
  Outcome<ForwardPassResponse> pending;
  service.forward_pass(1, service.create_stream(), small_pass(page.get().value()[0]),
                       pending.callback());
  process.kill_now();

  ASSERT_FALSE(pending.get().ok());
  const std::string why = pending.get().error().what();
  EXPECT_EQ(why, "backend fake-proc is unavailable: no reply to heartbeats for 0.5 s");
  EXPECT_EQ(service.status().at("fake.error"), why);
  Outcome<ForwardPassResponse> later;
  service.forward_pass(1, service.create_stream(), small_pass(page.get().value()[0]),
                       later.callback());
  ASSERT_FALSE(later.get().ok());
  EXPECT_EQ(later.get().error().what(), why);
  std::lock_guard lock(mutex);
  EXPECT_TRUE(ended.empty());  // callers with callbacks get the error; nobody is terminated
}

TEST(RemoteBackend, TheBackendExitsWhenTheEngineGoesSilent) {
  BackendProcess process({"--heartbeat-timeout-ms", "2000"});
  {
    RemoteLink link(process.endpoint(), fast());
    EXPECT_EQ(link.handshake().model_name, "fake");
  }  // the engine goes away
  EXPECT_TRUE(process.wait_exit());
}

// ---- The backend server -------------------------------------------------------------------------

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ =
        std::make_unique<BackendServer>(backend_, BackendServerOptions{"tcp://127.0.0.1:*", 0ms});
    thread_ = std::thread([this] { reason_ = server_->run(); });
    dealer_.set(zmq::sockopt::linger, 0);
    dealer_.set(zmq::sockopt::rcvtimeo, 20000);
    dealer_.connect(server_->endpoint());
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    EXPECT_EQ(reason_, "stopped");
  }
  void send(const std::vector<std::string>& frames) {
    std::vector<zmq::const_buffer> out;
    for (const std::string& f : frames) out.push_back(zmq::buffer(f));
    zmq::send_multipart(dealer_, out);
  }
  std::vector<std::string> receive() {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(dealer_, std::back_inserter(frames))) throw Error("no reply");
    std::vector<std::string> out;
    for (auto& f : frames) out.push_back(f.to_string());
    return out;
  }
  static std::string u32(uint32_t v) { return protocol::encode_u32_frame(v); }
  static std::string handler(HandlerId h) { return u32(static_cast<uint32_t>(h)); }

  FakeBackend backend_;
  std::unique_ptr<BackendServer> server_;
  std::thread thread_;
  std::string reason_;
  zmq::context_t context_;
  zmq::socket_t dealer_{context_, zmq::socket_type::dealer};
};

TEST_F(ServerTest, AnswersEachRequestInOrderAndSkipsWhatCannotBeRead) {
  send({"short"});                                         // ignored: too few frames
  send({u32(9), handler(HandlerId::EmbedImage), "\xc1"});  // no reply for this handler
  send({u32(10), u32(77), "{}"});                          // unknown handler: ignored
  ForwardPassRequest good = small_pass(3);
  good.output_token_indices = {0};
  good.output_token_samplers = {protocol::SamplerSpec{protocol::SamplerKind::TopK}};
  send({u32(11), handler(HandlerId::ForwardPass), protocol::encode(good), "\xc1",
        protocol::encode(small_pass(4))});
  const auto reply = receive();
  ASSERT_EQ(reply.size(), 5U);
  EXPECT_EQ(reply[0], u32(11));
  EXPECT_EQ(reply[1], handler(HandlerId::ForwardPass));
  const auto first = protocol::decode<ForwardPassResponse>(reply[2]);
  EXPECT_FALSE(first.error);
  EXPECT_EQ(first.tokens, std::vector<uint32_t>{FakeBackend::output_of(3, 0, 1000)});
  const auto second = protocol::decode<ForwardPassResponse>(reply[3]);
  ASSERT_TRUE(second.error);
  EXPECT_THAT(*second.error, HasSubstr("malformed forward pass request"));
  EXPECT_FALSE(protocol::decode<ForwardPassResponse>(reply[4]).error);

  send({u32(12), handler(HandlerId::Query), protocol::encode(protocol::QueryRequest{"ping"}),
        protocol::encode(protocol::QueryRequest{"x"})});
  const auto answers = receive();
  ASSERT_EQ(answers.size(), 4U);
  EXPECT_EQ(protocol::decode<protocol::QueryResponse>(answers[2]).value, "pong");
  EXPECT_EQ(protocol::decode<protocol::QueryResponse>(answers[3]).value, "echo: x");

  send({u32(protocol::kHeartbeatCorrId), handler(HandlerId::Heartbeat), "\x80"});
  const auto beat = receive();
  ASSERT_EQ(beat.size(), 3U);
  EXPECT_EQ(beat[0], u32(protocol::kHeartbeatCorrId));
  EXPECT_THAT(backend_.calls(),
              ::testing::ElementsAre("forward 3", "forward 4", "query ping", "query x"));
}

TEST_F(ServerTest, HeartbeatsAreAnsweredWhileAForwardPassRuns) {
  backend_.hold();
  send({u32(1), handler(HandlerId::ForwardPass), protocol::encode(small_pass(1))});
  ASSERT_TRUE(backend_.wait_started(1, 20s));
  send({u32(protocol::kHeartbeatCorrId), handler(HandlerId::Heartbeat), "\x80"});
  EXPECT_EQ(receive()[0], u32(protocol::kHeartbeatCorrId));
  backend_.release();
  EXPECT_EQ(receive()[0], u32(1));
}

TEST(BackendServer, StopsWithoutHeartbeats) {
  FakeBackend backend;
  BackendServer server(backend, BackendServerOptions{"tcp://127.0.0.1:*", 100ms});
  EXPECT_EQ(server.run(), "no heartbeat from the engine for 100 ms");
  EXPECT_THROW(BackendServer(backend, BackendServerOptions{"tcp://256.0.0.1:1", 0ms}), Error);
}

}  // namespace
}  // namespace pie::engine
