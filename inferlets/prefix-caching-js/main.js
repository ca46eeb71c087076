// inferlets/prefix-caching in JavaScript, on the pie module's Context: a long shared prefix is
// computed once and exported under a name; later instances (in JavaScript or C++: the state is
// stored in one format) import its KV pages instead of computing it again, then continue with
// their own prompt. Reports whether the cache was hit, how many prompt tokens were computed (and of
// how many) and the time to the first generated token; returns the completion.
//
//   pie run prefix-caching-js.js -- --prefix "<long text>" --prompt "<question>"
//       [--name <cache name>] [--max-tokens 32]
import * as pie from "pie";

function parse(args) {
  const flags = pie.Flags.parse("prefix-caching-js", args, {
    "--prefix": pie.FlagType.Text,
    "--prompt": pie.FlagType.Text,
    "--name": pie.FlagType.Text,
    "--max-tokens": pie.FlagType.Count,
  });
  const o = {
    prefix: flags.text("--prefix"),
    prompt: flags.text("--prompt"),
    name: flags.text("--name", "prefix-caching"),
    maxTokens: flags.count("--max-tokens", 32),
  };
  if (o.prefix === "") throw new Error("prefix-caching-js: --prefix is required");
  return o;
}

export async function main(args) {
  const o = parse(args);
  const start = Date.now();
  const model = pie.getModel(pie.models()[0]);
  const cached = pie.Context.fromImported(model, o.name);
  const hit = cached !== null;
  const context = hit ? cached : model.createContext();
  if (!hit) {
    context.fill(model.renderChat([], { addGenerationPrompt: false }));
    context.fill(o.prefix);
    await context.exportPrefix(o.name);
  }
  context.fill(o.prompt);
  const promptTokens = context.tokenIds.length;
  // On a miss this instance computed the prefix too (before exporting it).
  const computed = context.tokensComputed + context.pendingTokenIds.length;
  let firstTokenMs = -1;
  const completion = await context.generate(pie.Sampler.greedy(), { maxTokens: o.maxTokens }, () => {
    if (firstTokenMs < 0) firstTokenMs = Date.now() - start;
  });
  context.close();
  pie.send(hit ? "cache: hit" : "cache: miss");
  pie.send(`prompt tokens computed: ${computed} of ${promptTokens} (saved ${promptTokens - computed})`);
  pie.send(`time to first token: ${Math.max(firstTokenMs, 0) * 1000} us`);
  return completion;
}
