// Instance lifecycle, isolation and the model-independent parts of the ABI, with the probe
// inferlet (testdata/probe.cpp) and no model registered.
#include "runtime/runtime.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/blake3.h"
#include "common/error.h"
#include "runtime/testdata/recording_owner.h"
#include "shared_data.h"

namespace pie::runtime {
namespace {

namespace fs = std::filesystem;
using server::TerminationCode;
using testing::RecordingOwner;

// Every runtime in this test binary shares the process's V8 and its Wasm memory cap (128 MiB).
constexpr uint32_t kMemoryPages = 2048;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path probe = pie::testing::inferlet_file("probe");
    ASSERT_FALSE(probe.empty()) << "probe.wasm not built";
    probe_ = read_file(probe);
    hash_ = blake3_hex(probe_);
    dir_ = fs::temp_directory_path() /
           ("pie_runtime_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    start();
  }
  void TearDown() override {
    runtime_.reset();
    fs::remove_all(dir_);
  }

  void start(uint32_t cpu_limit_ms = 0, bool upload = true) {
    RuntimeOptions options;
    options.cache_dir = dir_ / "cache";
    options.kvs_file = dir_ / "kvs";
    options.max_wasm_memory_pages = kMemoryPages;
    options.cpu_time_limit_ms = cpu_limit_ms;
    runtime_.reset();
    runtime_ = std::make_unique<Runtime>(options, registry_);
    if (upload) runtime_->add_program(hash_, probe_);
  }

  std::pair<std::string, std::shared_ptr<RecordingOwner>> launch(std::vector<std::string> args) {
    auto owner = std::make_shared<RecordingOwner>();
    std::string id = runtime_->launch_instance(hash_, std::move(args), owner);
    return {id, owner};
  }

  RecordingOwner::End run(std::vector<std::string> args) {
    return launch(std::move(args)).second->wait_end();
  }

  std::string probe_;
  std::string hash_;
  fs::path dir_;
  engine::ModelRegistry registry_;  // no models
  std::unique_ptr<Runtime> runtime_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(RuntimeTest, HelloRunsToCompletionWithOutputInOrder) {
  auto [id, owner] = launch({"hello", "a", "b"});
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal);
  EXPECT_EQ(end.message, "done:2");
  EXPECT_EQ(owner->messages(), (std::vector<std::string>{"hello stdout", "a", "b", "partial"}));
  EXPECT_EQ(owner->terminations(), 1);
  EXPECT_EQ(runtime_->running_instances(), 0u);
}

TEST_F(RuntimeTest, RestartLaunchesCachedProgramsWithoutCompiling) {
  EXPECT_EQ(runtime_->programs().compilations(), 1u);
  start(0, /*upload=*/false);  // a new engine on the same cache folder
  EXPECT_TRUE(runtime_->program_exists(hash_));
  const auto end = run({"hello"});
  EXPECT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(runtime_->programs().compilations(), 0u);
}

TEST_F(RuntimeTest, HelloworldInferlet) {
  const fs::path path = pie::testing::inferlet_file("helloworld");
  ASSERT_FALSE(path.empty()) << "helloworld.wasm not built";
  const std::string wasm = read_file(path);
  runtime_->add_program(blake3_hex(wasm), wasm);
  auto owner = std::make_shared<RecordingOwner>();
  const std::string id = runtime_->launch_instance(blake3_hex(wasm), {"one", "two"}, owner);
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "one two");
  EXPECT_EQ(owner->messages(),
            (std::vector<std::string>{"Hello from inferlet " + id, "one", "two"}));
}

TEST_F(RuntimeTest, IdentityAndVersion) {
  auto [id, owner] = launch({"identity"});
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal);
  EXPECT_EQ(end.message, std::string(Runtime::kVersion) + "|" + id);
}

TEST_F(RuntimeTest, LargeResultsComeBackThroughFetch) {
  const auto end = run({"big_result", std::string(1000, 'x'), "yz"});
  EXPECT_EQ(end.code, TerminationCode::Normal);
  EXPECT_EQ(end.message, "10,1000,2,");
}

TEST_F(RuntimeTest, MissingProgramIsAClearError) {
  const std::string missing(64, 'a');
  try {
    runtime_->launch_instance(missing, {}, std::make_shared<RecordingOwner>());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "No such program with hash=" + missing);
  }
}

TEST_F(RuntimeTest, MisusesTrapWithTheCallAndTheReason) {
  struct Case {
    const char* scenario;
    const char* expected;
  };
  const Case cases[] = {
      {"bad_handle", "pie.drop: handle 12345 is not a live handle"},
      {"wrong_kind", "pie.model_kv_page_size: handle"},
      {"bad_pointer", "pie.send: buffer [4294967040, 4294968040) is outside the program's memory"},
      {"not_ready", "is not ready: wait for it first"},
  };
  for (const auto& c : cases) {
    const auto end = run({c.scenario});
    EXPECT_EQ(end.code, TerminationCode::Exception) << c.scenario;
    EXPECT_TRUE(contains(end.message, c.expected)) << c.scenario << ": " << end.message;
  }
  const auto kind = run({"wrong_kind"});
  EXPECT_TRUE(contains(kind.message, "is not a live model handle")) << kind.message;
}

TEST_F(RuntimeTest, GuestChosenEndings) {
  auto fail = run({"fail"});
  EXPECT_EQ(fail.code, TerminationCode::Exception);
  EXPECT_EQ(fail.message, "custom failure");
  auto exit3 = run({"exit3"});
  EXPECT_EQ(exit3.code, TerminationCode::Exception);
  EXPECT_EQ(exit3.message, "the program exited with code 3");
  auto unknown = run({"nope"});
  EXPECT_EQ(unknown.message, "unknown scenario nope");
}

TEST_F(RuntimeTest, MessagesBeforeAndAfterReceiveAreDeliveredInOrder) {
  auto [id, owner] = launch({"echo", "3"});
  runtime_->signal_instance(id, "one");
  ASSERT_TRUE(owner->wait_messages(1));
  runtime_->signal_instance(id, "two");
  runtime_->signal_instance(id, "three");
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal);
  EXPECT_EQ(owner->messages(), (std::vector<std::string>{"echo:one", "echo:two", "echo:three"}));
}

TEST_F(RuntimeTest, BlobRoundTrip) {
  auto [id, owner] = launch({"blob"});
  runtime_->push_blob(id, std::string("abc\0def", 7));
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal);
  EXPECT_EQ(end.message, "0");
  EXPECT_EQ(owner->blobs(), (std::vector<std::string>{std::string("fed\0cba", 7)}));
}

TEST_F(RuntimeTest, TerminateEndsAnInstanceBlockedInWait) {
  auto [id, owner] = launch({"wait_forever"});
  ASSERT_TRUE(owner->wait_messages(1));
  runtime_->terminate_instance(id, TerminationCode::Signal, "Signal termination");
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Signal);
  EXPECT_EQ(end.message, "Signal termination");
  EXPECT_EQ(runtime_->running_instances(), 0u);
  // Later deliveries to the ended instance are ignored.
  runtime_->signal_instance(id, "late");
  runtime_->terminate_instance(id, TerminationCode::Signal, "again");
  EXPECT_EQ(owner->terminations(), 1);
}

TEST_F(RuntimeTest, TerminateStopsAnInfiniteLoop) {
  auto [id, owner] = launch({"spin"});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  runtime_->terminate_instance(id, TerminationCode::Exception, "socket terminated");
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_EQ(end.message, "socket terminated");
  // The worker is usable again.
  EXPECT_EQ(run({"hello"}).code, TerminationCode::Normal);
}

TEST_F(RuntimeTest, WatchdogStopsRunawayCode) {
  start(/*cpu_limit_ms=*/200);
  const auto end = run({"spin"});
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_EQ(end.message, "the program exceeded its CPU time limit of 200 ms");
  // Waiting does not use CPU time: a sleeping instance is not stopped.
  EXPECT_EQ(run({"sleep"}).code, TerminationCode::Normal);
}

TEST_F(RuntimeTest, MemoryGrowthPastTheCapTraps) {
  auto [id, owner] = launch({"grow"});
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_EQ(end.message, "out of memory: the program's memory reached the engine's limit");
  // 8 MiB blocks under a 128 MiB cap: fewer than 16 fit next to the program's own memory.
  const auto messages = owner->messages();
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back(), std::to_string(messages.size()));
  EXPECT_LT(messages.size(), 16u);
  EXPECT_GT(messages.size(), 8u);
}

TEST_F(RuntimeTest, SubscriptionsDeliverEveryMessage) {
  auto [a, owner_a] = launch({"subscriber", "topic", "50"});
  auto [b, owner_b] = launch({"subscriber", "topic", "50"});
  ASSERT_TRUE(owner_a->wait_messages(1));
  ASSERT_TRUE(owner_b->wait_messages(1));
  EXPECT_EQ(run({"publisher", "topic", "50"}).code, TerminationCode::Normal);
  std::string expected;
  for (int i = 0; i < 50; ++i) expected += "m" + std::to_string(i) + ";";
  EXPECT_EQ(owner_a->wait_end().message, expected);
  EXPECT_EQ(owner_b->wait_end().message, expected);
}

TEST_F(RuntimeTest, UnsubscribedSubscriptionsReceiveNothing) {
  EXPECT_EQ(run({"unsubscribed"}).message, "none");
}

TEST_F(RuntimeTest, KeyValueStoreIsSharedAndPersisted) {
  const auto end = run({"kvs"});
  EXPECT_EQ(end.code, TerminationCode::Normal);
  EXPECT_EQ(end.message, "<none>,v1,yes,2000,no,big|");
  start();  // restart on the same files
  EXPECT_EQ(runtime_->kvs().get("big"), std::string(2000, 'x'));
}

TEST_F(RuntimeTest, WaitTimesOutAndSleepSleeps) {
  EXPECT_EQ(run({"wait_timeout"}).message, "timeout");
  EXPECT_EQ(run({"sleep"}).message, "slept");
}

TEST_F(RuntimeTest, DebugQueries) {
  EXPECT_EQ(run({"debug", "ping"}).message, "pong");
  EXPECT_EQ(run({"debug", "get_instance_count"}).message, "1");
  auto [id, owner] = launch({"debug", "list_running_instances"});
  EXPECT_EQ(owner->wait_end().message, "Instance ID: " + id + ", Program Hash: " + hash_);
  EXPECT_EQ(run({"debug", "list_in_memory_programs"}).message, hash_);
  EXPECT_EQ(run({"debug", "get_cache_dir"}).message, (dir_ / "cache").string());
  EXPECT_EQ(run({"debug", "what"}).message, "Unknown query: what");
}

TEST_F(RuntimeTest, ManyConcurrentInstances) {
  std::vector<std::shared_ptr<RecordingOwner>> owners;
  for (int i = 0; i < 40; ++i) owners.push_back(launch({"hello", std::to_string(i)}).second);
  for (int i = 0; i < 40; ++i) {
    const auto end = owners[i]->wait_end();
    EXPECT_EQ(end.code, TerminationCode::Normal);
    EXPECT_EQ(owners[i]->messages().at(1), std::to_string(i));
  }
  EXPECT_EQ(runtime_->running_instances(), 0u);
}

TEST_F(RuntimeTest, ShutdownEndsRunningInstances) {
  auto [id, owner] = launch({"wait_forever"});
  ASSERT_TRUE(owner->wait_messages(1));
  runtime_.reset();
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Signal);
  EXPECT_EQ(end.message, "the engine is shutting down");
}

// ---- HTTP server instances ----------------------------------------------------------------------

namespace asio = boost::asio;
namespace http = boost::beast::http;

uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST_F(RuntimeTest, ServerInstancesAnswerEachRequestWithAFreshInstance) {
  const uint16_t port = free_port();
  runtime_->launch_server_instance(port, hash_, {"http", "arg1"});
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  boost::beast::flat_buffer buffer;
  std::vector<std::string> instances;
  for (int i = 0; i < 2; ++i) {
    http::request<http::string_body> req(http::verb::post, "/x?y=1", 11);
    req.set(http::field::host, "localhost");
    req.set("X-Test", "yes");
    req.body() = "hello";
    req.prepare_payload();
    http::write(socket, req);
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 201u);
    EXPECT_EQ(res.body(), "POST /x?y=1 yes hello arg1");
    instances.emplace_back(res["X-Instance"]);
  }
  EXPECT_NE(instances[0], instances[1]);
  EXPECT_EQ(runtime_->running_instances(), 0u);
  EXPECT_EQ(runtime_->debug_query("get_server_instance_count"), "1");
}

TEST_F(RuntimeTest, ServerInstanceErrorsAreReported) {
  const uint16_t port = free_port();
  runtime_->launch_server_instance(port, hash_, {"http"});
  try {
    runtime_->launch_server_instance(port, hash_, {"http"});
    FAIL() << "expected a bind error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "cannot listen on 127.0.0.1:")) << e.what();
  }
  try {
    runtime_->launch_server_instance(free_port(), std::string(64, 'b'), {});
    FAIL() << "expected a lookup error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "No such program")) << e.what();
  }
}

TEST_F(RuntimeTest, ServerInstanceFailureBecomes500) {
  const uint16_t port = free_port();
  runtime_->launch_server_instance(port, hash_, {"bad_handle"});
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req(http::verb::get, "/", 11);
  req.set(http::field::host, "localhost");
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_TRUE(contains(res.body(), "handle 12345")) << res.body();
}

}  // namespace
}  // namespace pie::runtime
