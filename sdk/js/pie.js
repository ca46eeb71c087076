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

const Sampler = Object.freeze({ Multinomial: 1, TopP: 2, TopK: 3, MinP: 4, TopKTopP: 5 });

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
    native.fpOutputTokens(this.#h, indices, Sampler.Multinomial, temperature, 0, 1, 0);
    return this;
  }
  outputTokensTopK(indices, temperature, topK) {
    native.fpOutputTokens(this.#h, indices, Sampler.TopK, temperature, topK, 1, 0);
    return this;
  }
  outputTokensTopP(indices, temperature, topP) {
    native.fpOutputTokens(this.#h, indices, Sampler.TopP, temperature, 0, topP, 0);
    return this;
  }
  outputTokensMinP(indices, temperature, minP) {
    native.fpOutputTokens(this.#h, indices, Sampler.MinP, temperature, 0, 1, minP);
    return this;
  }
  outputTokensTopKTopP(indices, temperature, topK, topP) {
    native.fpOutputTokens(this.#h, indices, Sampler.TopKTopP, temperature, topK, topP, 0);
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

// ---- HTTP server instances ---------------------------------------------------------------------------

export const http = Object.freeze({
  // {method, target, headers: [[name, value], ...], body: Uint8Array, text: string}
  request() { return native.httpRequest(); },
  setStatus(status) { native.httpSetStatus(status); },
  addHeader(name, value) { native.httpAddHeader(String(name), String(value)); },
  // Appends a string (UTF-8) or a Uint8Array to the response body.
  write(data) { native.httpWriteBody(data); },
});
