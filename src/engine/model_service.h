// The per-model service (reference §4.7, §5): resource manager, scheduler and backend link for one
// model. The runtime calls it from instance threads; every method is thread-safe. Ids here are
// physical: the runtime keeps each instance's virtual -> physical maps.
//
// Callbacks run outside the service's lock, on the caller's thread (when the outcome is known at
// once) or on the backend link's thread; they may call the service again.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/ids.h"
#include "protocol/backend_messages.h"

namespace pie::tokenizer {
class Tokenizer;
}

namespace pie::engine {

class BackendLink;

struct ModelInfo {
  std::string name;  // the service name inferlets see
  std::string description;
  std::string prompt_template;
  std::string prompt_template_type;
  std::vector<std::string> traits;
  std::vector<std::string> stop_tokens;
  uint32_t kv_page_size = 0;
  uint32_t max_dist_size = 0;               // 0: the backend did not say (it clamps top-k itself)
  std::map<uint32_t, uint32_t> capacities;  // resource type -> physical pool size
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;  // null when the backend sent none
};

// What a model service does when an allocation cannot be served (reference §5.4).
enum class OutOfResourcesPolicy : uint8_t {
  // Wait (up to oom_wait) for ids to be freed, first come first served; then apply Kill's rule.
  Wait,
  // The reference's rule, at once: terminate newer instances (by launch order), newest first, as
  // long as that frees enough; otherwise fail the requester. Instances are only ever terminated
  // for ids they own: ids pinned by exports or imports are never reclaimed.
  Kill,
};

struct ModelServiceOptions {
  OutOfResourcesPolicy oom_policy = OutOfResourcesPolicy::Wait;
  std::chrono::milliseconds oom_wait{30000};
  uint32_t max_batch_tokens = 4096;  // token budget of one forward batch
  // Longest time a forward batch waits for the streams whose callers just got a result (see
  // scheduler.h); 0 sends each batch the moment the backend is free.
  std::chrono::microseconds max_gather{10000};
};

// Termination codes the service uses (the runtime's TerminationCode numbers).
inline constexpr uint32_t kTerminateException = 2;
inline constexpr uint32_t kTerminateOutOfResources = 4;

// Called by a model service, outside its lock, to end an instance: out of resources (code 4) or
// a failed command it submitted without a callback (code 2). The runtime is expected to call
// cleanup() once the instance has stopped.
using InstanceTerminator = std::function<void(InstanceKey, uint32_t code, std::string message)>;

class ModelService {
 public:
  // Performs the handshake (blocking) and sizes the pools from it. `name` is the name inferlets
  // and model_status use; empty: the model name the backend announces. Throws pie::Error when the
  // backend cannot be reached, or announces a tokenizer that does not build.
  ModelService(std::string name, std::unique_ptr<BackendLink> link, ModelServiceOptions options,
               InstanceTerminator terminator);
  // Waiting commands and allocations fail with "the model service is shutting down".
  ~ModelService();
  ModelService(const ModelService&) = delete;
  ModelService& operator=(const ModelService&) = delete;

  const ModelInfo& info() const;

  // Queues. set_priority throws pie::Error for a stream this service never created.
  StreamId create_stream();
  void set_priority(StreamId stream, Priority priority);

  // Resources. `done` gets the ids (smallest free first), or an Error: no such pool, more than the
  // pool holds, the instance was terminated, or out of resources under the policy (the requester is
  // then terminated with code 4 too).
  void allocate(InstanceKey instance, ResourceType type, uint32_t count,
                Callback<std::vector<uint32_t>> done);
  // Frees ids the instance owns; ids it does not own are ignored. Ids still named by commands the
  // instance submitted earlier are reused only once those commands have run.
  void deallocate(InstanceKey instance, ResourceType type, const std::vector<uint32_t>& ids);
  // Moves ownership of `ids` (all owned by `instance`) to the export `name`. Throws pie::Error.
  void export_resources(InstanceKey instance, ResourceType type, const std::vector<uint32_t>& ids,
                        const std::string& name);
  // The ids of export `name` (no ownership change). Throws pie::Error when it does not exist.
  std::vector<uint32_t> import_resources(InstanceKey instance, ResourceType type,
                                         const std::string& name);
  std::vector<std::pair<std::string, uint32_t>> list_exported(ResourceType type);
  // Removes the export and frees its ids. Throws pie::Error when it does not exist.
  void release_exported(ResourceType type, const std::string& name);

  // Commands, executed in submission order per stream. A command may name only ids the instance
  // owns, or that belong to an export it created or imported; it is refused otherwise. `done` may
  // be empty (fire and forget); errors of such commands terminate the instance (code 2).
  void forward_pass(InstanceKey instance, StreamId stream, protocol::ForwardPassRequest request,
                    Callback<protocol::ForwardPassResponse> done);
  // Resolves once every command submitted earlier on `stream` has completed.
  void synchronize(StreamId stream, Callback<Done> done);
  void query(StreamId stream, std::string query, Callback<std::string> done);
  void embed_image(InstanceKey instance, StreamId stream, protocol::EmbedImageRequest request);
  void initialize_adapter(InstanceKey instance, StreamId stream,
                          protocol::InitializeAdapterRequest request);
  void update_adapter(InstanceKey instance, StreamId stream,
                      protocol::UpdateAdapterRequest request);

  // Releases everything `instance` owns on this model and drops its waiting commands and
  // allocations; exports survive. Idempotent.
  void cleanup(InstanceKey instance);

  // model_status entries of this model (reference §3.5.5 plus scheduler figures), keys prefixed
  // with the model name.
  std::map<std::string, std::string> status();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pie::engine
