// plain-completion on stories260K: a text prompt completes as text-completion does (greedy), a
// request that re-sends a prompt plus generated tokens continues the same sequence, --top-k
// distributions lead with the token chosen, and --serve answers request messages until "quit".
#include <gtest/gtest.h>

#include <cstdlib>
#include <span>
#include <sstream>

#include "plain_reply.h"
#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

std::string ids_text(std::span<const uint32_t> ids) {
  std::string out;
  for (uint32_t id : ids) {
    if (!out.empty()) out += ' ';
    out += std::to_string(id);
  }
  return out;
}

constexpr const char* kPrompt = "Once upon a time, there was a big dog";

TEST(PlainCompletion, CompletesLikeTextCompletionAndStaysStateless) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const RunResult reference = engine.run(
      "text-completion", {"--prompt", kPrompt, "--max-tokens", "20", "--temperature", "0"});
  ASSERT_EQ(reference.end, client::EventKind::Completed) << reference.result;
  const RunResult once =
      engine.run("plain-completion", {"--prompt", kPrompt, "--max-tokens", "20"});
  ASSERT_EQ(once.end, client::EventKind::Completed) << once.result;
  const PlainReply whole = parse_plain_reply(once.result);
  EXPECT_EQ(whole.text, reference.result);
  ASSERT_EQ(whole.tokens.size(), 20U);
  EXPECT_EQ(whole.passes, 20U);  // the prefill, then one pass per further token
  EXPECT_TRUE(whole.tops.empty());

  client::Instance server = engine.launch("plain-completion", {"--serve"});
  const auto ask = [&server](const std::string& request) {
    server.send(request);
    client::Event event = server.recv();
    EXPECT_EQ(event.kind, client::EventKind::Message) << event.data;
    return event.data;
  };
  // The same request as a message gives the same reply.
  EXPECT_EQ(ask(std::string("--prompt\n") + kPrompt + "\n--max-tokens\n20"), once.result);
  // Re-sending the prompt with the first 8 generated tokens continues with the other 12.
  const std::span<const uint32_t> head(whole.tokens.data(), 8);
  const PlainReply rest =
      parse_plain_reply(ask(std::string("--prompt\n") + kPrompt + "\n--tokens\n" + ids_text(head) +
                            "\n--max-tokens\n12"));
  EXPECT_EQ(rest.tokens, std::vector<uint32_t>(whole.tokens.begin() + 8, whole.tokens.end()));
  // --top-k: one distribution per token, most likely first, led by the (greedy) token chosen.
  const PlainReply top =
      parse_plain_reply(ask(std::string("--prompt\n") + kPrompt + "\n--max-tokens\n4\n--top-k\n3"));
  ASSERT_EQ(top.tops.size(), 4U);
  for (size_t i = 0; i < top.tops.size(); ++i) {
    ASSERT_EQ(top.tops[i].size(), 3U);
    EXPECT_EQ(top.tops[i][0].first, whole.tokens[i]);
    EXPECT_GE(top.tops[i][0].second, top.tops[i][1].second);
    EXPECT_GE(top.tops[i][1].second, top.tops[i][2].second);
    EXPECT_GT(top.tops[i][2].second, 0.0);
  }
  EXPECT_EQ(top.tokens, std::vector<uint32_t>(whole.tokens.begin(), whole.tokens.begin() + 4));
  // A bad request is answered with its error, and serving goes on.
  EXPECT_EQ(ask("--max-tokens\nmany"),
            "error plain-completion: --max-tokens takes a count, not 'many'");
  server.send("quit");
  const RunResult end = TestEngine::collect(server);
  EXPECT_EQ(end.end, client::EventKind::Completed);
  EXPECT_EQ(end.result, "4 requests");
}

TEST(PlainCompletion, RejectsBadArguments) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const RunResult none = engine.run("plain-completion", {"--max-tokens", "3"});
  EXPECT_EQ(none.end, client::EventKind::Exception);
  EXPECT_NE(none.result.find("needs --prompt or --tokens"), std::string::npos) << none.result;
  const RunResult ids = engine.run("plain-completion", {"--tokens", "12 x"});
  EXPECT_EQ(ids.end, client::EventKind::Exception);
  EXPECT_NE(ids.result.find("--tokens takes token ids"), std::string::npos) << ids.result;
}

}  // namespace
}  // namespace pie::testing
