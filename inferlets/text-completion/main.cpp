// Completes a prompt: streams each new piece of text to the client as a message while generating,
// and returns the whole completion.
//
// With a chat template the prompt is the user's turn (after an optional system turn); a model
// without one continues the prompt text as it is.
#include <cstdlib>
#include <string>

#include "pie/pie.h"

namespace {

struct Options {
  std::string prompt;
  std::string system;
  uint32_t max_tokens = 256;
  float temperature = 0.0F;
};

pie::Result<Options> parse(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (i + 1 >= args.size()) return pie::Error{"text-completion: " + flag + " needs a value"};
    const std::string& value = args[++i];
    if (flag == "--prompt") {
      o.prompt = value;
    } else if (flag == "--system") {
      o.system = value;
    } else if (flag == "--max-tokens") {
      char* end = nullptr;
      o.max_tokens = static_cast<uint32_t>(std::strtoul(value.c_str(), &end, 10));
      if (*end != '\0' || o.max_tokens == 0) {
        return pie::Error{"text-completion: --max-tokens takes a positive integer, not " + value};
      }
    } else if (flag == "--temperature") {
      char* end = nullptr;
      o.temperature = std::strtof(value.c_str(), &end);
      if (*end != '\0' || o.temperature < 0.0F) {
        return pie::Error{"text-completion: --temperature takes a number >= 0, not " + value};
      }
    } else {
      return pie::Error{"text-completion: unknown option " + flag +
                        " (options: --prompt, --max-tokens, --system, --temperature)"};
    }
  }
  if (o.prompt.empty()) return pie::Error{"text-completion: --prompt is required"};
  return o;
}

}  // namespace

PIE_MAIN(args) {
  auto options = parse(args);
  if (!options) return options.error();
  const Options& o = options.value();

  const pie::Model model = pie::Model::first();
  pie::Context context = model.create_context();
  const bool chat = !model.prompt_template().empty();
  if (chat) {
    if (!o.system.empty()) context.fill_system(o.system);
    context.fill_user(o.prompt);
  } else {
    context.fill(pie::ChatFormatter::begin_of_sequence(model));
    if (!o.system.empty()) context.fill(o.system + "\n");
    context.fill(o.prompt);
  }
  const pie::StopCondition stop = pie::StopCondition::max(o.max_tokens);
  return context.generate_streaming(pie::Sampler::multinomial(o.temperature), stop,
                                    [](std::string_view piece) { pie::send(piece); });
}
