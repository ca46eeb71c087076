// `pie serve` as users start it, spoken to over the wire: a C++ inferlet uploaded in several
// chunks runs and its output and completion arrive; every bad input of the reference's upload
// rules gets its error text and the engine keeps serving; `pie run`, `pie status` and `pie token`
// work against it; SIGTERM shuts it down cleanly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "common/blake3.h"
#include "protocol/client_messages.h"
#include "serve_process.h"
#include "server/testing/peer.h"
#include "shared_data.h"

namespace pie::testing {
namespace {

namespace fs = std::filesystem;
using namespace protocol;
using server::testing::Peer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            ("pie_serve_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
    fs::create_directories(home_);
    helloworld_ = slurp(inferlet_file("helloworld"));
    ASSERT_FALSE(helloworld_.empty()) << "helloworld.wasm not built";
  }
  void TearDown() override { fs::remove_all(home_); }

  // Sends `bytes` as `pieces` chunks (the last one may be shorter) and returns the one response.
  static Response upload(Peer& peer, const std::string& bytes, uint64_t pieces, uint32_t corr) {
    const std::string hash = blake3_hex(bytes);
    const size_t size = (bytes.size() + pieces - 1) / pieces;
    for (uint64_t i = 0; i < pieces; ++i) {
      peer.send(UploadProgram{corr, hash, i, pieces, bytes.substr(i * size, size)});
    }
    return peer.response();
  }

  fs::path home_;
  std::string helloworld_;
};

TEST_F(ServeTest, HelloworldUploadedInChunksRunsWithItsArguments) {
  ServeProcess serve({"--no-auth", "--cache-dir", (home_ / "cache").string()}, home_);
  Peer peer(serve.port());
  const std::string hash = blake3_hex(helloworld_);

  Response exists = peer.request(Query{1, "program_exists", hash});
  ASSERT_TRUE(exists.successful);
  EXPECT_EQ(exists.result, "false");

  const Response uploaded = upload(peer, helloworld_, 5, 2);
  ASSERT_TRUE(uploaded.successful) << uploaded.result;
  EXPECT_EQ(uploaded.result, hash);
  EXPECT_EQ(peer.request(Query{3, "program_exists", hash}).result, "true");

  const Response launched = peer.request(LaunchInstance{4, hash, {"alpha", "beta gamma"}});
  ASSERT_TRUE(launched.successful) << launched.result;
  const std::string id = launched.result;
  std::vector<InstanceEvent> events;
  do {
    events.push_back(peer.event());
  } while (events.back().event == static_cast<uint32_t>(EventCode::Message));
  ASSERT_EQ(events.size(), 4U);
  for (const auto& e : events) EXPECT_EQ(e.instance_id, id);
  EXPECT_EQ(events[0].message, "Hello from inferlet " + id);
  EXPECT_EQ(events[1].message, "alpha");
  EXPECT_EQ(events[2].message, "beta gamma");
  EXPECT_EQ(events[3].event, static_cast<uint32_t>(EventCode::Completed));
  EXPECT_EQ(events[3].message, "alpha beta gamma");
  EXPECT_EQ(serve.stop(), 0);
}

TEST_F(ServeTest, BadInputGetsTheReferenceErrorsAndTheEngineKeepsServing) {
  ServeProcess serve({"--no-auth", "--cache-dir", (home_ / "cache").string()}, home_);
  Peer peer(serve.port());
  const std::string hash = blake3_hex(helloworld_);
  const std::string big(kChunkSize + 1, 'x');

  Response r = peer.request(UploadProgram{1, hash, 0, 1, big});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Chunk size 262145 exceeds limit 262144");

  r = peer.request(UploadProgram{2, hash, 1, 2, "x"});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "First chunk index must be 0");

  peer.send(UploadProgram{3, hash, 0, 3, "a"});
  r = peer.request(UploadProgram{3, hash, 2, 3, "c"});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Out-of-order chunk: expected 1, got 2");

  peer.send(UploadProgram{4, hash, 0, 3, "a"});
  r = peer.request(UploadProgram{4, hash, 1, 4, "b"});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Chunk count mismatch: expected 3, got 4");

  const std::string wrong = blake3_hex("something else");
  r = peer.request(UploadProgram{5, wrong, 0, 1, helloworld_});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "Hash mismatch: expected " + wrong + ", got " + hash);

  peer.send_raw("\xc1 not messagepack");
  peer.send_raw(std::string("\x81\xa4type\xa7unknown", 14));
  peer.send_text("{\"type\": \"query\"}");

  const std::string unknown = blake3_hex("never uploaded");
  r = peer.request(LaunchInstance{6, unknown, {}});
  EXPECT_FALSE(r.successful);
  EXPECT_EQ(r.result, "No such program with hash=" + unknown);

  const std::string not_wasm("\0asm\x01\0\0\0 but no sections", 23);
  r = peer.request(UploadProgram{7, blake3_hex(not_wasm), 0, 1, not_wasm});
  EXPECT_FALSE(r.successful);
  EXPECT_THAT(r.result, StartsWith("Failed to compile: "));

  r = peer.request(Query{8, "no_such_subject", ""});
  EXPECT_FALSE(r.successful);

  // After all of that, on the same connection and on a new one, everything still works.
  r = upload(peer, helloworld_, 2, 9);
  ASSERT_TRUE(r.successful) << r.result;
  r = peer.request(LaunchInstance{10, hash, {"still"}});
  ASSERT_TRUE(r.successful) << r.result;
  Peer other(serve.port());
  EXPECT_EQ(other.request(Query{1, "program_exists", hash}).result, "true");
  EXPECT_EQ(serve.stop(), 0);
}

TEST_F(ServeTest, CommandsAgainstARunningEngineWithAuth) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  ServeProcess serve({"--model", model.string(), "--kv-pages", "32", "--threads", "1",
                      "--cache-dir", (home_ / "cache").string()},
                     home_);
  const std::string home_env = "PIE_HOME=" + home_.string();
  const std::string hello = inferlet_file("helloworld").string();

  // Without a token (and no secret in this PIE_HOME), the engine refuses.
  const CommandResult refused = run_command({"pie", "run", "--server", serve.url(), hello},
                                            {"PIE_HOME=" + (home_ / "other").string()});
  EXPECT_EQ(refused.code, 1);

  // `pie token` signs with the secret the engine generated in PIE_HOME.
  const CommandResult token = run_command({"pie", "token"}, {home_env});
  ASSERT_EQ(token.code, 0);
  const std::string jwt = token.out.substr(0, token.out.find('\n'));
  EXPECT_EQ(std::count(jwt.begin(), jwt.end(), '.'), 2);

  const CommandResult run = run_command(
      {"pie", "run", "--server", serve.url(), "--token", jwt, hello, "--", "one", "two"},
      {"PIE_HOME=" + (home_ / "other").string()});
  EXPECT_EQ(run.code, 0);
  EXPECT_THAT(run.out, HasSubstr("Hello from inferlet "));
  EXPECT_THAT(run.out, HasSubstr("\none\ntwo\none two\n"));

  // The exit code tells how the instance ended.
  const CommandResult failed = run_command(
      {"pie", "run", "--server", serve.url(), inferlet_file("probe").string(), "--", "fail"},
      {home_env});
  EXPECT_EQ(failed.code, 2);

  // --detach returns with the instance id; the events go to a log under PIE_HOME.
  const CommandResult detached =
      run_command({"pie", "run", "--detach", "--server", serve.url(), hello, "--", "left", "alone"},
                  {home_env});
  ASSERT_EQ(detached.code, 0);
  const std::string id = detached.out.substr(0, detached.out.find('\n'));
  EXPECT_EQ(id.size(), 36U) << detached.out;
  const fs::path log = home_ / "logs" / (id + ".log");
  std::string logged;
  for (int i = 0; i < 200 && logged.find("left alone\n") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    logged = slurp(log);
  }
  EXPECT_EQ(logged, "Hello from inferlet " + id + "\nleft\nalone\nleft alone\n");

  const CommandResult status = run_command({"pie", "status", "--server", serve.url()}, {home_env});
  EXPECT_EQ(status.code, 0);
  EXPECT_THAT(status.out, HasSubstr("stories260K\n"));
  EXPECT_THAT(status.out, HasSubstr("resource.0.available"));
  EXPECT_EQ(serve.stop(), 0);
}

TEST_F(ServeTest, ARemoteBackendServesLikeALocalOneAndItsDeathIsReported) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  ServeProcess serve({"--no-auth", "--cache-dir", (home_ / "cache").string()}, home_);
  BackgroundCommand backend({"pie", "backend", "--model", model.string(), "--engine", serve.url(),
                             "--threads", "1", "--seed", "1", "--kv-pages", "64"});
  Peer peer(serve.port());
  const auto status = [&] {
    const Response r = peer.request(Query{1, "model_status", ""});
    return r.result;
  };
  for (int i = 0; i < 300 && status().find("stories260K.model.name") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_THAT(status(), HasSubstr("\"stories260K.resource.0.capacity\":\"64\""));

  const CommandResult run =
      run_command({"pie", "run", "--server", serve.url(), inferlet_file("text-completion").string(),
                   "--", "--prompt", "Once upon a time", "--max-tokens", "20"});
  EXPECT_EQ(run.code, 0);
  EXPECT_THAT(run.out, HasSubstr(", there was a little girl named Lily."));

  // A dead backend is reported by model_status, and generation fails with a clear error instead
  // of hanging.
  backend.kill();
  for (int i = 0; i < 300 && status().find("stories260K.error") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(status(), HasSubstr("stories260K.error"));
  const CommandResult failed =
      run_command({"pie", "run", "--server", serve.url(), inferlet_file("text-completion").string(),
                   "--", "--prompt", "Once upon a time", "--max-tokens", "20"});
  EXPECT_NE(failed.code, 0);
  EXPECT_EQ(serve.stop(), 0);
}

TEST_F(ServeTest, SigtermEndsRunningInstancesAndExitsCleanly) {
  ServeProcess serve({"--no-auth", "--cache-dir", (home_ / "cache").string()}, home_);
  Peer peer(serve.port());
  const std::string probe = slurp(inferlet_file("probe"));
  ASSERT_TRUE(upload(peer, probe, 1, 1).successful);
  const Response launched = peer.request(LaunchInstance{2, blake3_hex(probe), {"wait_forever"}});
  ASSERT_TRUE(launched.successful) << launched.result;
  EXPECT_EQ(serve.stop(), 0);
}

TEST_F(ServeTest, BadFlagsAndConfigAreExplained) {
  const CommandResult bad_model =
      run_command({"pie", "serve", "--port", "0", "--model", "/nonexistent"});
  EXPECT_EQ(bad_model.code, 1);
  std::ofstream(home_ / "pie.toml") << "port = \"eighty\"\n";
  const CommandResult bad_config =
      run_command({"pie", "serve", "--config", (home_ / "pie.toml").string()});
  EXPECT_EQ(bad_config.code, 1);
}

}  // namespace
}  // namespace pie::testing
