// inferlets/attention-sink in JavaScript, on the pie module's Context: generation attends to the
// first --sink tokens and the last --window tokens only; the tokens between are masked, and the KV
// pages holding only masked tokens are freed, so memory stops growing however long the generation
// runs. Every 16 tokens it sends "tokens <n> pages <p>"; returns the generated text.
//
//   pie run attention-sink-js.js -- --prompt "Once upon a time" [--max-tokens 256] [--sink 4]
//       [--window 32]
import * as pie from "pie";

function count(flag, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`attention-sink-js: ${flag} takes a count, not ${value}`);
  return n;
}

export async function main(args) {
  const o = { prompt: "", maxTokens: 256, sink: 4, window: 32 };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`attention-sink-js: ${flag} needs a value`);
    if (flag === "--prompt") o.prompt = value;
    else if (flag === "--max-tokens") o.maxTokens = count(flag, value);
    else if (flag === "--sink") o.sink = count(flag, value);
    else if (flag === "--window") o.window = count(flag, value);
    else {
      throw new Error(`attention-sink-js: unknown option ${flag} ` +
                      "(options: --prompt, --max-tokens, --sink, --window)");
    }
  }
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
