// inferlets/attention-sink in JavaScript, on the pie module's Context: generation attends to the
// first --sink tokens and the last --window tokens only; the tokens between are masked, and the KV
// pages holding only masked tokens are freed, so memory stops growing however long the generation
// runs. Every 16 tokens it sends "tokens <n> pages <p>"; returns the generated text.
//
//   pie run attention-sink-js.js -- --prompt "Once upon a time" [--max-tokens 256] [--sink 4]
//       [--window 32]
import * as pie from "pie";

export async function main(args) {
  const flags = pie.Flags.parse("attention-sink-js", args, {
    "--prompt": pie.FlagType.Text,
    "--max-tokens": pie.FlagType.Count,
    "--sink": pie.FlagType.Count,
    "--window": pie.FlagType.Count,
  });
  const o = {
    prompt: flags.text("--prompt"),
    maxTokens: flags.count("--max-tokens", 256),
    sink: flags.count("--sink", 4),
    window: flags.count("--window", 32),
  };
  if (o.prompt === "") throw new Error("attention-sink-js: --prompt is required");
  if (o.window === 0) throw new Error("attention-sink-js: --window must be at least 1");

  const model = pie.getModel(pie.models()[0]);
  const context = model.createContext();
  context.fill(model.renderChat([], { addGenerationPrompt: false }));
  context.fill(o.prompt);
  const generated = [];
  while (generated.length < o.maxTokens) {
    const token = await context.decodeStep(pie.Sampler.greedy());
    generated.push(token);
    // The next token sees the sink and the window; what lies between is masked, then freed.
    const length = context.sequenceLength;
    if (length > o.sink + o.window) context.maskTokenRange(o.sink, length - o.window, true);
    context.fillToken(token);
    context.dropMaskedKvPages();
    if (generated.length % 16 === 0) pie.send(`tokens ${generated.length} pages ${context.kvPageCount}`);
  }
  const text = context.tokenizer.detokenize(generated);
  context.close();
  return text;
}
