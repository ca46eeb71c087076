// Completes a prompt, as inferlets/text-completion does in C++ (and on the same Context API):
// streams each new piece of text to the client as a message while generating, and returns the whole
// completion.
import * as pie from "pie";

function parse(args) {
  const flags = pie.Flags.parse("text-completion-js", args, {
    "--prompt": pie.FlagType.Text,
    "--system": pie.FlagType.Text,
    "--max-tokens": pie.FlagType.Positive,
    "--temperature": pie.FlagType.Number,
  });
  const o = {
    prompt: flags.text("--prompt"),
    system: flags.text("--system"),
    maxTokens: flags.count("--max-tokens", 256),
    temperature: flags.number("--temperature", 0),
  };
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
