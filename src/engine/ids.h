// The names the model service's parts share.
#pragma once

#include <cstdint>
#include <functional>

#include "common/error.h"
#include "protocol/backend_messages.h"

namespace pie::engine {

// The runtime's id of an instance: never reused, and growing with launch order (the
// out-of-resources rule treats a smaller key as an older instance).
using InstanceKey = uint64_t;
// A queue (reference §2.4): the unit of ordering for commands.
using StreamId = uint64_t;
using protocol::ResourceType;

enum class Priority : uint8_t { Low = 0, Normal = 1, High = 2 };

template <class T>
using Callback = std::function<void(Result<T>)>;

}  // namespace pie::engine
