// inferlets/beam-search in JavaScript, on the pie module's Context.beamSearch: keeps the `--beams`
// most likely continuations (by the sum of their tokens' log-probabilities), every beam a fork of
// one context. Sends one message per beam, best first, as "<score>\t<text>", and returns the best
// beam's text.
//
//   pie run beam-search-js.js -- --prompt "Once upon a time" [--beams 3] [--max-tokens 24]
import * as pie from "pie";

function count(flag, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`beam-search-js: ${flag} takes a count, not ${value}`);
  return n;
}

export async function main(args) {
  const o = { prompt: "", beams: 3, maxTokens: 24 };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`beam-search-js: ${flag} needs a value`);
    if (flag === "--prompt") o.prompt = value;
    else if (flag === "--beams") o.beams = count(flag, value);
    else if (flag === "--max-tokens") o.maxTokens = count(flag, value);
    else throw new Error(`beam-search-js: unknown option ${flag} (options: --prompt, --beams, --max-tokens)`);
  }
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
