// One agent of a story-writing swarm. Four agents form a pipeline chained by broadcast/subscribe:
// each one waits for the story so far on its topic, adds its part with the model, and publishes
// the result on the next agent's topic; the last one hands the finished story to its client.
//
//   agent-swarm <swarm> <role> [prompt]
//
// Roles in pipeline order: idea, plot, characters, dialogue. The first (idea) starts from the
// prompt; the others subscribe to "<swarm>/<role>" and tell their client "ready" once subscribed,
// so a client launches them first and the idea agent last.
#include <array>
#include <string>
#include <string_view>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

struct Role {
  std::string_view name;
  std::string_view cue;  // how this agent's part begins
};

constexpr std::array<Role, 4> kRoles = {{
    {"idea", ""},
    {"plot", " One day,"},
    {"characters", " Her friend"},
    {"dialogue", " She said, \""},
}};

// Tokens each agent adds.
constexpr uint32_t kTokensPerAgent = 16;

std::string topic(std::string_view swarm, std::string_view role) {
  return std::string(swarm) + "/" + std::string(role);
}

// This agent's part of the story: its cue and what the model writes after it.
std::string contribute(const Role& role, const std::string& story) {
  pie::Context context(pie::Model::first());
  context.fill(story + std::string(role.cue));
  return std::string(role.cue) +
         context.generate(pie::Sampler::greedy(), pie::StopCondition::max(kTokensPerAgent));
}

}  // namespace

PIE_MAIN(args) {
  constexpr const char* kUsage =
      "usage: agent-swarm <swarm> <role> [prompt]; roles: idea (needs the prompt), plot, "
      "characters, dialogue";
  if (args.size() < 2) return pie::Error{kUsage};
  const std::string& swarm = args[0];
  size_t index = 0;
  while (index < kRoles.size() && kRoles[index].name != args[1]) ++index;
  if (index == kRoles.size()) return pie::Error{"unknown role '" + args[1] + "'; " + kUsage};
  const Role& role = kRoles[index];

  std::string story;
  if (index == 0) {
    if (args.size() < 3)
      return pie::Error{"the idea agent needs the prompt; " + std::string(kUsage)};
    story = args[2];
  } else {
    pie::Subscription inbox(topic(swarm, role.name));
    pie::send("ready");
    story = inbox.next();
  }
  const std::string part = contribute(role, story);
  pie::send(part);
  story += part;
  if (index + 1 < kRoles.size()) pie::broadcast(topic(swarm, kRoles[index + 1].name), story);
  return story;
}
