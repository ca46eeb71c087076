// The per-model service (reference §4.7, §5): resource manager, scheduler and backend link for one
// model. The runtime calls it from instance threads; every method is thread-safe. Ids here are
// physical: the runtime keeps each instance's virtual -> physical maps.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "protocol/backend_messages.h"

namespace pie::tokenizer {
class Tokenizer;
}

namespace pie::engine {

class BackendLink;

// The runtime's id of an instance: unique for the life of the process, never reused.
using InstanceKey = uint64_t;
// A queue (reference §2.4): the unit of ordering for commands.
using StreamId = uint64_t;
using protocol::ResourceType;

enum class Priority : uint8_t { Low = 0, Normal = 1, High = 2 };

template <class T>
using Callback = std::function<void(Result<T>)>;

struct ModelInfo {
  std::string name;
  std::string description;
  std::string prompt_template;
  std::string prompt_template_type;
  std::vector<std::string> traits;
  std::vector<std::string> stop_tokens;
  uint32_t kv_page_size = 0;
  uint32_t max_dist_size = 0;
  std::map<uint32_t, uint32_t> capacities;  // resource type -> physical pool size
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
};

// What a model service does when an allocation cannot be served (reference §5.4 and issue text).
enum class OutOfResourcesPolicy : uint8_t {
  // Wait (bounded) for pages to be freed; then terminate the newest consumers that hold pages of
  // their own (never for pages pinned by exports or imports).
  Wait,
  // The reference's rule: terminate newer instances at once, newest first.
  Kill,
};

struct ModelServiceOptions {
  OutOfResourcesPolicy oom_policy = OutOfResourcesPolicy::Wait;
  uint32_t oom_wait_ms = 30000;     // how long an allocation may wait under the Wait policy
  uint32_t max_batch_tokens = 4096;  // token budget of one forward batch
  uint32_t request_timeout_ms = 120000;
};

// Called by a model service to end an instance (out of resources, backend failure). The runtime
// terminates it with the given code (4 = OutOfResources, 3 = SystemError) and message.
using InstanceTerminator = std::function<void(InstanceKey, uint32_t code, std::string message)>;

class ModelService {
 public:
  ModelService(std::unique_ptr<BackendLink> link, ModelServiceOptions options,
               InstanceTerminator terminator);
  ~ModelService();
  ModelService(const ModelService&) = delete;
  ModelService& operator=(const ModelService&) = delete;

  const ModelInfo& info() const;

  // Queues.
  StreamId create_stream();
  void set_priority(StreamId stream, Priority priority);

  // Resources. `allocate` may wait under the Wait policy, hence the callback; on failure the
  // callback gets an Error and the requesting instance may have been terminated.
  void allocate(InstanceKey instance, ResourceType type, uint32_t count,
                Callback<std::vector<uint32_t>> done);
  // Frees ids the instance owns; ids it does not own are ignored.
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

  // Commands, executed in submission order per stream. `done` may be empty (fire and forget);
  // errors of such commands terminate the instance through the InstanceTerminator.
  void forward_pass(InstanceKey instance, StreamId stream, protocol::ForwardPassRequest request,
                    Callback<protocol::ForwardPassResponse> done);
  // Resolves once every command submitted earlier on `stream` has completed.
  void synchronize(StreamId stream, Callback<Done> done);
  void query(StreamId stream, std::string query, Callback<std::string> done);

  // Releases everything `instance` owns on this model; exports survive. Idempotent.
  void cleanup(InstanceKey instance);

  // model_status entries of this model (reference §3.5.5 plus scheduler figures), keys prefixed
  // with the model name.
  std::map<std::string, std::string> status();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pie::engine
