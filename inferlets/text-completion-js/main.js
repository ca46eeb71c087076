// Completes a prompt, as inferlets/text-completion does in C++: streams each new piece of text to
// the client as a message while generating, and returns the whole completion.
import * as pie from "pie";

function parse(args) {
  const o = { prompt: "", system: "", maxTokens: 256, temperature: 0 };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`text-completion-js: ${flag} needs a value`);
    if (flag === "--prompt") o.prompt = value;
    else if (flag === "--system") o.system = value;
    else if (flag === "--max-tokens") {
      o.maxTokens = Number(value);
      if (!Number.isInteger(o.maxTokens) || o.maxTokens <= 0) {
        throw new Error(`text-completion-js: --max-tokens takes a positive integer, not ${value}`);
      }
    } else if (flag === "--temperature") {
      o.temperature = Number(value);
      if (!(o.temperature >= 0)) {
        throw new Error(`text-completion-js: --temperature takes a number >= 0, not ${value}`);
      }
    } else {
      throw new Error(`text-completion-js: unknown option ${flag} ` +
                      "(options: --prompt, --max-tokens, --system, --temperature)");
    }
  }
  if (o.prompt === "") throw new Error("text-completion-js: --prompt is required");
  return o;
}

// Bytes at the end of `text` that may still change: a stop string's beginning.
function heldBack(text, stops) {
  let held = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > held; --n) {
      if (text.endsWith(s.slice(0, n))) { held = n; break; }
    }
  }
  return held;
}

export async function main(args) {
  const o = parse(args);
  const model = pie.getModel(pie.models()[0]);
  const tokenizer = model.tokenizer();
  const queue = model.createQueue();
  const pageSize = model.kvPageSize;

  let prompt;
  if (model.promptTemplate !== "") {
    const messages = o.system ? [{ role: "system", content: o.system }] : [];
    messages.push({ role: "user", content: o.prompt });
    prompt = model.renderChat(messages);
  } else {
    // A raw text starts as the tokenizer starts texts (a begin-of-sequence token, for most models).
    const bos = model.renderChat([], { addGenerationPrompt: false, beginOfSequence: true });
    prompt = bos + (o.system ? o.system + "\n" : "") + o.prompt;
  }
  const stops = model.stopTokens.filter((s) => s !== "");

  const pages = [];
  let pending = tokenizer.tokenize(prompt);
  // The last prompt tokens decode with the completion, so it keeps the spaces a tokenizer drops at
  // the start of a text.
  const anchor = pending.slice(-4);
  const anchorText = tokenizer.detokenize(anchor);
  let computed = 0;
  const generated = [];
  let text = "";
  let emitted = 0;
  const pass = queue.forwardPass();
  while (generated.length < o.maxTokens) {
    const total = computed + pending.length;
    const needed = Math.ceil(total / pageSize);
    if (needed > pages.length) pages.push(...(await queue.allocateKvPages(needed - pages.length)));
    const positions = pending.map((_, i) => computed + i);
    const causal = pending.map((_, i) => [computed + i + 1]);  // attend to every earlier token
    const result = await pass.inputTokens(pending, positions)
                             .kvCache(pages, total - (pages.length - 1) * pageSize)
                             .attentionMask(causal)
                             .outputTokens([pending.length - 1], o.temperature)
                             .execute();
    computed = total;
    const token = result.tokens[0];
    generated.push(token);
    pending = [token];
    const full = tokenizer.detokenize([...anchor, ...generated]);
    text = full.startsWith(anchorText) ? full.slice(anchorText.length) : tokenizer.detokenize(generated);
    const stop = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
    if (stop.length > 0) {
      text = text.slice(0, Math.min(...stop));
      break;
    }
    const safe = text.length - heldBack(text, stops);
    if (safe > emitted) {
      pie.send(text.slice(emitted, safe));
      emitted = safe;
    }
  }
  if (text.length > emitted) pie.send(text.slice(emitted));
  pass.close();
  queue.deallocate(pie.Resource.KvPage, pages);
  return text;
}
