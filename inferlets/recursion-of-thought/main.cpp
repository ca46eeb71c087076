// Recursion-of-thought (Lee & Kim, 2023): a problem too big for one pass is split into
// sub-problems, each solved in a context of its own, recursively, and the answers are put back
// together bottom-up. Here a problem splits into the `branch` most likely next tokens after it;
// each sub-problem is a fork of its parent's context (the parent's full KV pages shared) opened
// with its token. At depth `depth` a sub-problem is a leaf, answered by `tokens` greedy tokens.
// A problem's answer combines its sub-answers: "<its opener>(<answer 1> | <answer 2> | ...)".
//
//   recursion-of-thought <prompt> [branch=2] [depth=2] [tokens=6] [path]
//
// Sends "solve <path>: <opener>" on every call (paths like r.1.2: the second sub-problem of the
// first sub-problem of the root r, whose opener is empty) and "leaf <path>: <answer>" for each
// leaf, and completes with the root's answer. With a path argument, only that leaf is solved, in
// one fresh context without forking (the sequential baseline), and sent the same way.
#include <optional>
#include <string>
#include <vector>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

struct Limits {
  uint32_t branch;
  uint32_t depth;
  uint32_t tokens;
};

// The `branch` most likely next tokens of `context`: its sub-problems' openers, best first.
std::vector<uint32_t> split(pie::Context& context, uint32_t branch) {
  std::vector<uint32_t> openers;
  context.decode_step(pie::Sampler::custom(
      1.0F,
      [&](const pie::Distribution& d) {
        openers.assign(d.ids.begin(), d.ids.begin() + std::min<size_t>(branch, d.ids.size()));
        return d.ids.at(0);
      },
      branch));
  return openers;
}

// Opens `context` with `opener`; the text it adds.
std::string open(pie::Context& context, uint32_t opener) {
  const std::string before = context.text();
  context.fill_token(opener);
  const std::string after = context.text();
  return after.starts_with(before) ? after.substr(before.size()) : after;
}

// A leaf's answer: its opener's text and the greedy continuation.
std::string answer_leaf(pie::Context& context, const std::string& path, const std::string& opener,
                        uint32_t tokens) {
  const std::string answer =
      opener + context.generate(pie::Sampler::greedy(), pie::StopCondition::max(tokens));
  pie::send("leaf " + path + ": " + answer);
  return answer;
}

// Solves the problem `context` holds, `depth` levels down, recursively.
pie::Result<std::string> solve(pie::Context& context, const std::string& path,
                               const std::string& opener, uint32_t depth, const Limits& limits) {
  pie::send("solve " + path + ": " + opener);
  if (depth == limits.depth) return answer_leaf(context, path, opener, limits.tokens);
  const std::vector<uint32_t> openers = split(context, limits.branch);
  if (openers.size() < limits.branch) return pie::Error{"the model offers too few sub-problems"};
  std::string answer = opener + "(";
  for (size_t k = 0; k < openers.size(); ++k) {
    pie::Context sub = context.fork();
    const std::string sub_opener = open(sub, openers[k]);
    auto sub_answer = solve(sub, path + "." + std::to_string(k + 1), sub_opener, depth + 1, limits);
    if (!sub_answer.ok()) return sub_answer;
    answer += (k == 0 ? "" : " | ") + sub_answer.value();
  }
  return answer + ")";
}

}  // namespace

PIE_MAIN(args) {
  constexpr const char* kUsage =
      "usage: recursion-of-thought <prompt> [branch=2] [depth=2] [tokens=6] [leaf path, e.g. "
      "r.1.2]";
  if (args.empty()) return pie::Error{kUsage};
  const auto branch = pie::parse_count(args.size() > 1 ? args[1] : "2", 1);
  const auto depth = pie::parse_count(args.size() > 2 ? args[2] : "2", 1);
  const auto tokens = pie::parse_count(args.size() > 3 ? args[3] : "6", 1);
  if (!branch || !depth || !tokens) return pie::Error{"bad number; " + std::string(kUsage)};
  const Limits limits{*branch, *depth, *tokens};

  const pie::Model model = pie::Model::first();
  pie::Context root(model);
  root.fill(args[0]);
  if (root.token_ids().empty()) return pie::Error{"the prompt is empty"};
  if (args.size() <= 4) return solve(root, "r", "", 0, limits);

  // One leaf, sequentially: follow its path's openers in the same context.
  const std::string& path = args[4];
  const std::string bad_path = "bad leaf path '" + path + "' (r, then " + args[2] +
                               " steps of 1.." + args[1] + ", e.g. r.1.2)";
  if (!path.starts_with("r.")) return pie::Error{bad_path};
  std::vector<uint32_t> steps;
  std::string_view rest = std::string_view(path).substr(2);
  while (true) {
    const size_t dot = rest.find('.');
    const auto step = pie::parse_count(rest.substr(0, dot), 1);
    if (!step || *step > *branch) return pie::Error{bad_path};
    steps.push_back(*step - 1);
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (steps.size() != *depth) return pie::Error{bad_path};
  std::string opener;
  for (uint32_t k : steps) {
    const std::vector<uint32_t> openers = split(root, *branch);
    if (openers.size() < *branch) return pie::Error{"the model offers too few sub-problems"};
    opener = open(root, openers[k]);
  }
  return answer_leaf(root, path, opener, *tokens);
}
