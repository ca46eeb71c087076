/* The pie inferlet ABI: the functions a WebAssembly inferlet imports from module "pie".
 *
 * This header is the single source of truth for the ABI (docs/abi.md explains it with examples).
 * It is plain C so any language that emits a core Wasm module can use it.
 *
 * Conventions
 *  - Pointers are offsets into the inferlet's own linear memory; buffers are (pointer, length).
 *    Strings are UTF-8, not NUL-terminated.
 *  - Handles are u32; 0 is never a valid handle. pie_drop releases any handle.
 *  - Long operations return a future handle; pie_wait is the only call that blocks.
 *  - Results of variable size are written into a caller buffer: such functions take (out, cap) and
 *    return the size in bytes of the whole result. When it fits, it is written to out; otherwise
 *    nothing is written and the result is kept until the next such call, where pie_result_fetch
 *    copies it (allocate a buffer of the returned size, then fetch).
 *  - Functions that can return "nothing" return PIE_NONE for it.
 *  - Every misuse (an unknown or foreign handle, a page id the instance does not hold, a buffer
 *    outside memory, a future read before it is ready) traps the instance: it ends with an
 *    Exception event whose message names the call and the problem.
 *
 * Encodings of structured results (all integers little-endian u32, floats IEEE f32):
 *  - string list:      count, then per string: length, bytes
 *  - id list:          the ids, back to back (size / 4 of them)
 *  - distributions:    count, then per distribution: k, k token ids, k probabilities
 *  - exports:          count, then per export: name length, name bytes, number of slots
 *  - vocabulary:       count, then per token: id, length, bytes
 *
 * The module must export `memory`, `_start` (a WASI command) and `pie_abi_version`, returning
 * PIE_ABI_VERSION; the engine rejects, at upload, a module built for another version.
 */
#ifndef PIE_ABI_H
#define PIE_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PIE_ABI_VERSION 1u
#define PIE_NONE 0xFFFFFFFFu

typedef uint32_t pie_handle;

/* Resource types (reference §2.2). */
#define PIE_RESOURCE_KV_PAGE 0u
#define PIE_RESOURCE_EMBED 1u
#define PIE_RESOURCE_ADAPTER 2u

/* Queue priorities. */
#define PIE_PRIORITY_LOW 0u
#define PIE_PRIORITY_NORMAL 1u
#define PIE_PRIORITY_HIGH 2u

#if defined(__wasm__)
#define PIE_IMPORT(name) __attribute__((import_module("pie"), import_name(#name)))
#else
#define PIE_IMPORT(name)
#endif

/* ---- Results, handles, waiting ------------------------------------------------------------ */

/* Copies the result kept by the last call whose result did not fit; returns its size. */
PIE_IMPORT(result_fetch) uint32_t pie_result_fetch(void* out, uint32_t cap);
/* Releases a handle of any kind (a model, queue, forward pass, future, blob, subscription, ...). */
PIE_IMPORT(drop) void pie_drop(pie_handle handle);
/* Blocks until one of the n handles (futures or subscriptions) is ready and returns its index,
 * or -1 after timeout_ns nanoseconds (timeout_ns < 0: no timeout; 0: poll). */
PIE_IMPORT(wait) int32_t pie_wait(const pie_handle* handles, uint32_t n, int64_t timeout_ns);

/* ---- Runtime ------------------------------------------------------------------------------- */

PIE_IMPORT(runtime_version) uint32_t pie_runtime_version(char* out, uint32_t cap);
PIE_IMPORT(instance_id) uint32_t pie_instance_id(char* out, uint32_t cap);
/* The launch arguments, as a string list. */
PIE_IMPORT(arguments) uint32_t pie_arguments(void* out, uint32_t cap);
/* The value the client receives with the Completed event (last call wins). */
PIE_IMPORT(set_return) void pie_set_return(const char* value, uint32_t len);
/* Ends the instance at once with an Exception event whose message is `message`. Never returns. */
PIE_IMPORT(fail) void pie_fail(const char* message, uint32_t len);
/* Runtime introspection ("ping", "get_instance_count", "list_running_instances", ...): a future
 * whose value is a string (pie_future_bytes). */
PIE_IMPORT(debug_query) pie_handle pie_debug_query(const char* query, uint32_t len);

/* ---- Models -------------------------------------------------------------------------------- */

/* A model handle, or 0 when no model has that name. */
PIE_IMPORT(model_get) pie_handle pie_model_get(const char* name, uint32_t len);
/* Names of all models in registration order, as a string list. */
PIE_IMPORT(models) uint32_t pie_models(void* out, uint32_t cap);
/* Names of the models having every trait of `traits` (a string list), as a string list. */
PIE_IMPORT(models_with_traits)
uint32_t pie_models_with_traits(const void* traits, uint32_t traits_len, void* out, uint32_t cap);
PIE_IMPORT(model_name) uint32_t pie_model_name(pie_handle model, char* out, uint32_t cap);
PIE_IMPORT(model_description)
uint32_t pie_model_description(pie_handle model, char* out, uint32_t cap);
PIE_IMPORT(model_prompt_template)
uint32_t pie_model_prompt_template(pie_handle model, char* out, uint32_t cap);
PIE_IMPORT(model_traits) uint32_t pie_model_traits(pie_handle model, void* out, uint32_t cap);
/* Renders a conversation with the model's chat template, on the engine. `messages` is a JSON array
 * of {"role": ..., "content": ...}. Flags: PIE_CHAT_ADD_GENERATION_PROMPT ends the text with the
 * template's assistant prompt; PIE_CHAT_BEGIN_OF_SEQUENCE passes the tokenizer's begin-of-sequence
 * text as bos_token (else it is empty: for messages appended to a sequence). Returns the size of
 * the prompt text, or PIE_NONE when the model has no chat template. An empty array renders, with
 * or without a template, as the text a raw sequence starts with: with PIE_CHAT_BEGIN_OF_SEQUENCE,
 * the begin-of-sequence token's text when the tokenizer adds one to texts (llama2.c, Llama), else
 * "". Malformed JSON or a template error (raise_exception) traps. */
#define PIE_CHAT_ADD_GENERATION_PROMPT 1u
#define PIE_CHAT_BEGIN_OF_SEQUENCE 2u
PIE_IMPORT(model_render_chat)
uint32_t pie_model_render_chat(pie_handle model, const char* messages, uint32_t len, uint32_t flags,
                               char* out, uint32_t cap);
PIE_IMPORT(model_stop_tokens)
uint32_t pie_model_stop_tokens(pie_handle model, void* out, uint32_t cap);
PIE_IMPORT(model_service_id) uint32_t pie_model_service_id(pie_handle model);
PIE_IMPORT(model_kv_page_size) uint32_t pie_model_kv_page_size(pie_handle model);
/* A new queue (the unit of ordering of commands) on this model. */
PIE_IMPORT(model_create_queue) pie_handle pie_model_create_queue(pie_handle model);
PIE_IMPORT(model_tokenizer) pie_handle pie_model_tokenizer(pie_handle model);

/* ---- Queues -------------------------------------------------------------------------------- */

PIE_IMPORT(queue_service_id) uint32_t pie_queue_service_id(pie_handle queue);
/* A future that is ready once every command submitted earlier on the queue has completed. */
PIE_IMPORT(queue_synchronize) pie_handle pie_queue_synchronize(pie_handle queue);
PIE_IMPORT(queue_set_priority) void pie_queue_set_priority(pie_handle queue, uint32_t priority);
/* Sends a query to the model's backend: a future whose value is the reply string. */
PIE_IMPORT(queue_debug_query)
pie_handle pie_queue_debug_query(pie_handle queue, const char* query, uint32_t len);

/* ---- Resources (KV pages, embedding slots, adapters) ---------------------------------------- */

/* Allocates `count` slots of `type`: a future whose value is the id list of the new slots. Ids
 * are private to this instance. */
PIE_IMPORT(allocate) pie_handle pie_allocate(pie_handle queue, uint32_t type, uint32_t count);
/* Frees slots; ids this instance does not hold are ignored. */
PIE_IMPORT(deallocate)
void pie_deallocate(pie_handle queue, uint32_t type, const uint32_t* ids, uint32_t n);
/* Publishes the slots (all owned by this instance) under `name`; they then outlive the instance.
 * The ids stay usable. */
PIE_IMPORT(export_resources)
void pie_export_resources(pie_handle queue, uint32_t type, const uint32_t* ids, uint32_t n,
                          const char* name, uint32_t name_len);
/* Maps the slots of export `name` into this instance: returns their ids as an id list. */
PIE_IMPORT(import_resources)
uint32_t pie_import_resources(pie_handle queue, uint32_t type, const char* name, uint32_t name_len,
                              uint32_t* out, uint32_t cap);
/* All exports of `type` on the model, encoded as "exports". */
PIE_IMPORT(exported_resources)
uint32_t pie_exported_resources(pie_handle queue, uint32_t type, void* out, uint32_t cap);
/* Deletes export `name` and frees its slots. */
PIE_IMPORT(release_exported)
void pie_release_exported(pie_handle queue, uint32_t type, const char* name, uint32_t name_len);

/* ---- Images and adapters (fire and forget: a failure ends the instance) -------------------- */

/* Runs the model's image encoder on an image file (`image`, image_len bytes) and stores one
 * embedding per slot of `embeds`, with positions from `position_offset`. */
PIE_IMPORT(embed_image)
void pie_embed_image(pie_handle queue, const uint32_t* embeds, uint32_t n, const void* image,
                     uint32_t image_len, uint32_t position_offset);
/* Creates (or resets) the adapter in slot `adapter` with evolution-strategy state. */
PIE_IMPORT(initialize_adapter)
void pie_initialize_adapter(pie_handle queue, uint32_t adapter, uint32_t rank, float alpha,
                            uint32_t population_size, float mu_fraction, float initial_sigma);
/* One evolution step from the population's scores and noise seeds (n of each). */
PIE_IMPORT(update_adapter)
void pie_update_adapter(pie_handle queue, uint32_t adapter, const float* scores,
                        const int64_t* seeds, uint32_t n, float max_sigma);

/* ---- Forward passes ------------------------------------------------------------------------ */

/* A new, empty forward-pass builder bound to `queue`. */
PIE_IMPORT(fp_create) pie_handle pie_fp_create(pie_handle queue);
/* Appends input tokens with their positions. */
PIE_IMPORT(fp_input_tokens)
void pie_fp_input_tokens(pie_handle pass, const uint32_t* tokens, const uint32_t* positions,
                         uint32_t n);
/* Appends input embedding slots with their positions. */
PIE_IMPORT(fp_input_embeddings)
void pie_fp_input_embeddings(pie_handle pass, const uint32_t* embeds, const uint32_t* positions,
                             uint32_t n);
/* Appends: store the hidden state of input token indices[i] into embedding slot embeds[i]. */
PIE_IMPORT(fp_output_embeddings)
void pie_fp_output_embeddings(pie_handle pass, const uint32_t* embeds, const uint32_t* indices,
                              uint32_t n);
/* Replaces the page table: the KV pages of the sequence in order, and how many tokens of the last
 * page are valid counting this pass's tokens. */
PIE_IMPORT(fp_kv_cache)
void pie_fp_kv_cache(pie_handle pass, const uint32_t* pages, uint32_t n, uint32_t last_page_len);
/* Replaces the attention mask: n_rows BRLE rows, row i being row_lens[i] run lengths taken in
 * order from `runs`. A pass with no mask is causal: input i sees every earlier slot of its pages
 * and itself. */
PIE_IMPORT(fp_attention_mask)
void pie_fp_attention_mask(pie_handle pass, const uint32_t* row_lens, uint32_t n_rows,
                           const uint32_t* runs);
/* Requests the top-k next-token distribution after input token indices[i] (top_k 0: 32). */
PIE_IMPORT(fp_output_distributions)
void pie_fp_output_distributions(pie_handle pass, const uint32_t* indices, uint32_t n,
                                 float temperature, uint32_t top_k);
/* Requests a token sampled from the full distribution (temperature 0: greedy). */
PIE_IMPORT(fp_output_tokens)
void pie_fp_output_tokens(pie_handle pass, const uint32_t* indices, uint32_t n, float temperature);
PIE_IMPORT(fp_output_tokens_top_k)
void pie_fp_output_tokens_top_k(pie_handle pass, const uint32_t* indices, uint32_t n,
                                float temperature, uint32_t top_k);
PIE_IMPORT(fp_output_tokens_top_p)
void pie_fp_output_tokens_top_p(pie_handle pass, const uint32_t* indices, uint32_t n,
                                float temperature, float top_p);
PIE_IMPORT(fp_output_tokens_min_p)
void pie_fp_output_tokens_min_p(pie_handle pass, const uint32_t* indices, uint32_t n,
                                float temperature, float min_p);
PIE_IMPORT(fp_output_tokens_top_k_top_p)
void pie_fp_output_tokens_top_k_top_p(pie_handle pass, const uint32_t* indices, uint32_t n,
                                      float temperature, uint32_t top_k, float top_p);
/* Uses adapter slot `adapter` for the passes of this builder. */
PIE_IMPORT(fp_set_adapter) void pie_fp_set_adapter(pie_handle pass, uint32_t adapter);
/* Seed of the adapter's noise perturbation (0: none); needs an adapter. */
PIE_IMPORT(fp_set_adapter_seed) void pie_fp_set_adapter_seed(pie_handle pass, int64_t seed);
/* Submits the pass. Returns a future when it requests distributions or sampled tokens, else 0
 * (use pie_queue_synchronize to wait). The builder is then empty again, except for its adapter,
 * adapter seed and last page length, which persist. */
PIE_IMPORT(fp_execute) pie_handle pie_fp_execute(pie_handle pass);

/* ---- Futures ------------------------------------------------------------------------------- */

/* The value of a ready future holding bytes: a string (receive, debug queries) or an id list
 * (allocate). Repeatable. */
PIE_IMPORT(future_bytes) uint32_t pie_future_bytes(pie_handle future, void* out, uint32_t cap);
/* The sampled tokens of a ready forward pass, as an id list, in the order requested. Takes them:
 * a second call returns an empty list. */
PIE_IMPORT(future_tokens)
uint32_t pie_future_tokens(pie_handle future, uint32_t* out, uint32_t cap);
/* The distributions of a ready forward pass, encoded as "distributions". Takes them. */
PIE_IMPORT(future_distributions)
uint32_t pie_future_distributions(pie_handle future, void* out, uint32_t cap);
/* The blob of a ready pie_receive_blob future, as a new blob handle; PIE_NONE after the first
 * call. */
PIE_IMPORT(future_blob) pie_handle pie_future_blob(pie_handle future);

/* ---- Tokenizer ----------------------------------------------------------------------------- */

/* Token ids of `text` (special tokens written in the text are recognised), as an id list. */
PIE_IMPORT(tokenize)
uint32_t pie_tokenize(pie_handle tokenizer, const char* text, uint32_t len, uint32_t* out,
                      uint32_t cap);
PIE_IMPORT(detokenize)
uint32_t pie_detokenize(pie_handle tokenizer, const uint32_t* ids, uint32_t n, char* out,
                        uint32_t cap);
/* The ordinary vocabulary (special tokens excluded), encoded as "vocabulary". */
PIE_IMPORT(vocabulary) uint32_t pie_vocabulary(pie_handle tokenizer, void* out, uint32_t cap);

/* ---- Messages with the client -------------------------------------------------------------- */

/* Sends a message event to the client that launched the instance. */
PIE_IMPORT(send) void pie_send(const char* message, uint32_t len);
/* The next message the client sends: a future whose value is the string. */
PIE_IMPORT(receive) pie_handle pie_receive(void);
/* Sends the blob's bytes to the client (the blob is left empty). */
PIE_IMPORT(send_blob) void pie_send_blob(pie_handle blob);
/* The next blob the client uploads: a future read with pie_future_blob. */
PIE_IMPORT(receive_blob) pie_handle pie_receive_blob(void);

/* ---- Blobs --------------------------------------------------------------------------------- */

PIE_IMPORT(blob_create) pie_handle pie_blob_create(const void* data, uint32_t len);
/* Appends bytes. */
PIE_IMPORT(blob_write) void pie_blob_write(pie_handle blob, const void* data, uint32_t len);
/* Copies bytes [offset, offset + n) of the blob (which must exist) to out. */
PIE_IMPORT(blob_read) void pie_blob_read(pie_handle blob, uint64_t offset, void* out, uint32_t n);
PIE_IMPORT(blob_size) uint64_t pie_blob_size(pie_handle blob);

/* ---- Broadcast between instances ----------------------------------------------------------- */

PIE_IMPORT(broadcast)
void pie_broadcast(const char* topic, uint32_t topic_len, const char* message, uint32_t len);
/* A subscription to `topic`: every message published after this call is delivered, in order (up to
 * 64 waiting; more are dropped). It is ready (pie_wait) while a message is waiting. */
PIE_IMPORT(subscribe) pie_handle pie_subscribe(const char* topic, uint32_t topic_len);
/* Takes the next waiting message; PIE_NONE when none is waiting. */
PIE_IMPORT(subscription_take)
uint32_t pie_subscription_take(pie_handle subscription, char* out, uint32_t cap);
/* Stops delivery (the handle must still be dropped). */
PIE_IMPORT(unsubscribe) void pie_unsubscribe(pie_handle subscription);

/* ---- Key-value store (shared by all instances) --------------------------------------------- */

/* The value, or PIE_NONE when the key is absent. */
PIE_IMPORT(store_get)
uint32_t pie_store_get(const char* key, uint32_t key_len, char* out, uint32_t cap);
PIE_IMPORT(store_set)
void pie_store_set(const char* key, uint32_t key_len, const char* value, uint32_t value_len);
PIE_IMPORT(store_delete) void pie_store_delete(const char* key, uint32_t key_len);
PIE_IMPORT(store_exists) uint32_t pie_store_exists(const char* key, uint32_t key_len);
/* All keys, as a string list. */
PIE_IMPORT(store_keys) uint32_t pie_store_keys(void* out, uint32_t cap);

/* ---- HTTP server instances (only in an instance serving a request) ------------------------- */

PIE_IMPORT(http_request_method) uint32_t pie_http_request_method(char* out, uint32_t cap);
/* The request target: path and query, e.g. "/v1/completions?x=1". */
PIE_IMPORT(http_request_path) uint32_t pie_http_request_path(char* out, uint32_t cap);
/* The request headers as a string list: name, value, name, value, ... */
PIE_IMPORT(http_request_headers) uint32_t pie_http_request_headers(void* out, uint32_t cap);
PIE_IMPORT(http_request_body) uint32_t pie_http_request_body(void* out, uint32_t cap);
/* The response status (default 200). */
PIE_IMPORT(http_response_status) void pie_http_response_status(uint32_t status);
PIE_IMPORT(http_response_header)
void pie_http_response_header(const char* name, uint32_t name_len, const char* value,
                              uint32_t value_len);
/* Appends to the response body. */
PIE_IMPORT(http_response_body) void pie_http_response_body(const void* data, uint32_t len);

#undef PIE_IMPORT

#ifdef __cplusplus
}
#endif

#endif /* PIE_ABI_H */
