// The "pie" module of JavaScript inferlets: the inferlet API as classes and promises, over the
// runtime's natives ("pie:native"). The runtime embeds this file; inferlets write
//
//   import * as pie from "pie";
//   export async function main(args) { pie.send("hi"); return "done"; }
//
// Every promise here settles when the engine completes the operation; the runtime's event loop
// waits for the engine while the program awaits.
import * as native from "pie:native";

export const Resource = Object.freeze({ KvPage: 0, Embed: 1, Adapter: 2 });
export const Priority = Object.freeze({ Low: 0, Normal: 1, High: 2 });

// The engine's sampler kinds (the ABI's PIE_SAMPLER_*).
const SamplerKind = Object.freeze({ Multinomial: 1, TopP: 2, TopK: 3, MinP: 4, TopKTopP: 5 });

// Resolves once the engine has completed handle `h`.
function settled(h) {
  return native.watch(h);
}

async function futureString(h) {
  try {
    await settled(h);
    return native.futureString(h);
  } finally {
    native.drop(h);
  }
}

// ---- The instance --------------------------------------------------------------------------------

export function runtimeVersion() { return native.version(); }
export function instanceId() { return native.instanceId(); }
export function getArguments() { return native.arguments(); }
// The value the client receives with the Completed event (main's return value sets it too).
export function setReturn(value) { native.setReturn(String(value)); }
export function debugQuery(query) { return futureString(native.debugQuery(String(query))); }

// ---- Messages with the client --------------------------------------------------------------------

export function send(message) { native.send(String(message)); }
export function receive() { return futureString(native.receive()); }
// Sends bytes (a Uint8Array, or a string as UTF-8) to the client.
export function sendBlob(bytes) { native.sendBlob(bytes); }
// The next blob the client uploads, as a Uint8Array.
export async function receiveBlob() {
  const h = native.receiveBlob();
  try {
    await settled(h);
    return native.futureBlob(h);
  } finally {
    native.drop(h);
  }
}

// ---- Broadcast between instances ------------------------------------------------------------------

export function broadcast(topic, message) { native.broadcast(String(topic), String(message)); }

// Every message published on the topic after subscribing, in order (up to 64 waiting).
export class Subscription {
  #h;
  constructor(topic) { this.#h = native.subscribe(String(topic)); }
  // The next waiting message, or null.
  take() { return native.subscriptionTake(this.#h); }
  async next() {
    for (;;) {
      const m = native.subscriptionTake(this.#h);
      if (m !== null) return m;
      await settled(this.#h);
    }
  }
  unsubscribe() { native.unsubscribe(this.#h); }
  close() { native.drop(this.#h); }
}

export function subscribe(topic) { return new Subscription(topic); }

// ---- Key-value store shared by all instances -------------------------------------------------------

export const store = Object.freeze({
  get(key) { return native.storeGet(String(key)); },
  set(key, value) { native.storeSet(String(key), String(value)); },
  delete(key) { native.storeDelete(String(key)); },
  exists(key) { return native.storeExists(String(key)); },
  keys() { return native.storeKeys(); },
});

// ---- Models ----------------------------------------------------------------------------------------

export class Model {
  #h;
  #info;
  constructor(h) {
    this.#h = h;
    this.#info = native.modelInfo(h);
  }
  get name() { return this.#info.name; }
  get description() { return this.#info.description; }
  get promptTemplate() { return this.#info.promptTemplate; }
  get traits() { return [...this.#info.traits]; }
  get stopTokens() { return [...this.#info.stopTokens]; }
  get serviceId() { return this.#info.serviceId; }
  get kvPageSize() { return this.#info.kvPageSize; }
  createQueue() { return new Queue(native.modelCreateQueue(this.#h)); }
  createContext() { return new Context(this); }
  tokenizer() { return new Tokenizer(native.modelTokenizer(this.#h)); }
  // The conversation ([{role, content}, ...]) rendered with the model's chat template, on the
  // engine. beginOfSequence includes the template's begin-of-sequence text (for the first messages
  // of a sequence). Throws when the model has no chat template. No messages give the text a raw
  // sequence starts with (the begin-of-sequence token when the tokenizer adds one), for any model.
  renderChat(messages, { addGenerationPrompt = true, beginOfSequence = true } = {}) {
    const json = JSON.stringify(messages.map((m) => ({ role: String(m.role), content: String(m.content) })));
    const prompt = native.modelRenderChat(this.#h, json, addGenerationPrompt ? 1 : 0, beginOfSequence ? 1 : 0);
    if (prompt === null) throw new Error(`model ${this.name} has no chat template`);
    return prompt;
  }
}

// The model registered under `name`, or null.
export function getModel(name) {
  const h = native.modelGet(String(name));
  return h === 0 ? null : new Model(h);
}
// Names of all models, in registration order.
export function models() { return native.models(); }
export function modelsWithTraits(traits) { return native.modelsWithTraits(traits.map(String)); }

export class Queue {
  #h;
  constructor(h) { this.#h = h; }
  get serviceId() { return native.queueServiceId(this.#h); }
  // Resolves once every command submitted earlier on this queue has completed.
  async synchronize() {
    const h = native.queueSynchronize(this.#h);
    try {
      await settled(h);
      native.futureCheck(h);
    } finally {
      native.drop(h);
    }
  }
  setPriority(priority) { native.queueSetPriority(this.#h, priority); }
  debugQuery(query) { return futureString(native.queueDebugQuery(this.#h, String(query))); }

  // Resources: ids private to this instance, freed with deallocate (or at exit).
  async allocate(type, count) {
    const h = native.allocate(this.#h, type, count);
    try {
      await settled(h);
      return native.futureIds(h);
    } finally {
      native.drop(h);
    }
  }
  allocateKvPages(count) { return this.allocate(Resource.KvPage, count); }
  deallocate(type, ids) { native.deallocate(this.#h, type, ids); }
  exportResources(type, ids, name) { native.exportResources(this.#h, type, ids, String(name)); }
  importResources(type, name) { return native.importResources(this.#h, type, String(name)); }
  // [[name, number of slots], ...]
  exported(type) { return native.exportedResources(this.#h, type); }
  releaseExported(type, name) { native.releaseExported(this.#h, type, String(name)); }

  // Images and adapters: submitted in queue order; a failure ends the instance.
  embedImage(embeds, image, positionOffset) {
    native.embedImage(this.#h, embeds, image, positionOffset);
  }
  initializeAdapter(adapter, rank, alpha, populationSize, muFraction, initialSigma) {
    native.initializeAdapter(this.#h, adapter, rank, alpha, populationSize, muFraction, initialSigma);
  }
  updateAdapter(adapter, scores, seeds, maxSigma) {
    native.updateAdapter(this.#h, adapter, scores, seeds, maxSigma);
  }

  forwardPass() { return new ForwardPass(native.fpCreate(this.#h)); }
  close() { native.drop(this.#h); }
}

// Builds and submits forward passes. After execute the builder is empty again, except for its
// adapter, adapter seed and last page length.
export class ForwardPass {
  #h;
  constructor(h) { this.#h = h; }
  inputTokens(tokens, positions) { native.fpInputTokens(this.#h, tokens, positions); return this; }
  inputEmbeddings(embeds, positions) { native.fpInputEmbeddings(this.#h, embeds, positions); return this; }
  outputEmbeddings(embeds, indices) { native.fpOutputEmbeddings(this.#h, embeds, indices); return this; }
  kvCache(pages, lastPageLen) { native.fpKvCache(this.#h, pages, lastPageLen); return this; }
  // One BRLE row (array of run lengths) per input token.
  attentionMask(rows) { native.fpAttentionMask(this.#h, rows); return this; }
  outputDistributions(indices, temperature, topK) {
    native.fpOutputDistributions(this.#h, indices, temperature, topK ?? 0);
    return this;
  }
  outputTokens(indices, temperature) {
    native.fpOutputTokens(this.#h, indices, SamplerKind.Multinomial, temperature, 0, 1, 0);
    return this;
  }
  outputTokensTopK(indices, temperature, topK) {
    native.fpOutputTokens(this.#h, indices, SamplerKind.TopK, temperature, topK, 1, 0);
    return this;
  }
  outputTokensTopP(indices, temperature, topP) {
    native.fpOutputTokens(this.#h, indices, SamplerKind.TopP, temperature, 0, topP, 0);
    return this;
  }
  outputTokensMinP(indices, temperature, minP) {
    native.fpOutputTokens(this.#h, indices, SamplerKind.MinP, temperature, 0, 1, minP);
    return this;
  }
  outputTokensTopKTopP(indices, temperature, topK, topP) {
    native.fpOutputTokens(this.#h, indices, SamplerKind.TopKTopP, temperature, topK, topP, 0);
    return this;
  }
  setAdapter(adapter) { native.fpSetAdapter(this.#h, adapter); return this; }
  setAdapterSeed(seed) { native.fpSetAdapterSeed(this.#h, BigInt(seed)); return this; }
  // Submits the pass. Resolves to {tokens, distributions} when it requests token outputs, else to
  // null at once (synchronize the queue to wait for it).
  async execute() {
    const h = native.fpExecute(this.#h);
    if (h === 0) return null;
    try {
      await settled(h);
      return { tokens: native.futureTokens(h), distributions: native.futureDistributions(h) };
    } finally {
      native.drop(h);
    }
  }
  close() { native.drop(this.#h); }
}

export class Tokenizer {
  #h;
  constructor(h) { this.#h = h; }
  tokenize(text) { return native.tokenize(this.#h, String(text)); }
  detokenize(ids) { return native.detokenize(this.#h, ids); }
  // [[id, Uint8Array], ...] for the ordinary vocabulary.
  vocabulary() { return native.vocabulary(this.#h); }
}

// ---- Launch arguments -----------------------------------------------------------------------------

export const FlagType = Object.freeze({ Text: "text", Count: "count", Positive: "positive", Number: "number" });

const flagTypeText = Object.freeze({
  text: "takes text",
  count: "takes an integer >= 0",
  positive: "takes a positive integer",
  number: "takes a number >= 0",
});

function parseCount(text, minimum) {
  if (!/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return n >= minimum && n <= 0xFFFFFFFF ? n : null;
}

function parseNumber(text) {
  const x = text.trim() === "" ? NaN : Number(text);
  return Number.isFinite(x) && x >= 0 ? x : null;
}

// Launch arguments of the form `--name value`, as the C++ SDK's pie::Flags: declared once with
// their types, checked at parse time, read with defaults.
export class Flags {
  #values = new Map();  // the value given last for each name

  // Reads `args` as name/value pairs; `known` maps each flag (with its dashes) to a FlagType. A
  // flag without a value, one not in `known`, or a value its type refuses throws an Error that
  // names the program and says so (an unknown flag's lists the known ones).
  static parse(program, args, known) {
    const flags = new Flags();
    for (let i = 0; i < args.length; i += 2) {
      const name = args[i];
      const type = Object.hasOwn(known, name) ? known[name] : undefined;
      if (type === undefined) {
        throw new Error(`${program}: unknown option ${name} (options: ${Object.keys(known).join(", ")})`);
      }
      if (i + 1 >= args.length) throw new Error(`${program}: ${name} needs a value`);
      const value = args[i + 1];
      const ok = type === FlagType.Count ? parseCount(value, 0) !== null
               : type === FlagType.Positive ? parseCount(value, 1) !== null
               : type === FlagType.Number ? parseNumber(value) !== null
               : true;
      if (!ok) throw new Error(`${program}: ${name} ${flagTypeText[type]}, not ${value}`);
      flags.#values.set(name, value);
    }
    return flags;
  }

  has(name) { return this.#values.has(name); }
  text(name, fallback = "") { return this.#values.get(name) ?? fallback; }
  count(name, fallback) {
    const v = this.#values.get(name);
    return v === undefined ? fallback : parseCount(v, 0) ?? fallback;
  }
  number(name, fallback) {
    const v = this.#values.get(name);
    return v === undefined ? fallback : parseNumber(v) ?? fallback;
  }
}

// ---- Contexts -------------------------------------------------------------------------------------

// How the next token is chosen (on the engine). Temperature 0 is greedy.
export class Sampler {
  constructor(kind, temperature, k = 0, p = 1, minP = 0) {
    this.kind = kind;
    this.temperature = temperature;
    this.k = k;
    this.p = p;
    this.minP = minP;
    Object.freeze(this);
  }
  static greedy() { return new Sampler(SamplerKind.Multinomial, 0); }
  static multinomial(temperature) { return new Sampler(SamplerKind.Multinomial, temperature); }
  static topK(temperature, k) { return new Sampler(SamplerKind.TopK, temperature, k); }
  static topP(temperature, p) { return new Sampler(SamplerKind.TopP, temperature, 0, p); }
  static minP(temperature, minP) { return new Sampler(SamplerKind.MinP, temperature, 0, 1, minP); }
  static topKTopP(temperature, k, p) { return new Sampler(SamplerKind.TopKTopP, temperature, k, p); }
}

// Contexts that hold each KV page (forks share full pages); a page is freed with its last holder.
const kvPageHolders = new Map();

// Characters at the end of `text` that may still change: the beginning of a stop string, or a
// replacement character standing for a UTF-8 sequence the next token completes.
function unsettledTail(text, stops) {
  let held = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > held; --n) {
      if (text.endsWith(s.slice(0, n))) { held = n; break; }
    }
  }
  let replacement = 0;
  while (replacement < text.length && text[text.length - 1 - replacement] === "\uFFFD") ++replacement;
  return Math.max(held, replacement);
}

// `text` cut at the first stop string that ends at or after `from`, or null when there is none.
function cutAtStop(text, from, stops) {
  let cut = -1;
  for (const s of stops) {
    const at = text.indexOf(s, Math.max(0, from - s.length + 1));
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  return cut < 0 ? null : text.slice(0, cut);
}

// One generation in progress (as the C++ SDK's Context::generate): the generated tokens, their
// text as it reads after the context (decoding them alone would lose the spaces SentencePiece
// vocabularies drop at the start of a text), and what was streamed of it.
class Generation {
  constructor(context, stop, onText) {
    if (context.pendingTokenIds.length === 0) {
      throw new Error("Context.generate: nothing to continue: fill the context first");
    }
    this.context = context;
    this.maxTokens = stop.maxTokens ?? 256;
    this.stops = [...(stop.stopStrings ?? []),
                  ...((stop.modelStopTokens ?? true) ? context.model.stopTokens : [])]
        .filter((s) => s !== "");
    this.anchor = context.tokenIds.slice(-4);
    this.anchorText = context.tokenizer.detokenize(this.anchor);
    this.onText = onText;
    this.generated = [];
    this.text = "";
    this.emitted = 0;
    this.done = this.maxTokens <= 0;
  }
  // Appends the next token; true when generation is over.
  add(token) {
    this.generated.push(token);
    this.context.fillToken(token);
    const before = this.text.length;
    const full = this.context.tokenizer.detokenize([...this.anchor, ...this.generated]);
    this.text = full.startsWith(this.anchorText) ? full.slice(this.anchorText.length)
                                                 : this.context.tokenizer.detokenize(this.generated);
    const cut = cutAtStop(this.text, Math.min(before, this.text.length), this.stops);
    if (cut !== null) this.text = cut;
    this.done = cut !== null || this.generated.length >= this.maxTokens;
    const safe = this.done ? this.text.length : this.text.length - unsettledTail(this.text, this.stops);
    if (safe > this.emitted) {
      this.onText?.(this.text.slice(this.emitted, safe));
      this.emitted = safe;
    }
    return this.done;
  }
}

// Proposes the tokens likely to follow a sequence, for Context.generateWithDrafter: looks for the
// latest earlier occurrence of the sequence's last `n` tokens and proposes what followed it (prompt
// lookup decoding). Any object with draft(tokens, max) can be a drafter.
export class NgramDrafter {
  #n;
  constructor(n = 3) { this.#n = n; }
  // Up to `max` tokens guessed to follow `tokens` (the whole sequence so far).
  draft(tokens, max) {
    const n = this.#n;
    if (n === 0 || tokens.length <= n || max === 0) return [];
    const key = tokens.slice(tokens.length - n);
    for (let start = tokens.length - n - 1; start >= 0; --start) {
      if (key.every((t, i) => tokens[start + i] === t)) {
        const from = start + n;
        return tokens.slice(from, from + Math.min(max, tokens.length - from));
      }
    }
    return [];
  }
}

// One BRLE mask row: runs alternating attend / skip, starting with attend, over `masked` (one flag
// per earlier slot), then the token itself (always attended).
function brleRow(masked) {
  const runs = [];
  let skipping = false;
  let run = 0;
  for (const m of masked) {
    if (m !== skipping) {
      runs.push(run);
      run = 0;
      skipping = m;
    }
    ++run;
  }
  if (skipping) {
    runs.push(run);
    run = 0;
  }
  runs.push(run + 1);
  return runs;
}

function prefixKey(name) { return `pie.context.prefix.${name}`; }

// One token sequence on a model, with its KV pages, positions and attention mask, that grows by
// filling text and decoding tokens: the JavaScript counterpart of the C++ SDK's pie::Context. It
// forks cheaply (full pages shared), masks and drops pages, exports and imports its prefix (in the
// C++ Context's format: either can import the other's), runs beam search and speculative decoding.
// close() frees the pages no fork still holds.
export class Context {
  #model;
  #queue;
  #tokenizer;
  #pageSize;
  #pages = [];
  #kvSlots = 0;  // slots computed into the pages
  #tokenIds = [];  // every token, including those of dropped pages
  // Per slot held in the pages or pending: its token, position and whether it is masked.
  #slotTokens = [];
  #slotPositions = [];
  #slotMasked = [];
  #maskedCount = 0;
  #nextPosition = 0;
  #pending = [];
  #pendingMasks = [];  // per pending token: the mask of the slots before it, or null (causal)
  #unsynchronized = false;  // a pass without outputs may still be writing the pages
  #forwardPasses = 0;
  #tokensComputed = 0;
  #closed = false;

  constructor(model) {
    this.#model = model;
    this.#queue = model.createQueue();
    this.#tokenizer = model.tokenizer();
    this.#pageSize = model.kvPageSize;
  }

  get model() { return this.#model; }
  get tokenizer() { return this.#tokenizer; }
  get queue() { return this.#queue; }
  // Every token of the sequence, computed or pending (including tokens whose pages were dropped).
  get tokenIds() { return [...this.#tokenIds]; }
  get pendingTokenIds() { return [...this.#pending]; }
  get text() { return this.#tokenizer.detokenize(this.#tokenIds); }
  // Slots held in KV plus pending tokens: what masks index.
  get sequenceLength() { return this.#slotMasked.length; }
  get kvPageCount() { return this.#pages.length; }
  get pageSize() { return this.#pageSize; }
  get forwardPasses() { return this.#forwardPasses; }
  get tokensComputed() { return this.#tokensComputed; }

  // Appends tokens to compute (pending until the next pass).
  fill(text) { this.fillTokens(this.#tokenizer.tokenize(text)); }
  fillTokens(ids) {
    for (const id of ids) {
      this.#pendingMasks.push(this.#maskedCount === 0 ? null : [...this.#slotMasked]);
      this.#pending.push(id);
      this.#tokenIds.push(id);
      this.#slotTokens.push(id);
      this.#slotPositions.push(this.#nextPosition++);
      this.#slotMasked.push(false);
    }
  }
  fillToken(id) { this.fillTokens([id]); }
  // Chat turns, rendered with the model's template (or "role: content" lines when it has none);
  // fillUser adds the template's generation prompt.
  fillSystem(text) { this.#fillMessage("system", text, false); }
  fillUser(text) { this.#fillMessage("user", text, true); }
  fillAssistant(text) { this.#fillMessage("assistant", text, false); }
  #fillMessage(role, content, addGenerationPrompt) {
    const first = this.#tokenIds.length === 0;
    const message = { role, content: String(content) };
    if (this.#model.promptTemplate !== "") {
      this.fill(this.#model.renderChat([message], { addGenerationPrompt, beginOfSequence: first }));
      return;
    }
    if (first) this.fill(this.#model.renderChat([], { addGenerationPrompt: false }));
    this.fill(`${role}: ${message.content}\n`);
    if (addGenerationPrompt) this.fill("assistant:");
  }

  async #ensurePages(slots) {
    const needed = Math.ceil(slots / this.#pageSize);
    if (needed <= this.#pages.length) return;
    const ids = await this.#queue.allocateKvPages(needed - this.#pages.length);
    for (const id of ids) kvPageHolders.set(id, (kvPageHolders.get(id) ?? 0) + 1);
    this.#pages.push(...ids);
  }

  // Submits a pass computing the pending tokens; `outputs(pass, n)` adds what it returns (nothing
  // when hasOutputs is false). Resolves once the pass is submitted, to {result}: the promise of its
  // outputs (wrapped, so that awaiting the submission does not await the pass).
  async #submit(outputs, hasOutputs = true) {
    const n = this.#pending.length;
    if (n === 0) throw new Error("Context: nothing to compute: fill the context first");
    const total = this.#kvSlots + n;
    await this.#ensurePages(total);
    const pass = this.#queue.forwardPass();
    try {
      pass.inputTokens(this.#pending, this.#slotPositions.slice(this.#kvSlots, total))
          .kvCache(this.#pages, total - (this.#pages.length - 1) * this.#pageSize)
          .attentionMask(this.#pendingMasks.map((m, i) => (m ? brleRow(m) : [this.#kvSlots + i + 1])));
      outputs(pass, n);
      const result = pass.execute();  // submitted now; settles when the engine is done
      ++this.#forwardPasses;
      this.#tokensComputed += n;
      this.#kvSlots = total;
      this.#pending = [];
      this.#pendingMasks = [];
      // A pass with outputs settles when it is done, and after every earlier pass of the queue.
      this.#unsynchronized = !hasOutputs;
      return { result };
    } finally {
      pass.close();
    }
  }

  async #synchronize() {
    if (!this.#unsynchronized) return;
    await this.#queue.synchronize();
    this.#unsynchronized = false;
  }

  // Computes the pending tokens (no output).
  async flush() {
    if (this.#pending.length === 0) return;
    await (await this.#submit(() => {}, false)).result;
  }

  // Submits the pass that computes the pending tokens and samples the next one.
  #submitStep(sampler) {
    return this.#submit((pass, n) => {
      const last = [n - 1];
      const t = sampler.temperature;
      switch (sampler.kind) {
        case SamplerKind.TopK: pass.outputTokensTopK(last, t, sampler.k); break;
        case SamplerKind.TopP: pass.outputTokensTopP(last, t, sampler.p); break;
        case SamplerKind.MinP: pass.outputTokensMinP(last, t, sampler.minP); break;
        case SamplerKind.TopKTopP: pass.outputTokensTopKTopP(last, t, sampler.k, sampler.p); break;
        default: pass.outputTokens(last, t); break;
      }
    });
  }

  static #token(result) {
    if (!result || result.tokens.length === 0) throw new Error("Context: the engine returned no token");
    return result.tokens[0];
  }

  // Computes the pending tokens and returns the next token, which is not appended (fillToken it
  // to continue).
  async decodeStep(sampler = Sampler.greedy()) {
    return Context.#token(await (await this.#submitStep(sampler)).result);
  }

  // Decodes until `stop` ({maxTokens = 256, modelStopTokens = true, stopStrings = []}); the
  // generated tokens are appended (the last one pending). Calls onText with each new piece of text
  // as soon as it is certain (the pieces add up to the result). Returns the generated text,
  // without the stop string that ended it.
  async generate(sampler = Sampler.greedy(), stop = {}, onText = undefined) {
    const generation = new Generation(this, stop, onText);
    while (!generation.done) generation.add(await this.decodeStep(sampler));
    return generation.text;
  }

  // Generates in every context at once: each step of all of them is submitted before any is
  // awaited, so the engine batches them. The texts, in order.
  static async generateAll(contexts, sampler = Sampler.greedy(), stop = {}) {
    const generations = contexts.map((c) => new Generation(c, stop, undefined));
    for (;;) {
      const live = generations.filter((g) => !g.done);
      if (live.length === 0) break;
      const steps = [];
      for (const g of live) steps.push(await g.context.#submitStep(sampler));
      for (let i = 0; i < live.length; ++i) live[i].add(Context.#token(await steps[i].result));
    }
    return generations.map((g) => g.text);
  }

  // Greedy generation sped up by a drafter: each pass verifies the drafted tokens and keeps the
  // longest confirmed prefix; the KV of rejected tokens is dropped. Same text as greedy. Returns
  // {text, tokens, forwardPasses, drafted, accepted}.
  async generateWithDrafter(drafter, stop = {}, maxDraft = 4) {
    if (this.#pending.length === 0) {
      throw new Error("Context.generateWithDrafter: nothing to continue: fill the context first");
    }
    const maxTokens = stop.maxTokens ?? 256;
    const stops = [...(stop.stopStrings ?? []),
                   ...((stop.modelStopTokens ?? true) ? this.#model.stopTokens : [])]
        .filter((s) => s !== "");
    const anchor = this.#tokenIds.slice(-4);
    const anchorText = this.#tokenizer.detokenize(anchor);
    const out = { text: "", tokens: [], forwardPasses: 0, drafted: 0, accepted: 0 };
    while (out.tokens.length < maxTokens) {
      // Room for the drafted tokens and the one the model adds after them.
      const room = maxTokens - out.tokens.length - 1;
      const draft = drafter.draft([...this.#tokenIds], Math.min(maxDraft, room));
      const nPending = this.#pending.length;
      this.fillTokens(draft);
      const base = this.#kvSlots;
      const submitted = await this.#submit((pass) => {
        pass.outputTokens(draft.map((_, i) => nPending - 1 + i).concat([nPending - 1 + draft.length]), 0);
      });
      const result = await submitted.result;
      ++out.forwardPasses;
      if (!result || result.tokens.length !== draft.length + 1) {
        throw new Error("Context: the engine returned too few tokens");
      }
      let accepted = 0;
      while (accepted < draft.length && result.tokens[accepted] === draft[accepted]) ++accepted;
      out.drafted += draft.length;
      out.accepted += accepted;
      // Keep the KV of the pending tokens and of the confirmed draft; the rest was a wrong guess.
      this.#shrinkSlots(base + nPending + accepted);
      out.tokens.push(...draft.slice(0, accepted), result.tokens[accepted]);
      this.fillToken(result.tokens[accepted]);
      const before = out.text.length;
      const full = this.#tokenizer.detokenize([...anchor, ...out.tokens]);
      out.text = full.startsWith(anchorText) ? full.slice(anchorText.length)
                                             : this.#tokenizer.detokenize(out.tokens);
      const cut = cutAtStop(out.text, Math.min(before, out.text.length), stops);
      if (cut !== null) {
        out.text = cut;
        break;
      }
    }
    return out;
  }

  // Keeps the first `slots` computed slots, forgetting the later ones (and their pages).
  #shrinkSlots(slots) {
    const removed = this.#kvSlots - slots;
    for (let i = slots; i < this.#kvSlots; ++i) this.#maskedCount -= this.#slotMasked[i] ? 1 : 0;
    this.#slotTokens.length = slots;
    this.#slotPositions.length = slots;
    this.#slotMasked.length = slots;
    this.#tokenIds.length -= removed;
    this.#nextPosition -= removed;
    this.#kvSlots = slots;
    this.#release(this.#pages.splice(Math.ceil(slots / this.#pageSize)));
  }

  // Beam search of `maxTokens` tokens: [{tokens, text, score}], best score first (score: the sum
  // of the tokens' log-probabilities). Beams are forks, so they share this context's pages; this
  // context is unchanged.
  async beamSearch(beamSize, maxTokens) {
    if (!(beamSize >= 1)) throw new Error("Context.beamSearch: the beam size must be at least 1");
    if (this.#pending.length === 0) {
      throw new Error("Context.beamSearch: nothing to continue: fill the context first");
    }
    const anchor = this.#tokenIds.slice(-4);
    const anchorText = this.#tokenizer.detokenize(anchor);
    let beams = [{ context: await this.fork(), tokens: [], score: 0 }];
    try {
      for (let step = 0; step < maxTokens; ++step) {
        // Every beam's pass is submitted before any is awaited, so the engine batches them.
        const passes = [];
        for (const beam of beams) {
          passes.push(await beam.context.#submit((pass, n) => pass.outputDistributions([n - 1], 1, beamSize)));
        }
        const candidates = [];
        for (let b = 0; b < beams.length; ++b) {
          const result = await passes[b].result;
          if (!result || result.distributions.length === 0) {
            throw new Error("Context: the engine returned no distribution");
          }
          const d = result.distributions[0];
          for (let i = 0; i < d.ids.length; ++i) {
            // Float32 like the C++ Context's scores, so that ties break the same way.
            const score = Math.fround(beams[b].score + Math.fround(Math.log(Math.max(d.probs[i], 1e-30))));
            candidates.push({ score, beam: b, token: d.ids[i] });
          }
        }
        candidates.sort((x, y) => y.score - x.score);  // stable: ties keep beam, then rank order
        const next = [];
        for (const c of candidates.slice(0, beamSize)) {
          const parent = beams[c.beam];
          const child = await parent.context.fork();
          child.fillToken(c.token);
          next.push({ context: child, tokens: [...parent.tokens, c.token], score: c.score });
        }
        for (const beam of beams) beam.context.close();
        beams = next;
      }
    } finally {
      for (const beam of beams) beam.context.close();
    }
    return beams.map((beam) => {
      const full = this.#tokenizer.detokenize([...anchor, ...beam.tokens]);
      const text = full.startsWith(anchorText) ? full.slice(anchorText.length)
                                               : this.#tokenizer.detokenize(beam.tokens);
      return { tokens: beam.tokens, text, score: beam.score };
    });
  }

  // A new context with the same sequence (and its own queue). Full pages are shared; the tokens
  // of a partial last page are recomputed by the child.
  async fork() {
    await this.#synchronize();  // the child reads pages a pass may still be writing
    const child = new Context(this.#model);
    const full = Math.floor(this.#kvSlots / this.#pageSize);
    child.#pages = this.#pages.slice(0, full);
    for (const id of child.#pages) kvPageHolders.set(id, kvPageHolders.get(id) + 1);
    child.#kvSlots = full * this.#pageSize;
    child.#tokenIds = [...this.#tokenIds];
    child.#slotTokens = [...this.#slotTokens];
    child.#slotPositions = [...this.#slotPositions];
    child.#slotMasked = [...this.#slotMasked];
    child.#maskedCount = this.#maskedCount;
    child.#nextPosition = this.#nextPosition;
    child.#recomputeFrom(child.#kvSlots, this.#kvSlots);
    child.#pending.push(...this.#pending);
    child.#pendingMasks.push(...this.#pendingMasks.map((m) => (m ? [...m] : null)));
    return child;
  }

  // Slots [from, to) become pending again (their KV is not in this context's pages).
  #recomputeFrom(from, to) {
    for (let i = from; i < to; ++i) {
      this.#pending.push(this.#slotTokens[i]);
      const before = this.#slotMasked.slice(0, i);
      this.#pendingMasks.push(before.includes(true) ? before : null);
    }
  }

  // Masks (excludes from attention) or unmasks slots [start, end) of the sequence (indices as in
  // sequenceLength). Affects tokens filled afterwards.
  maskTokenRange(start, end, masked) {
    if (!(start <= end && end <= this.#slotMasked.length)) {
      throw new Error(`Context.maskTokenRange: [${start}, ${end}) is outside the sequence of ` +
                      `${this.#slotMasked.length}`);
    }
    for (let i = start; i < end; ++i) {
      if (this.#slotMasked[i] !== masked) {
        this.#slotMasked[i] = masked;
        this.#maskedCount += masked ? 1 : -1;
      }
    }
  }
  maskTokens(indices, masked) {
    for (const i of indices) this.maskTokenRange(i, i + 1, masked);
  }

  // Frees the pages all of whose slots are masked (not the last page); later tokens keep their
  // positions.
  dropMaskedKvPages() {
    if (this.#pages.length < 2) return;
    // From the back, so that the slot indices of the pages still to check do not move.
    const freed = [];
    for (let p = this.#pages.length - 2; p >= 0; --p) {
      const begin = p * this.#pageSize;
      const end = begin + this.#pageSize;
      if (end > this.#kvSlots || !this.#slotMasked.slice(begin, end).every((m) => m)) continue;
      freed.push(this.#pages[p]);
      this.#pages.splice(p, 1);
      this.#slotTokens.splice(begin, this.#pageSize);
      this.#slotPositions.splice(begin, this.#pageSize);
      this.#slotMasked.splice(begin, this.#pageSize);
      this.#maskedCount -= this.#pageSize;
      this.#kvSlots -= this.#pageSize;
      for (const mask of this.#pendingMasks) mask?.splice(begin, this.#pageSize);
    }
    this.#release(freed);
  }

  // Publishes the full pages under `name` (they outlive this instance) and stores the token state
  // in the key-value store, for fromImported (in the C++ Context's format). Computes pending tokens
  // first.
  async exportPrefix(name) {
    await this.flush();
    await this.#synchronize();
    const full = Math.floor(this.#kvSlots / this.#pageSize);
    if (full > 0) this.#queue.exportResources(Resource.KvPage, this.#pages.slice(0, full), name);
    const numbers = [1, this.#pageSize, full, this.#nextPosition, this.#slotTokens.length];
    for (let i = 0; i < this.#slotTokens.length; ++i) {
      numbers.push(this.#slotTokens[i], this.#slotPositions[i], this.#slotMasked[i] ? 1 : 0);
    }
    numbers.push(this.#tokenIds.length, ...this.#tokenIds);
    store.set(prefixKey(name), numbers.join(" "));
  }

  // Deletes an export made by exportPrefix.
  static releasePrefix(model, name) {
    const queue = model.createQueue();
    try {
      for (const [exportName] of queue.exported(Resource.KvPage)) {
        if (exportName === name) queue.releaseExported(Resource.KvPage, name);
      }
    } finally {
      queue.close();
    }
    store.delete(prefixKey(name));
  }

  // A context continuing a prefix exported with exportPrefix (by JavaScript or C++), or null when
  // no such export exists. Its full pages are shared with the export; the rest is recomputed.
  static fromImported(model, name) {
    const state = store.get(prefixKey(name));
    if (state === null) return null;
    const numbers = state.trim().split(/\s+/).map(Number);
    let at = 0;
    const next = () => {
      if (at >= numbers.length || !Number.isInteger(numbers[at])) {
        throw new Error("Context.fromImported: the stored state of a prefix is damaged");
      }
      return numbers[at++];
    };
    if (next() !== 1) throw new Error("Context.fromImported: unknown state version");
    const context = new Context(model);
    if (next() !== context.#pageSize) {
      context.close();
      throw new Error("Context.fromImported: the page size changed");
    }
    const full = next();
    context.#nextPosition = next();
    const slots = next();
    for (let i = 0; i < slots; ++i) {
      context.#slotTokens.push(next());
      context.#slotPositions.push(next());
      context.#slotMasked.push(next() !== 0);
      context.#maskedCount += context.#slotMasked[i] ? 1 : 0;
    }
    const tokens = next();
    for (let i = 0; i < tokens; ++i) context.#tokenIds.push(next());
    if (full * context.#pageSize > slots) {
      context.close();
      throw new Error("Context.fromImported: the state is damaged");
    }
    if (full > 0) {
      const exported = context.#queue.exported(Resource.KvPage)
          .some(([exportName, count]) => exportName === name && count === full);
      if (!exported) {
        context.close();
        return null;
      }
      context.#pages = context.#queue.importResources(Resource.KvPage, name);
      for (const id of context.#pages) kvPageHolders.set(id, (kvPageHolders.get(id) ?? 0) + 1);
    }
    context.#kvSlots = full * context.#pageSize;
    // Slots past the shared pages are recomputed (the imported pages are never written).
    context.#recomputeFrom(context.#kvSlots, slots);
    return context;
  }

  // Drops this context's hold on `ids`, freeing those no other context holds.
  #release(ids) {
    const free = [];
    for (const id of ids) {
      const holders = kvPageHolders.get(id) - 1;
      if (holders > 0) {
        kvPageHolders.set(id, holders);
      } else {
        kvPageHolders.delete(id);
        free.push(id);
      }
    }
    if (free.length > 0) this.#queue.deallocate(Resource.KvPage, free);
  }

  // Frees the pages no other context holds, and the queue (once; later calls do nothing).
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#release(this.#pages);
    this.#pages = [];
    this.#queue.close();
  }
}

// ---- HTTP server instances ---------------------------------------------------------------------------

export const http = Object.freeze({
  // {method, target, headers: [[name, value], ...], body: Uint8Array, text: string}
  request() { return native.httpRequest(); },
  setStatus(status) { native.httpSetStatus(status); },
  addHeader(name, value) { native.httpAddHeader(String(name), String(value)); },
  // Appends a string (UTF-8) or a Uint8Array to the response body.
  write(data) { native.httpWriteBody(data); },
});
