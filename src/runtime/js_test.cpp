// JavaScript inferlets: module loading, the event loop, errors, termination and the API surface
// that needs no model.
#include <gtest/gtest.h>

#include <thread>

#include "common/blake3.h"
#include "runtime/runtime.h"
#include "runtime/testdata/recording_owner.h"

namespace pie::runtime {
namespace {

using server::TerminationCode;
using testing::RecordingOwner;

class JsTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(uint32_t cpu_limit_ms = 0) {
    RuntimeOptions options;
    options.max_wasm_memory_pages = 2048;
    options.cpu_time_limit_ms = cpu_limit_ms;
    runtime_.reset();
    runtime_ = std::make_unique<Runtime>(options, registry_);
  }

  std::pair<std::string, std::shared_ptr<RecordingOwner>> launch(
      const std::string& source, std::vector<std::string> args = {}) {
    const std::string hash = blake3_hex(source);
    runtime_->add_program(hash, source);
    auto owner = std::make_shared<RecordingOwner>();
    std::string id = runtime_->launch_instance(hash, std::move(args), owner);
    return {id, owner};
  }

  RecordingOwner::End run(const std::string& source, std::vector<std::string> args = {}) {
    return launch(source, std::move(args)).second->wait_end();
  }

  engine::ModelRegistry registry_;  // no models
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(JsTest, MainGetsArgumentsAndItsResultCompletesTheInstance) {
  auto [id, owner] = launch(R"(
    import * as pie from "pie";
    export async function main(args) {
      console.log("hello", args.length);
      pie.send(args.join("+"));
      return pie.instanceId() === pie.getArguments().length + "" ? "?" : "ok:" + args[1];
    })",
                            {"a", "b"});
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "ok:b");
  EXPECT_EQ(owner->messages(), (std::vector<std::string>{"hello 2", "a+b"}));
}

TEST_F(JsTest, NonStringResultsAreJson) {
  EXPECT_EQ(run("export function main() { return {a: [1, 2], b: 'x'}; }").message,
            R"({"a":[1,2],"b":"x"})");
  EXPECT_EQ(
      run("import {setReturn} from 'pie'; export function main() { setReturn('kept'); }").message,
      "kept");
}

TEST_F(JsTest, AwaitsMessagesFromTheClient) {
  auto [id, owner] = launch(R"(
    import * as pie from "pie";
    export async function main() {
      const first = await pie.receive();
      pie.send("got " + first);
      const [second, third] = await Promise.all([pie.receive(), pie.receive()]);
      return [first, second, third].join(",");
    })");
  runtime_->signal_instance(id, "1");
  ASSERT_TRUE(owner->wait_messages(1));
  runtime_->signal_instance(id, "2");
  runtime_->signal_instance(id, "3");
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "1,2,3");
}

TEST_F(JsTest, ErrorsBecomeExceptions) {
  EXPECT_EQ(run("export async function main() { throw new Error('boom'); }").message,
            "Error: boom");
  EXPECT_EQ(run("export const x = 1;").message, "the program does not export a main function");
  const auto import = run("import fs from 'fs'; export function main() {}");
  EXPECT_EQ(import.code, TerminationCode::Exception);
  EXPECT_NE(import.message.find("cannot import 'fs'"), std::string::npos) << import.message;
  EXPECT_EQ(run("export function main() { return new Promise(() => {}); }").message,
            "main is awaiting something that can never complete");
  const auto misuse =
      run("import * as pie from 'pie'; export async function main() { await new "
          "pie.Queue(999).synchronize(); }");
  EXPECT_EQ(misuse.code, TerminationCode::Exception);
  EXPECT_NE(misuse.message.find("pie.queueSynchronize: handle 999 is not a live queue handle"),
            std::string::npos)
      << misuse.message;
}

TEST_F(JsTest, TopLevelErrorsAreReported) {
  const auto end = run("throw new TypeError('at load'); export function main() {}");
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_EQ(end.message, "TypeError: at load");
}

TEST_F(JsTest, InfiniteLoopIsTerminatedByTerminateAndByTheWatchdog) {
  auto [id, owner] = launch("export function main() { for (;;) {} }");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  runtime_->terminate_instance(id, TerminationCode::Signal, "Signal termination");
  EXPECT_EQ(owner->wait_end().code, TerminationCode::Signal);

  start(/*cpu_limit_ms=*/200);
  const auto end = run("export async function main() { await null; for (;;) {} }");
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_EQ(end.message, "the program exceeded its CPU time limit of 200 ms");
}

TEST_F(JsTest, TerminateWhileAwaiting) {
  auto [id, owner] = launch(R"(
    import * as pie from "pie";
    export async function main() { pie.send("waiting"); await pie.receive(); })");
  ASSERT_TRUE(owner->wait_messages(1));
  runtime_->terminate_instance(id, TerminationCode::Exception, "socket terminated");
  const auto end = owner->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_EQ(end.message, "socket terminated");
}

TEST_F(JsTest, HeapExhaustionEndsOnlyTheInstance) {
  const auto end =
      run("export function main() { const a = []; for (;;) a.push(new Array(1e6).fill(1)); }");
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_EQ(end.message, "the program ran out of JavaScript heap memory");
  EXPECT_EQ(run("export function main() { return 'still fine'; }").message, "still fine");
}

TEST_F(JsTest, BroadcastStoreAndBlobs) {
  auto [sub_id, subscriber] = launch(R"(
    import * as pie from "pie";
    export async function main() {
      const sub = pie.subscribe("news");
      pie.send("ready");
      let all = [];
      for (let i = 0; i < 20; ++i) all.push(await sub.next());
      return all.join(",");
    })");
  ASSERT_TRUE(subscriber->wait_messages(1));
  const auto pub = run(R"(
    import * as pie from "pie";
    export function main() {
      for (let i = 0; i < 20; ++i) pie.broadcast("news", "n" + i);
      pie.store.set("js", "yes");
      return [pie.store.get("js"), pie.store.exists("nope"), pie.store.keys().join("|")].join(",");
    })");
  EXPECT_EQ(pub.message, "yes,false,js");
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += (i ? ",n" : "n") + std::to_string(i);
  EXPECT_EQ(subscriber->wait_end().message, expected);

  auto [id, owner] = launch(R"(
    import * as pie from "pie";
    export async function main() {
      const bytes = await pie.receiveBlob();
      pie.sendBlob(bytes.reverse());
      pie.sendBlob("text");
      return String(bytes.length);
    })");
  runtime_->push_blob(id, std::string("a\0b", 3));
  EXPECT_EQ(owner->wait_end().message, "3");
  EXPECT_EQ(owner->blobs(), (std::vector<std::string>{std::string("b\0a", 3), "text"}));
}

TEST_F(JsTest, DebugQueryAndNoModels) {
  const auto end = run(R"(
    import * as pie from "pie";
    export async function main() {
      return [await pie.debugQuery("ping"), pie.models().length, pie.getModel("x"), pie.runtimeVersion()].join(",");
    })");
  EXPECT_EQ(end.message, "pong,0,,0.2.0");
}

}  // namespace
}  // namespace pie::runtime
