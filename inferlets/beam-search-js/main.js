// inferlets/beam-search in JavaScript, on the pie module's Context.beamSearch: keeps the `--beams`
// most likely continuations (by the sum of their tokens' log-probabilities), every beam a fork of
// one context. Sends one message per beam, best first, as "<score>\t<text>", and returns the best
// beam's text.
//
//   pie run beam-search-js.js -- --prompt "Once upon a time" [--beams 3] [--max-tokens 24]
import * as pie from "pie";

export async function main(args) {
  const flags = pie.Flags.parse("beam-search-js", args, {
    "--prompt": pie.FlagType.Text,
    "--beams": pie.FlagType.Count,
    "--max-tokens": pie.FlagType.Count,
  });
  const o = {
    prompt: flags.text("--prompt"),
    beams: flags.count("--beams", 3),
    maxTokens: flags.count("--max-tokens", 24),
  };
  if (o.prompt === "") throw new Error("beam-search-js: --prompt is required");
  if (o.beams === 0) throw new Error("beam-search-js: --beams must be at least 1");

  const model = pie.getModel(pie.models()[0]);
  const context = model.createContext();
  context.fill(model.renderChat([], { addGenerationPrompt: false }));
  context.fill(o.prompt);
  const found = await context.beamSearch(o.beams, o.maxTokens);
  context.close();
  for (const beam of found) pie.send(`${beam.score.toFixed(6)}\t${beam.text}`);
  return found[0].text;
}
