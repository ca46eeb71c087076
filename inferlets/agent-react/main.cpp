// A ReAct agent (Yao et al., 2023) whose context stays warm across tool calls: thoughts come from
// the model, actions run tools that take time (simulated latency), and each observation is
// appended to the same context, so the KV of everything before it is kept and never recomputed.
// stories260K cannot choose tools, so the actions are given as arguments: the loop, the tool
// latency and the KV reuse are what this shows.
//
//   agent-react <question> <tool>:<input>...       tools: add:<a>+<b>, lookup:<word>
//
// Sends "action <n>: <tool>:<input> -> <observation>" per action and, last,
// "tokens=<sequence> computed=<computed> stateless=<recomputing agent> passes=<passes>";
// completes with the transcript after the question.
#include <ctime>
#include <string>
#include <vector>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

constexpr uint32_t kThoughtTokens = 8;
constexpr long kToolLatencyNs = 50'000'000;  // 50 ms

pie::Result<std::string> run_tool(const std::string& action) {
  const timespec latency = {0, kToolLatencyNs};  // a remote call would take this long
  nanosleep(&latency, nullptr);
  const size_t colon = action.find(':');
  const std::string tool = action.substr(0, colon);
  const std::string input = colon == std::string::npos ? "" : action.substr(colon + 1);
  if (tool == "add") {
    const size_t plus = input.find('+');
    if (plus == std::string::npos) return pie::Error{"add needs <a>+<b>, got '" + input + "'"};
    return std::to_string(std::stoll("0" + input.substr(0, plus)) +
                          std::stoll("0" + input.substr(plus + 1)));
  }
  if (tool == "lookup") {
    if (input == "lily") return std::string("Lily is a little girl who loves the park.");
    if (input == "ball") return std::string("The ball is big and red.");
    return "nothing is known about " + input;
  }
  return pie::Error{"unknown tool '" + tool + "' (tools: add, lookup)"};
}

}  // namespace

PIE_MAIN(args) {
  if (args.empty()) return pie::Error{"usage: agent-react <question> <tool>:<input>..."};
  pie::Context context(pie::Model::first());
  context.fill("Question: " + args[0] + "\nThought:");
  const size_t start = context.token_ids().size();
  // What an agent that re-sends its whole transcript for every model call would compute.
  uint64_t stateless = 0;
  const auto think = [&] {
    context.generate(pie::Sampler::greedy(),
                     {.max_tokens = kThoughtTokens, .stop_strings = {"\n"}});
    stateless += context.token_ids().size();  // its transcript re-prefilled, plus the thought
  };
  for (size_t i = 1; i < args.size(); ++i) {
    think();
    auto observation = run_tool(args[i]);
    if (!observation) return observation.error();
    pie::send("action " + std::to_string(i) + ": " + args[i] + " -> " + observation.value());
    context.fill("\nAction: " + args[i] + "\nObservation: " + observation.value() + "\nThought:");
  }
  think();
  context.flush();
  pie::send("tokens=" + std::to_string(context.token_ids().size()) + " computed=" +
            std::to_string(context.tokens_computed()) + " stateless=" + std::to_string(stateless) +
            " passes=" + std::to_string(context.forward_passes()));
  const pie::Tokenizer& tokenizer = context.tokenizer();
  const std::string question = tokenizer.detokenize(std::span(context.token_ids()).first(start));
  const std::string all = context.text();
  return all.starts_with(question) ? all.substr(question.size()) : all;
}
