// Tree-of-thought (Yao et al., 2023): thoughts branch into several continuations, level after
// level, and the paths are evaluated to choose one. A node branches on the `width` most likely
// next tokens; each branch is a fork of its parent's context (the parent's full KV pages shared)
// that opens with its token and adds a greedy thought of `tokens` tokens. A path's score is the
// sum of the log-probabilities of its branching tokens.
//
//   tree-of-thought <prompt> [width=2] [depth=2] [tokens=8] [path]
//
// Sends "<path> <score> <text after the prompt>" per leaf (paths like 1.2: the second branch of
// the first) and completes with the best leaf's path. With a path argument, only that path is
// followed, in one fresh context without forking (the sequential baseline), and sent the same way.
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

struct Node {
  pie::Context context;
  std::string path;
  double score = 0.0;
};

// The `width` most likely next tokens of `context` and their probabilities.
pie::Distribution branching(pie::Context& context, uint32_t width) {
  pie::Distribution top;
  context.decode_step(pie::Sampler::custom(
      1.0F,
      [&](const pie::Distribution& d) {
        top = d;
        return d.ids.at(0);
      },
      width));
  top.ids.resize(std::min<size_t>(width, top.ids.size()));
  top.probs.resize(top.ids.size());
  return top;
}

// Opens branch `k` (0-based) of `top` in `context` and adds the greedy thought.
void grow(pie::Context& context, const pie::Distribution& top, size_t k, uint32_t tokens) {
  context.fill_token(top.ids[k]);
  context.generate(pie::Sampler::greedy(), pie::StopCondition::max(tokens));
}

void report(const Node& node, const std::string& prompt_text) {
  const std::string all = node.context.text();
  char score[32];
  std::snprintf(score, sizeof score, " %.4f ", node.score);
  pie::send(node.path + score +
            (all.starts_with(prompt_text) ? all.substr(prompt_text.size()) : all));
}

}  // namespace

PIE_MAIN(args) {
  constexpr const char* kUsage =
      "usage: tree-of-thought <prompt> [width=2] [depth=2] [tokens=8] [path, e.g. 1.2]";
  if (args.empty()) return pie::Error{kUsage};
  const auto width = pie::parse_count(args.size() > 1 ? args[1] : "2", 1);
  const auto depth = pie::parse_count(args.size() > 2 ? args[2] : "2", 1);
  const auto tokens = pie::parse_count(args.size() > 3 ? args[3] : "8", 1);
  if (!width || !depth || !tokens) return pie::Error{"bad number; " + std::string(kUsage)};

  const pie::Model model = pie::Model::first();
  Node root{pie::Context(model), "", 0.0};
  root.context.fill(args[0]);
  if (root.context.token_ids().empty()) return pie::Error{"the prompt is empty"};
  const std::string prompt_text = root.context.text();

  if (args.size() > 4) {  // one path, sequentially
    std::vector<uint32_t> steps;
    std::string_view rest = args[4];
    while (!rest.empty()) {
      const auto step = pie::parse_count(rest.substr(0, rest.find('.')), 1);
      if (!step || *step > *width) return pie::Error{"bad path '" + args[4] + "'"};
      steps.push_back(*step - 1);
      rest = rest.find('.') == std::string_view::npos ? "" : rest.substr(rest.find('.') + 1);
    }
    if (steps.size() != *depth) return pie::Error{"the path must have " + args[2] + " steps"};
    for (uint32_t k : steps) {
      const pie::Distribution top = branching(root.context, *width);
      root.score += std::log(top.probs[k]);
      root.path += (root.path.empty() ? "" : ".") + std::to_string(k + 1);
      grow(root.context, top, k, *tokens);
    }
    report(root, prompt_text);
    return root.path;
  }

  std::vector<Node> level;
  level.push_back(std::move(root));
  for (uint32_t d = 0; d < *depth; ++d) {
    std::vector<Node> next;
    for (Node& node : level) {
      const pie::Distribution top = branching(node.context, *width);
      for (size_t k = 0; k < top.ids.size(); ++k) {
        Node child{node.context.fork(),
                   node.path + (node.path.empty() ? "" : ".") + std::to_string(k + 1),
                   node.score + std::log(top.probs[k])};
        grow(child.context, top, k, *tokens);
        next.push_back(std::move(child));
      }
    }
    level = std::move(next);
  }
  const Node* best = &level.front();
  for (const Node& leaf : level) {
    report(leaf, prompt_text);
    if (leaf.score > best->score) best = &leaf;
  }
  return best->path;
}
