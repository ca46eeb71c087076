// Completes a prompt, as inferlets/text-completion does in C++ (and on the same Context API):
// streams each new piece of text to the client as a message while generating, and returns the whole
// completion.
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

export async function main(args) {
  const o = parse(args);
  const model = pie.getModel(pie.models()[0]);
  const context = model.createContext();
  if (model.promptTemplate !== "") {
    if (o.system) context.fillSystem(o.system);
    context.fillUser(o.prompt);
  } else {
    // A raw text starts as the tokenizer starts texts (a begin-of-sequence token, for most models).
    context.fill(model.renderChat([], { addGenerationPrompt: false }));
    if (o.system) context.fill(o.system + "\n");
    context.fill(o.prompt);
  }
  const text = await context.generate(pie.Sampler.multinomial(o.temperature),
                                      { maxTokens: o.maxTokens }, (piece) => pie.send(piece));
  context.close();
  return text;
}
