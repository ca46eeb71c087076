#include "engine/resource_manager.h"

#include <algorithm>

#include "common/error.h"

namespace pie::engine {

std::string resource_noun(ResourceType type) {
  switch (type) {
    case ResourceType::KvPage:
      return "KV page";
    case ResourceType::Embed:
      return "embedding slot";
    case ResourceType::Adapter:
      return "adapter slot";
  }
  return "resource of type " + std::to_string(static_cast<uint32_t>(type));
}

bool ResourceManager::Holdings::empty() const {
  for (const auto& [type, ids] : owned) {
    if (!ids.empty()) return false;
  }
  return exports.empty();
}

ResourceManager::ResourceManager(const std::map<uint32_t, uint32_t>& capacities) {
  for (const auto& [type, capacity] : capacities) {
    Pool& p = pools_[static_cast<ResourceType>(type)];
    p.slots.resize(capacity);
    for (uint32_t id = 0; id < capacity; ++id) p.free.insert(p.free.end(), id);
  }
}

bool ResourceManager::has_pool(ResourceType type) const {
  return pools_.count(type) != 0;
}

ResourceManager::Pool& ResourceManager::pool(ResourceType type) {
  auto it = pools_.find(type);
  if (it == pools_.end()) {
    throw Error("the model has no pool of " + resource_noun(type) + "s (resource type " +
                std::to_string(static_cast<uint32_t>(type)) + ")");
  }
  return it->second;
}

const ResourceManager::Pool& ResourceManager::pool(ResourceType type) const {
  return const_cast<ResourceManager*>(this)->pool(type);
}

uint32_t ResourceManager::capacity(ResourceType type) const {
  return has_pool(type) ? static_cast<uint32_t>(pool(type).slots.size()) : 0;
}

uint32_t ResourceManager::available(ResourceType type) const {
  return has_pool(type) ? static_cast<uint32_t>(pool(type).free.size()) : 0;
}

uint32_t ResourceManager::pending(ResourceType type) const {
  return has_pool(type) ? pool(type).pending : 0;
}

uint32_t ResourceManager::exported_ids(ResourceType type) const {
  return has_pool(type) ? pool(type).exported : 0;
}

uint32_t ResourceManager::export_count(ResourceType type) const {
  return has_pool(type) ? static_cast<uint32_t>(pool(type).by_name.size()) : 0;
}

uint32_t ResourceManager::owned_count(InstanceKey instance, ResourceType type) const {
  auto it = holdings_.find(instance);
  if (it == holdings_.end()) return 0;
  auto owned = it->second.owned.find(type);
  return owned == it->second.owned.end() ? 0 : static_cast<uint32_t>(owned->second.size());
}

size_t ResourceManager::active_instances() const {
  return holdings_.size();
}

std::vector<uint32_t> ResourceManager::allocate(InstanceKey instance, ResourceType type,
                                                uint32_t count) {
  Pool& p = pool(type);
  if (p.free.size() < count) {
    throw Error("internal: allocating " + std::to_string(count) + " ids with " +
                std::to_string(p.free.size()) + " available");
  }
  std::vector<uint32_t> ids;
  ids.reserve(count);
  std::set<uint32_t>& owned = holdings_[instance].owned[type];
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t id = *p.free.begin();
    p.free.erase(p.free.begin());
    p.slots[id] = Slot{Slot::State::Owned, instance};
    owned.insert(id);
    ids.push_back(id);
  }
  return ids;
}

std::vector<uint32_t> ResourceManager::disown(InstanceKey instance, ResourceType type,
                                              std::span<const uint32_t> ids) {
  std::vector<uint32_t> released;
  auto holding = holdings_.find(instance);
  if (holding == holdings_.end() || !has_pool(type)) return released;
  auto owned = holding->second.owned.find(type);
  if (owned == holding->second.owned.end()) return released;
  Pool& p = pool(type);
  for (uint32_t id : ids) {
    if (owned->second.erase(id) == 0) continue;
    p.slots[id] = Slot{Slot::State::Pending, 0};
    ++p.pending;
    released.push_back(id);
  }
  forget_if_empty(instance);
  return released;
}

std::map<ResourceType, std::vector<uint32_t>> ResourceManager::disown_all(InstanceKey instance) {
  std::map<ResourceType, std::vector<uint32_t>> released;
  auto holding = holdings_.find(instance);
  if (holding == holdings_.end()) return released;
  for (auto& [type, owned] : holding->second.owned) {
    Pool& p = pool(type);
    std::vector<uint32_t>& out = released[type];
    for (uint32_t id : owned) {
      p.slots[id] = Slot{Slot::State::Pending, 0};
      ++p.pending;
      out.push_back(id);
    }
  }
  for (uint64_t e : holding->second.exports) {
    auto it = exports_.find(e);
    if (it != exports_.end()) it->second.users.erase(instance);
  }
  holdings_.erase(holding);
  return released;
}

void ResourceManager::free_after(ResourceType type, std::vector<uint32_t> ids, Fence fence) {
  if (ids.empty()) return;
  pending_.push_back(PendingGroup{type, std::move(ids), fence});
}

void ResourceManager::give_back(ResourceType type, const std::vector<uint32_t>& ids) {
  Pool& p = pool(type);
  for (uint32_t id : ids) {
    p.slots[id] = Slot{};
    p.free.insert(id);
    --p.pending;
  }
}

void ResourceManager::forget_if_empty(InstanceKey instance) {
  auto it = holdings_.find(instance);
  if (it != holdings_.end() && it->second.empty()) holdings_.erase(it);
}

void ResourceManager::export_ids(InstanceKey instance, ResourceType type,
                                 std::span<const uint32_t> ids, const std::string& name,
                                 Fence written) {
  Pool& p = pool(type);
  if (p.by_name.count(name) != 0) {
    throw Error("Exported resource with name '" + name + "' already exists");
  }
  std::set<uint32_t> seen;
  for (uint32_t id : ids) {
    if (id >= p.slots.size() || p.slots[id].state != Slot::State::Owned ||
        p.slots[id].holder != instance) {
      throw Error("cannot export " + resource_noun(type) + " " + std::to_string(id) +
                  ": it is not allocated to this instance (imported and exported ones cannot be "
                  "exported again)");
    }
    if (!seen.insert(id).second) {
      throw Error("cannot export " + resource_noun(type) + " " + std::to_string(id) +
                  " twice in one export");
    }
  }
  const uint64_t e = next_export_++;
  Holdings& holding = holdings_[instance];
  std::set<uint32_t>& owned = holding.owned[type];
  for (uint32_t id : ids) {
    owned.erase(id);
    p.slots[id] = Slot{Slot::State::Exported, e};
  }
  p.exported += static_cast<uint32_t>(ids.size());
  p.by_name.emplace(name, e);
  exports_.emplace(
      e, Export{type, name, std::vector<uint32_t>(ids.begin(), ids.end()), {instance}, written});
  holding.exports.insert(e);
}

std::vector<uint32_t> ResourceManager::import_ids(InstanceKey instance, ResourceType type,
                                                  const std::string& name) {
  Pool& p = pool(type);
  auto it = p.by_name.find(name);
  if (it == p.by_name.end()) throw Error("Exported resource with name '" + name + "' not found");
  Export& e = exports_.at(it->second);
  e.users.insert(instance);
  holdings_[instance].exports.insert(it->second);
  return e.ids;
}

std::vector<std::pair<std::string, uint32_t>> ResourceManager::exports(ResourceType type) const {
  std::vector<std::pair<std::string, uint32_t>> out;
  if (!has_pool(type)) return out;
  for (const auto& [name, e] : pool(type).by_name) {
    out.emplace_back(name, static_cast<uint32_t>(exports_.at(e).ids.size()));
  }
  return out;
}

std::vector<uint32_t> ResourceManager::remove_export(ResourceType type, const std::string& name) {
  Pool& p = pool(type);
  auto it = p.by_name.find(name);
  if (it == p.by_name.end()) throw Error("Exported resource with name '" + name + "' not found");
  const uint64_t id = it->second;
  Export e = std::move(exports_.at(id));
  exports_.erase(id);
  p.by_name.erase(it);
  for (InstanceKey user : e.users) {
    auto holding = holdings_.find(user);
    if (holding == holdings_.end()) continue;
    holding->second.exports.erase(id);
    forget_if_empty(user);
  }
  for (uint32_t slot : e.ids) p.slots[slot] = Slot{Slot::State::Pending, 0};
  p.exported -= static_cast<uint32_t>(e.ids.size());
  p.pending += static_cast<uint32_t>(e.ids.size());
  return e.ids;
}

bool ResourceManager::can_use(InstanceKey instance, ResourceType type, uint32_t id) const {
  auto it = pools_.find(type);
  if (it == pools_.end() || id >= it->second.slots.size()) return false;
  const Slot& slot = it->second.slots[id];
  switch (slot.state) {
    case Slot::State::Owned:
      return slot.holder == instance;
    case Slot::State::Exported:
      return exports_.at(slot.holder).users.count(instance) != 0;
    default:
      return false;
  }
}

void ResourceManager::fences_for(ResourceType type, std::span<const uint32_t> ids,
                                 std::vector<Fence>& out) const {
  auto it = pools_.find(type);
  if (it == pools_.end()) return;
  for (uint32_t id : ids) {
    if (id >= it->second.slots.size()) continue;
    const Slot& slot = it->second.slots[id];
    if (slot.state != Slot::State::Exported) continue;
    const Fence f = exports_.at(slot.holder).written;
    const bool known = std::any_of(out.begin(), out.end(), [&](const Fence& g) {
      return g.instance == f.instance && g.seq == f.seq;
    });
    if (!known) out.push_back(f);
  }
}

std::vector<std::pair<InstanceKey, uint32_t>> ResourceManager::owners_newer_than(
    ResourceType type, InstanceKey requester) const {
  std::vector<std::pair<InstanceKey, uint32_t>> out;
  for (const auto& [instance, holding] : holdings_) {
    if (instance <= requester) continue;
    auto owned = holding.owned.find(type);
    if (owned != holding.owned.end() && !owned->second.empty()) {
      out.emplace_back(instance, static_cast<uint32_t>(owned->second.size()));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

}  // namespace pie::engine
