// The physical resource pools of one model (reference §5): KV pages, embedding slots and adapter
// slots, who owns each id, named exports and their importers. Pure bookkeeping: not thread-safe,
// the model service calls it under its lock.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/ids.h"

namespace pie::engine {

// "KV page", "embedding slot", "adapter slot": how messages name one id of a type.
std::string resource_noun(ResourceType type);

// Ids freed while commands submitted earlier may still use them come back to the pool only once
// those commands have completed. A fence names them: the commands of `instance` (every instance
// when 0) numbered below `seq`.
struct Fence {
  InstanceKey instance = 0;
  uint64_t seq = 0;
};

class ResourceManager {
 public:
  // capacities: resource type -> pool size (the backend's handshake); ids are [0, capacity).
  explicit ResourceManager(const std::map<uint32_t, uint32_t>& capacities);

  bool has_pool(ResourceType type) const;
  uint32_t capacity(ResourceType type) const;
  // Ids that can be handed out now.
  uint32_t available(ResourceType type) const;
  // Ids freed behind a fence that has not passed yet.
  uint32_t pending(ResourceType type) const;
  // Ids held by exports, and the number of exports.
  uint32_t exported_ids(ResourceType type) const;
  uint32_t export_count(ResourceType type) const;
  uint32_t owned_count(InstanceKey instance, ResourceType type) const;
  // Instances owning or importing anything.
  size_t active_instances() const;

  // The `count` smallest available ids, now owned by `instance`. Requires available() >= count.
  std::vector<uint32_t> allocate(InstanceKey instance, ResourceType type, uint32_t count);
  // The ids among `ids` that `instance` owns stop being owned and are returned (for the caller to
  // free behind a fence); others are ignored.
  std::vector<uint32_t> disown(InstanceKey instance, ResourceType type,
                               std::span<const uint32_t> ids);
  // Everything `instance` owns, by type; it also stops using the exports it created or imported.
  std::map<ResourceType, std::vector<uint32_t>> disown_all(InstanceKey instance);
  // Returns disowned ids to the pool once `fence` has passed (see release_passed).
  void free_after(ResourceType type, std::vector<uint32_t> ids, Fence fence);
  // Frees every pending group whose fence `passed(fence)` says has passed; true when any was.
  template <class Passed>
  bool release_passed(Passed&& passed);

  // Moves `ids` (all owned by `instance`) to the export `name`; `instance` may still use them.
  // `written` covers the commands that fill them: commands naming them wait for it (see
  // fences_for). Throws pie::Error naming the problem.
  void export_ids(InstanceKey instance, ResourceType type, std::span<const uint32_t> ids,
                  const std::string& name, Fence written);
  // The ids of export `name`, which `instance` may use from now on. Throws pie::Error.
  std::vector<uint32_t> import_ids(InstanceKey instance, ResourceType type,
                                   const std::string& name);
  // Every export of the type: name and number of ids, by name.
  std::vector<std::pair<std::string, uint32_t>> exports(ResourceType type) const;
  // Deletes export `name` and returns its ids (for the caller to free behind a fence). Throws
  // pie::Error when there is no such export.
  std::vector<uint32_t> remove_export(ResourceType type, const std::string& name);

  // Whether `instance` may name `id` in a command: it owns it, or created or imported the export
  // holding it.
  bool can_use(InstanceKey instance, ResourceType type, uint32_t id) const;
  // The fences of the exports holding any of `ids`: a command naming them must not run before
  // the commands that were filling them when they were exported.
  void fences_for(ResourceType type, std::span<const uint32_t> ids, std::vector<Fence>& out) const;

  // The instances newer than `requester` (larger key) that own ids of `type`, newest first, with
  // how many they own: the out-of-resources victims, in the order they are chosen.
  std::vector<std::pair<InstanceKey, uint32_t>> owners_newer_than(ResourceType type,
                                                                  InstanceKey requester) const;

 private:
  struct Slot {
    enum class State : uint8_t { Free, Owned, Exported, Pending };
    State state = State::Free;
    uint64_t holder = 0;  // owning instance, or export id
  };
  struct Export {
    ResourceType type;
    std::string name;
    std::vector<uint32_t> ids;
    std::unordered_set<InstanceKey> users;  // its creator and importers
    Fence written;
  };
  struct Pool {
    std::vector<Slot> slots;
    std::set<uint32_t> free;                  // smallest first
    std::map<std::string, uint64_t> by_name;  // export name -> export id
    uint32_t pending = 0;
    uint32_t exported = 0;
  };
  struct Holdings {
    std::map<ResourceType, std::set<uint32_t>> owned;
    std::set<uint64_t> exports;  // exports it created or imported
    bool empty() const;
  };
  struct PendingGroup {
    ResourceType type;
    std::vector<uint32_t> ids;
    Fence fence;
  };

  Pool& pool(ResourceType type);
  const Pool& pool(ResourceType type) const;
  void give_back(ResourceType type, const std::vector<uint32_t>& ids);
  void forget_if_empty(InstanceKey instance);

  std::map<ResourceType, Pool> pools_;
  std::unordered_map<uint64_t, Export> exports_;
  uint64_t next_export_ = 1;
  std::unordered_map<InstanceKey, Holdings> holdings_;
  std::vector<PendingGroup> pending_;
};

template <class Passed>
bool ResourceManager::release_passed(Passed&& passed) {
  bool any = false;
  for (size_t i = 0; i < pending_.size();) {
    if (passed(pending_[i].fence)) {
      give_back(pending_[i].type, pending_[i].ids);
      pending_[i] = std::move(pending_.back());
      pending_.pop_back();
      any = true;
    } else {
      ++i;
    }
  }
  return any;
}

}  // namespace pie::engine
