// messaging and messaging-js over the client protocol: each message the client sends is answered
// once, in order.
#include <gtest/gtest.h>

#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

class MessagingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MessagingTest, AnswersThreeMessagesInOrder) {
  TestEngine engine;
  auto instance = engine.launch(GetParam(), {"3"});
  for (const char* text : {"alpha", "beta", "gamma"}) instance.send(text);
  const auto run = TestEngine::collect(instance);
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;
  EXPECT_EQ(run.messages,
            (std::vector<std::string>{"reply 1: alpha", "reply 2: beta", "reply 3: gamma"}));
  EXPECT_EQ(run.result, "answered 3 messages");
}

TEST_P(MessagingTest, MessagesSentBeforeTheInstanceAsksWaitForIt) {
  TestEngine engine;
  auto instance = engine.launch(GetParam(), {"2"});
  instance.send("first");
  instance.send("second");
  instance.send("unread");  // the instance stops asking after two
  const auto run = TestEngine::collect(instance);
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;
  EXPECT_EQ(run.messages, (std::vector<std::string>{"reply 1: first", "reply 2: second"}));
}

TEST_P(MessagingTest, RejectsABadCount) {
  TestEngine engine;
  const auto run = engine.run(GetParam(), {"three"});
  EXPECT_EQ(run.end, EventKind::Exception);
  EXPECT_NE(run.result.find("is not a message count"), std::string::npos) << run.result;
}

INSTANTIATE_TEST_SUITE_P(CppAndJs, MessagingTest, ::testing::Values("messaging", "messaging-js"),
                         [](const auto& info) {
                           return info.param == "messaging" ? std::string("Cpp") : "Js";
                         });

}  // namespace
