// inferlets/speculative-decoding in JavaScript, on the pie module's Context.generateWithDrafter and
// NgramDrafter (prompt lookup): the drafter guesses the next tokens from an earlier occurrence of
// the last few tokens, one forward pass verifies all the guesses, and the longest confirmed prefix
// is kept (plus the model's own next token). The text is exactly greedy decoding's, in fewer
// forward passes. Reports the passes and the draft tokens accepted.
//
//   pie run speculative-decoding-js.js -- --prompt "Once upon a time" [--max-tokens 120]
//       [--draft 4] [--ngram 3]
import * as pie from "pie";

function count(flag, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`speculative-decoding-js: ${flag} takes a count, not ${value}`);
  }
  return n;
}

export async function main(args) {
  const o = { prompt: "", maxTokens: 120, draft: 4, ngram: 3 };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`speculative-decoding-js: ${flag} needs a value`);
    if (flag === "--prompt") o.prompt = value;
    else if (flag === "--max-tokens") o.maxTokens = count(flag, value);
    else if (flag === "--draft") o.draft = count(flag, value);
    else if (flag === "--ngram") o.ngram = count(flag, value);
    else {
      throw new Error(`speculative-decoding-js: unknown option ${flag} ` +
                      "(options: --prompt, --max-tokens, --draft, --ngram)");
    }
  }
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
