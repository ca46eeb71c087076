// inferlets/speculative-decoding in JavaScript, on the pie module's Context.generateWithDrafter and
// NgramDrafter (prompt lookup): the drafter guesses the next tokens from an earlier occurrence of
// the last few tokens, one forward pass verifies all the guesses, and the longest confirmed prefix
// is kept (plus the model's own next token). The text is exactly greedy decoding's, in fewer
// forward passes. Reports the passes and the draft tokens accepted.
//
//   pie run speculative-decoding-js.js -- --prompt "Once upon a time" [--max-tokens 120]
//       [--draft 4] [--ngram 3]
import * as pie from "pie";

export async function main(args) {
  const flags = pie.Flags.parse("speculative-decoding-js", args, {
    "--prompt": pie.FlagType.Text,
    "--max-tokens": pie.FlagType.Count,
    "--draft": pie.FlagType.Count,
    "--ngram": pie.FlagType.Count,
  });
  const o = {
    prompt: flags.text("--prompt"),
    maxTokens: flags.count("--max-tokens", 120),
    draft: flags.count("--draft", 4),
    ngram: flags.count("--ngram", 3),
  };
  if (o.prompt === "") throw new Error("speculative-decoding-js: --prompt is required");
  if (o.ngram === 0) throw new Error("speculative-decoding-js: --ngram must be at least 1");

  const model = pie.getModel(pie.models()[0]);
  const context = model.createContext();
  context.fill(model.renderChat([], { addGenerationPrompt: false }));
  context.fill(o.prompt);
  const out = await context.generateWithDrafter(new pie.NgramDrafter(o.ngram),
                                                { maxTokens: o.maxTokens }, o.draft);
  context.close();
  pie.send(`tokens: ${out.tokens.length}`);
  pie.send(`forward passes: ${out.forwardPasses}`);
  pie.send(`draft tokens accepted: ${out.accepted} of ${out.drafted}`);
  return out.text;
}
