// Completes a prompt: streams each new piece of text to the client as a message while generating,
// and returns the whole completion.
//
// With a chat template the prompt is the user's turn (after an optional system turn); a model
// without one continues the prompt text as it is.
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
  auto parsed = pie::Flags::parse("text-completion", args,
                                  {{"--prompt"},
                                   {"--system"},
                                   {"--max-tokens", pie::FlagType::Positive},
                                   {"--temperature", pie::FlagType::Number}});
  if (!parsed) return parsed.error();
  const pie::Flags& flags = parsed.value();
  Options o;
  o.prompt = flags.text("--prompt");
  o.system = flags.text("--system");
  o.max_tokens = flags.count("--max-tokens", o.max_tokens);
  o.temperature = flags.number("--temperature", o.temperature);
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
