// inferlets/parallel-generation in JavaScript, on the pie module's Context: the prompt is computed
// once, the context forked into one branch per continuation (sharing the prompt's full KV pages),
// and all branches generated together, one batched step at a time. With --independent every
// branch is computed from scratch instead, which gives the same text.
//
//   pie run parallel-generation-js.js -- --prompt "Once upon a time" --branch " there was a dog"
//       --branch " there was a cat" [--max-tokens 32] [--independent]
import * as pie from "pie";

function parse(args) {
  const o = { prompt: "", branches: [], maxTokens: 32, independent: false };
  for (let i = 0; i < args.length; ++i) {
    const flag = args[i];
    if (flag === "--independent") {
      o.independent = true;
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new Error(`parallel-generation-js: ${flag} needs a value`);
    if (flag === "--prompt") o.prompt = value;
    else if (flag === "--branch") o.branches.push(value);
    else if (flag === "--max-tokens") {
      o.maxTokens = Number(value);
      if (!Number.isInteger(o.maxTokens) || o.maxTokens <= 0) {
        throw new Error(`parallel-generation-js: --max-tokens takes a positive integer, not ${value}`);
      }
    } else {
      throw new Error(`parallel-generation-js: unknown option ${flag} ` +
                      "(options: --prompt, --branch (repeated), --max-tokens, --independent)");
    }
  }
  if (o.prompt === "" || o.branches.length === 0) {
    throw new Error("parallel-generation-js: needs --prompt and at least one --branch");
  }
  return o;
}

export async function main(args) {
  const o = parse(args);
  const model = pie.getModel(pie.models()[0]);
  const beginOfSequence = model.renderChat([], { addGenerationPrompt: false });
  const contexts = [];
  if (o.independent) {
    for (const branch of o.branches) {
      const c = model.createContext();
      c.fill(beginOfSequence);
      c.fill(o.prompt);
      c.fill(branch);
      contexts.push(c);
    }
  } else {
    const prefix = model.createContext();
    prefix.fill(beginOfSequence);
    prefix.fill(o.prompt);
    await prefix.flush();
    for (const branch of o.branches) {
      const c = await prefix.fork();
      c.fill(branch);
      contexts.push(c);
    }
    prefix.close();  // the branches keep the pages they share
  }
  const texts = await pie.Context.generateAll(contexts, pie.Sampler.greedy(),
                                              { maxTokens: o.maxTokens });
  for (const c of contexts) c.close();
  const results = o.branches.map((branch, i) => branch + texts[i]);
  for (const r of results) pie.send(r);
  return results.join("\n");
}
