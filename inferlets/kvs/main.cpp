// The key-value store shared by all instances, driven by the launch arguments: a list of
// operations run in order, each query answered with one message to the client.
//
//   set <key> <value>   store a value (overwrites)
//   get <key>           "<key> = <value>", or "<key> is missing"
//   exists <key>        "<key> exists" or "<key> is missing"
//   delete <key>        remove the key (missing keys are fine)
//   keys <prefix>       the keys starting with <prefix>, sorted, comma-separated
#include <algorithm>
#include <string>
#include <vector>

#include "pie/pie.h"

namespace {

constexpr const char* kUsage =
    "usage: kvs (set <key> <value> | get <key> | exists <key> | delete <key> | keys <prefix>)...";

std::string sorted_keys_with_prefix(const std::string& prefix) {
  std::vector<std::string> keys;
  for (auto& key : pie::store::keys()) {
    if (key.starts_with(prefix)) keys.push_back(std::move(key));
  }
  std::sort(keys.begin(), keys.end());
  std::string joined;
  for (const auto& key : keys) joined += (joined.empty() ? "" : ",") + key;
  return joined;
}

}  // namespace

PIE_MAIN(args) {
  if (args.empty()) return pie::Error{kUsage};
  size_t operations = 0;
  for (size_t i = 0; i < args.size(); ++operations) {
    const std::string& op = args[i];
    const size_t operands = op == "set" ? 2 : 1;
    if (op != "set" && op != "get" && op != "exists" && op != "delete" && op != "keys") {
      return pie::Error{"unknown operation '" + op + "'; " + kUsage};
    }
    if (i + operands >= args.size()) {
      return pie::Error{"'" + op + "' needs " + std::to_string(operands) + " operand(s); " +
                        kUsage};
    }
    const std::string& key = args[i + 1];
    if (op == "set") {
      pie::store::set(key, args[i + 2]);
    } else if (op == "get") {
      const auto value = pie::store::get(key);
      pie::send(value ? key + " = " + *value : key + " is missing");
    } else if (op == "exists") {
      pie::send(key + (pie::store::exists(key) ? " exists" : " is missing"));
    } else if (op == "delete") {
      pie::store::remove(key);
    } else {
      pie::send(sorted_keys_with_prefix(key));
    }
    i += 1 + operands;
  }
  return std::to_string(operations) + " operations";
}
