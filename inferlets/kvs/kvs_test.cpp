// kvs and kvs-js over the client protocol: set, get, list and delete through the engine's store,
// and a second instance, launched from another connection, sees what the first one stored.
#include <gtest/gtest.h>

#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

class KvsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KvsTest, ValuesOutliveTheirWriterAndReachOtherInstances) {
  TestEngine engine;
  const auto writer = engine.run(GetParam(), {"set", "fruit", "apple", "set", "color", "red", "set",
                                              "colour", "blue", "get", "fruit", "keys", "col"});
  ASSERT_EQ(writer.end, EventKind::Completed) << writer.result;
  EXPECT_EQ(writer.messages, (std::vector<std::string>{"fruit = apple", "color,colour"}));
  EXPECT_EQ(writer.result, "5 operations");

  // Another connection, another instance: the writer has ended, its values stay.
  auto other = engine.connect();
  const auto hash = engine.upload(GetParam());
  auto reader = other->launch_instance(hash, {"get", "fruit", "exists", "color", "delete", "color",
                                              "exists", "color", "get", "color", "keys", ""});
  const auto read = TestEngine::collect(reader);
  ASSERT_EQ(read.end, EventKind::Completed) << read.result;
  EXPECT_EQ(read.messages,
            (std::vector<std::string>{"fruit = apple", "color exists", "color is missing",
                                      "color is missing", "colour,fruit"}));
}

TEST_P(KvsTest, SetOverwrites) {
  TestEngine engine;
  const auto run =
      engine.run(GetParam(), {"set", "k", "one", "set", "k", "two", "get", "k", "get", "none"});
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;
  EXPECT_EQ(run.messages, (std::vector<std::string>{"k = two", "none is missing"}));
}

TEST_P(KvsTest, RejectsBadOperations) {
  TestEngine engine;
  const auto unknown = engine.run(GetParam(), {"put", "k", "v"});
  EXPECT_EQ(unknown.end, EventKind::Exception);
  EXPECT_NE(unknown.result.find("unknown operation 'put'"), std::string::npos) << unknown.result;
  const auto short_set = engine.run(GetParam(), {"set", "k"});
  EXPECT_EQ(short_set.end, EventKind::Exception);
  EXPECT_NE(short_set.result.find("'set' needs 2 operand(s)"), std::string::npos)
      << short_set.result;
}

INSTANTIATE_TEST_SUITE_P(CppAndJs, KvsTest, ::testing::Values("kvs", "kvs-js"),
                         [](const auto& info) {
                           return info.param == "kvs" ? std::string("Cpp") : "Js";
                         });

}  // namespace
