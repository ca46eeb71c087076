// A prefix tree of generations: a root prompt forks into 2 branches, each into 2 more, and again,
// giving 8 leaves (1 -> 2 -> 4 -> 8). Every level appends its own text ("A" / "B" choices given by
// --level, once per level) and each node's KV prefix is shared by its children. The leaves then
// generate together. Sends one message per leaf, in order, as "<path>\t<text>"; with --independent
// every leaf is computed from scratch instead (same text).
//
//   pie run prefix-tree.wasm -- --prompt "Once upon a time" --level " there was" " a dog"
//       --level ... [--max-tokens 16] [--independent]
#include <cstdlib>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  std::string prompt;
  std::vector<std::pair<std::string, std::string>> levels;  // the two choices of each level
  uint32_t max_tokens = 16;
  bool independent = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--independent") {
      independent = true;
    } else if (args[i] == "--prompt" && i + 1 < args.size()) {
      prompt = args[++i];
    } else if (args[i] == "--max-tokens" && i + 1 < args.size()) {
      max_tokens = static_cast<uint32_t>(std::strtoul(args[++i].c_str(), nullptr, 10));
    } else if (args[i] == "--level" && i + 2 < args.size()) {
      levels.emplace_back(args[i + 1], args[i + 2]);
      i += 2;
    } else {
      return pie::Error{"prefix-tree: bad option " + args[i] +
                        " (options: --prompt <text>, --level <a> <b> (repeated), --max-tokens <n>, "
                        "--independent)"};
    }
  }
  if (prompt.empty() || levels.empty()) {
    return pie::Error{"prefix-tree: needs --prompt and at least one --level"};
  }

  const pie::Model model = pie::Model::first();
  struct Node {
    std::string path;  // "ab..." choices taken
    std::vector<std::string> texts;
  };
  std::vector<Node> leaves = {{"", {}}};
  for (const auto& [a, b] : levels) {
    std::vector<Node> next;
    for (const Node& n : leaves) {
      next.push_back({n.path + "a", n.texts});
      next.back().texts.push_back(a);
      next.push_back({n.path + "b", n.texts});
      next.back().texts.push_back(b);
    }
    leaves = std::move(next);
  }

  std::vector<pie::Context> contexts;
  if (independent) {
    for (const Node& leaf : leaves) {
      pie::Context& c = contexts.emplace_back(model);
      c.fill(pie::ChatFormatter::begin_of_sequence(model));
      c.fill(prompt);
      for (const auto& t : leaf.texts) c.fill(t);
    }
  } else {
    // Level by level: each node computes its own text, then forks for its two children.
    pie::Context root = model.create_context();
    root.fill(pie::ChatFormatter::begin_of_sequence(model));
    root.fill(prompt);
    root.flush();
    contexts.push_back(std::move(root));
    for (size_t level = 0; level < levels.size(); ++level) {
      const bool leaf = level + 1 == levels.size();
      std::vector<pie::Context> next;
      for (pie::Context& parent : contexts) {
        for (const std::string* text : {&levels[level].first, &levels[level].second}) {
          next.push_back(parent.fork());
          next.back().fill(*text);
          // Inner nodes are computed before their children fork; leaves keep their text pending
          // for the first generation step.
          if (!leaf) next.back().flush();
        }
      }
      contexts = std::move(next);
    }
  }
  std::vector<pie::Context*> pointers;
  for (auto& c : contexts) pointers.push_back(&c);
  const auto texts = pie::Context::generate_all(pointers, pie::Sampler::greedy(),
                                                pie::StopCondition::max(max_tokens));
  for (size_t i = 0; i < leaves.size(); ++i) pie::send(leaves[i].path + "\t" + texts[i]);
  return std::to_string(leaves.size()) + " leaves";
}
