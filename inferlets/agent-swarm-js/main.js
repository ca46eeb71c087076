// One agent of a story-writing swarm, in JavaScript (the same pipeline, roles and topics as the
// C++ agent-swarm): each agent waits for the story so far on "<swarm>/<role>", adds its part with
// the model, and publishes the result to the next agent; the last one hands the story to its client.
//
//   agent-swarm-js <swarm> <role> [prompt]      roles: idea (needs the prompt), plot, characters, dialogue
import * as pie from "pie";

const ROLES = [
  { name: "idea", cue: "" },
  { name: "plot", cue: " One day," },
  { name: "characters", cue: " Her friend" },
  { name: "dialogue", cue: " She said, \"" },
];
const TOKENS_PER_AGENT = 16;
const USAGE = "usage: agent-swarm-js <swarm> <role> [prompt]; roles: idea (needs the prompt), " +
    "plot, characters, dialogue";

// Text of `generated` as it reads after `context` (SentencePiece vocabularies drop the space that
// begins a text, so the tokens are decoded behind the last few context tokens).
function continuation(tokenizer, context, generated) {
  const anchor = context.slice(-4);
  const anchorText = tokenizer.detokenize(anchor);
  const full = tokenizer.detokenize([...anchor, ...generated]);
  return full.startsWith(anchorText) ? full.slice(anchorText.length) : tokenizer.detokenize(generated);
}

// Greedy continuation of `text`, at most `maxTokens` tokens, ending before any of the model's stop
// strings. The JavaScript SDK has no Context: this drives KV pages and forward passes itself.
async function continueText(model, text, maxTokens) {
  const queue = model.createQueue();
  const tokenizer = model.tokenizer();
  const pageSize = model.kvPageSize;
  const pages = [];
  const prompt = tokenizer.tokenize(text);
  let input = prompt;
  let computed = 0;  // tokens whose KV is in the pages
  const generated = [];
  try {
    while (generated.length < maxTokens) {
      const total = computed + input.length;
      const needed = Math.ceil(total / pageSize);
      if (needed > pages.length) pages.push(...await queue.allocateKvPages(needed - pages.length));
      const result = await queue.forwardPass()
          .inputTokens(input, input.map((_, i) => computed + i))
          .kvCache(pages, total - (needed - 1) * pageSize)
          .attentionMask(input.map((_, i) => [computed + i + 1]))  // causal: all slots so far
          .outputTokens([input.length - 1], 0)
          .execute();
      computed = total;
      generated.push(result.tokens[0]);
      input = [result.tokens[0]];
      const sofar = continuation(tokenizer, prompt, generated);
      for (const stop of model.stopTokens) {
        const at = sofar.indexOf(stop);
        if (at >= 0) return sofar.slice(0, at);
      }
    }
    return continuation(tokenizer, prompt, generated);
  } finally {
    queue.deallocate(pie.Resource.KvPage, pages);
    queue.close();
  }
}

export async function main(args) {
  if (args.length < 2) throw new Error(USAGE);
  const [swarm, roleName] = args;
  const index = ROLES.findIndex((r) => r.name === roleName);
  if (index < 0) throw new Error(`unknown role '${roleName}'; ${USAGE}`);
  const role = ROLES[index];

  let story;
  if (index === 0) {
    if (args.length < 3) throw new Error(`the idea agent needs the prompt; ${USAGE}`);
    story = args[2];
  } else {
    const inbox = pie.subscribe(`${swarm}/${role.name}`);
    pie.send("ready");
    story = await inbox.next();
    inbox.close();
  }
  const model = pie.getModel(pie.models()[0]);
  if (model === null) throw new Error("no model is registered");
  const part = role.cue + await continueText(model, story + role.cue, TOKENS_PER_AGENT);
  pie.send(part);
  story += part;
  if (index + 1 < ROLES.length) pie.broadcast(`${swarm}/${ROLES[index + 1].name}`, story);
  return story;
}
