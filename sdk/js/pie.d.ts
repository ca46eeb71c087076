// Typings of the "pie" module available to JavaScript inferlets (sdk/js/pie.js is its source).
//
//   import * as pie from "pie";
//   export async function main(args: string[]): Promise<unknown>
//
// main's result becomes the Completed event's message (strings as they are, other values as
// JSON); a thrown error becomes an Exception event. console.log/info/debug lines reach the client
// as message events; console.warn/error go to the engine log.

declare module "pie" {
  export const Resource: { readonly KvPage: 0; readonly Embed: 1; readonly Adapter: 2 };
  export type ResourceType = 0 | 1 | 2;
  export const Priority: { readonly Low: 0; readonly Normal: 1; readonly High: 2 };

  export function runtimeVersion(): string;
  export function instanceId(): string;
  export function getArguments(): string[];
  export function setReturn(value: string): void;
  /** "ping", "get_instance_count", "list_running_instances", "list_in_memory_programs", ... */
  export function debugQuery(query: string): Promise<string>;

  export function send(message: string): void;
  export function receive(): Promise<string>;
  export function sendBlob(bytes: Uint8Array | string): void;
  export function receiveBlob(): Promise<Uint8Array>;

  export function broadcast(topic: string, message: string): void;
  /** Every message published after subscribing, in order (up to 64 waiting). */
  export class Subscription {
    constructor(topic: string);
    take(): string | null;
    next(): Promise<string>;
    unsubscribe(): void;
    close(): void;
  }
  export function subscribe(topic: string): Subscription;

  export const store: {
    get(key: string): string | null;
    set(key: string, value: string): void;
    delete(key: string): void;
    exists(key: string): boolean;
    keys(): string[];
  };

  export class Model {
    readonly name: string;
    readonly description: string;
    readonly promptTemplate: string;
    readonly traits: string[];
    readonly stopTokens: string[];
    readonly serviceId: number;
    readonly kvPageSize: number;
    createQueue(): Queue;
    createContext(): Context;
    tokenizer(): Tokenizer;
    /** The conversation rendered with the model's chat template (on the engine); throws when the
     * model has none. */
    renderChat(messages: { role: string; content: string }[],
               options?: { addGenerationPrompt?: boolean; beginOfSequence?: boolean }): string;
  }
  export function getModel(name: string): Model | null;
  export function models(): string[];
  export function modelsWithTraits(traits: string[]): string[];

  export class Queue {
    readonly serviceId: number;
    synchronize(): Promise<void>;
    setPriority(priority: 0 | 1 | 2): void;
    debugQuery(query: string): Promise<string>;
    /** Ids private to this instance; free them with deallocate (or they go at exit). */
    allocate(type: ResourceType, count: number): Promise<number[]>;
    allocateKvPages(count: number): Promise<number[]>;
    deallocate(type: ResourceType, ids: number[]): void;
    exportResources(type: ResourceType, ids: number[], name: string): void;
    importResources(type: ResourceType, name: string): number[];
    exported(type: ResourceType): [string, number][];
    releaseExported(type: ResourceType, name: string): void;
    /** Image file bytes -> one embedding per slot, positions from positionOffset. */
    embedImage(embeds: number[], image: Uint8Array, positionOffset: number): void;
    initializeAdapter(adapter: number, rank: number, alpha: number, populationSize: number,
                      muFraction: number, initialSigma: number): void;
    updateAdapter(adapter: number, scores: number[], seeds: (number | bigint)[], maxSigma: number): void;
    forwardPass(): ForwardPass;
    close(): void;
  }

  export interface Distribution {
    ids: number[];
    probs: number[];
  }
  export interface ForwardResult {
    tokens: number[];
    distributions: Distribution[];
  }

  export class ForwardPass {
    inputTokens(tokens: number[] | Uint32Array, positions: number[] | Uint32Array): this;
    inputEmbeddings(embeds: number[], positions: number[]): this;
    outputEmbeddings(embeds: number[], indices: number[]): this;
    kvCache(pages: number[], lastPageLen: number): this;
    /** One BRLE row (run lengths) per input token. */
    attentionMask(rows: number[][]): this;
    outputDistributions(indices: number[], temperature: number, topK?: number): this;
    outputTokens(indices: number[], temperature: number): this;
    outputTokensTopK(indices: number[], temperature: number, topK: number): this;
    outputTokensTopP(indices: number[], temperature: number, topP: number): this;
    outputTokensMinP(indices: number[], temperature: number, minP: number): this;
    outputTokensTopKTopP(indices: number[], temperature: number, topK: number, topP: number): this;
    setAdapter(adapter: number): this;
    setAdapterSeed(seed: number | bigint): this;
    /** null (at once) when the pass requests no token output. */
    execute(): Promise<ForwardResult | null>;
    close(): void;
  }

  export class Tokenizer {
    tokenize(text: string): number[];
    detokenize(ids: number[]): string;
    vocabulary(): [number, Uint8Array][];
  }

  export const FlagType: {
    readonly Text: "text";
    readonly Count: "count";
    readonly Positive: "positive";
    readonly Number: "number";
  };
  /** Launch arguments of the form `--name value` (as the C++ pie::Flags). */
  export class Flags {
    /** Throws an Error naming the program for a flag without a value, an unknown flag or a value
     * its type refuses. */
    static parse(program: string, args: string[], known: Record<string, string>): Flags;
    has(name: string): boolean;
    /** The value given last, or the fallback. */
    text(name: string, fallback?: string): string;
    count(name: string, fallback: number): number;
    number(name: string, fallback: number): number;
  }

  /** How the next token is chosen (on the engine); temperature 0 is greedy. */
  export class Sampler {
    readonly kind: number;
    readonly temperature: number;
    readonly k: number;
    readonly p: number;
    readonly minP: number;
    static greedy(): Sampler;
    static multinomial(temperature: number): Sampler;
    static topK(temperature: number, k: number): Sampler;
    static topP(temperature: number, p: number): Sampler;
    static minP(temperature: number, minP: number): Sampler;
    static topKTopP(temperature: number, k: number, p: number): Sampler;
  }

  /** When generation ends: whichever comes first. */
  export interface StopCondition {
    /** Default 256. */
    maxTokens?: number;
    /** Stop at the model's stop strings (its end-of-turn tokens); default true. */
    modelStopTokens?: boolean;
    /** Further strings that end generation; the text returned stops before them. */
    stopStrings?: string[];
  }

  /** Prompt lookup: proposes what followed the latest earlier occurrence of the last n tokens. */
  export class NgramDrafter {
    constructor(n?: number);
    draft(tokens: number[], max: number): number[];
  }

  /** What Context.generateWithDrafter did. */
  export interface DraftedGeneration {
    text: string;
    tokens: number[];
    forwardPasses: number;
    /** Draft tokens proposed, and those the model confirmed. */
    drafted: number;
    accepted: number;
  }

  /** A finished beam of Context.beamSearch. */
  export interface Beam {
    tokens: number[];
    text: string;
    /** The sum of its tokens' log-probabilities. */
    score: number;
  }

  /** One token sequence on a model, with its KV pages, positions and attention mask (as the C++
   * pie::Context). Forks share full pages; close() frees the pages no fork still
   * holds. */
  export class Context {
    constructor(model: Model);
    /** A context continuing a prefix exported by exportPrefix (from JavaScript or C++), or null. */
    static fromImported(model: Model, name: string): Context | null;
    /** Deletes an export made by exportPrefix. */
    static releasePrefix(model: Model, name: string): void;
    readonly model: Model;
    readonly tokenizer: Tokenizer;
    readonly queue: Queue;
    /** Every token of the sequence, computed or pending. */
    readonly tokenIds: number[];
    readonly pendingTokenIds: number[];
    readonly text: string;
    /** Slots held in KV plus pending tokens: what masks index. */
    readonly sequenceLength: number;
    readonly kvPageCount: number;
    readonly pageSize: number;
    readonly forwardPasses: number;
    /** Input tokens computed by this context's passes. */
    readonly tokensComputed: number;
    fill(text: string): void;
    fillTokens(ids: number[]): void;
    fillToken(id: number): void;
    /** Chat turns with the model's template ("role: content" lines when it has none); fillUser
     * adds the generation prompt. */
    fillSystem(text: string): void;
    fillUser(text: string): void;
    fillAssistant(text: string): void;
    /** Computes the pending tokens (no output). */
    flush(): Promise<void>;
    /** Computes the pending tokens and returns the next token (not appended). */
    decodeStep(sampler?: Sampler): Promise<number>;
    /** Decodes until `stop`, appending the tokens; onText gets each piece of text once certain. */
    generate(sampler?: Sampler, stop?: StopCondition, onText?: (piece: string) => void): Promise<string>;
    /** Every context's generation, each step of all of them submitted before any is awaited. */
    static generateAll(contexts: Context[], sampler?: Sampler, stop?: StopCondition): Promise<string[]>;
    /** Greedy generation verifying a drafter's guesses, several tokens a pass; greedy's text. */
    generateWithDrafter(drafter: { draft(tokens: number[], max: number): number[] },
                        stop?: StopCondition, maxDraft?: number): Promise<DraftedGeneration>;
    /** Beam search of maxTokens tokens, best score first; this context is unchanged. */
    beamSearch(beamSize: number, maxTokens: number): Promise<Beam[]>;
    /** A context with the same sequence and its own queue, sharing the full pages. */
    fork(): Promise<Context>;
    /** Masks (or unmasks) slots [start, end) for tokens filled afterwards. */
    maskTokenRange(start: number, end: number, masked: boolean): void;
    maskTokens(indices: number[], masked: boolean): void;
    /** Frees the pages all of whose slots are masked (not the last). */
    dropMaskedKvPages(): void;
    /** Publishes the full pages under `name` and stores the token state (the C++ format). */
    exportPrefix(name: string): Promise<void>;
    close(): void;
  }

  export interface HttpRequest {
    method: string;
    target: string;
    headers: [string, string][];
    body: Uint8Array;
    text: string;
  }
  export const http: {
    request(): HttpRequest;
    setStatus(status: number): void;
    addHeader(name: string, value: string): void;
    write(data: string | Uint8Array): void;
  };
}
