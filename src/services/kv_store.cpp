#include "services/kv_store.h"

#include <cstdint>
#include <fstream>
#include <iterator>

#include "common/error.h"

namespace pie::services {

namespace fs = std::filesystem;

// Log records: 'S' u32 key_len u32 value_len key value, or 'D' u32 key_len key (little-endian).
namespace {

constexpr char kSet = 'S';
constexpr char kDelete = 'D';

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

bool get_u32(std::string_view in, size_t& pos, uint32_t& v) {
  if (in.size() - pos < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(in[pos + i])} << (8 * i);
  pos += 4;
  return true;
}

std::string record(char op, std::string_view key, std::string_view value) {
  std::string out(1, op);
  put_u32(out, static_cast<uint32_t>(key.size()));
  if (op == kSet) put_u32(out, static_cast<uint32_t>(value.size()));
  out.append(key);
  if (op == kSet) out.append(value);
  return out;
}

}  // namespace

KeyValueStore::KeyValueStore(fs::path file) : path_(std::move(file)) {
  load();
  rewrite();
}

KeyValueStore::~KeyValueStore() {
  if (log_ != nullptr) std::fclose(log_);
}

void KeyValueStore::load() {
  std::error_code ec;
  if (!fs::exists(path_, ec)) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw Error("cannot read the key-value store " + path_.string());
  const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  size_t pos = 0;
  while (pos < data.size()) {
    const char op = data[pos];
    size_t p = pos + 1;
    uint32_t key_len = 0;
    uint32_t value_len = 0;
    if (op != kSet && op != kDelete) {
      throw Error("the key-value store " + path_.string() + " is corrupt at byte " +
                  std::to_string(pos));
    }
    if (!get_u32(data, p, key_len) || (op == kSet && !get_u32(data, p, value_len)) ||
        data.size() - p < uint64_t{key_len} + value_len) {
      break;  // torn last record
    }
    std::string key = data.substr(p, key_len);
    if (op == kSet) {
      entries_.insert_or_assign(std::move(key), data.substr(p + key_len, value_len));
    } else {
      entries_.erase(key);
    }
    pos = p + key_len + value_len;
  }
}

void KeyValueStore::rewrite() {
  const fs::path tmp = path_.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    for (const auto& [key, value] : entries_) {
      const std::string r = record(kSet, key, value);
      out.write(r.data(), static_cast<std::streamsize>(r.size()));
    }
    if (!out) throw Error("cannot write the key-value store " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path_, ec);
  if (ec) throw Error("cannot write the key-value store " + path_.string() + ": " + ec.message());
  log_ = std::fopen(path_.c_str(), "ab");
  if (log_ == nullptr) throw Error("cannot open the key-value store " + path_.string());
}

void KeyValueStore::append(char op, std::string_view key, std::string_view value) {
  if (log_ == nullptr) return;
  const std::string r = record(op, key, value);
  if (std::fwrite(r.data(), 1, r.size(), log_) != r.size() || std::fflush(log_) != 0) {
    throw Error("cannot write the key-value store " + path_.string());
  }
}

std::optional<std::string> KeyValueStore::get(std::string_view key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void KeyValueStore::set(std::string_view key, std::string_view value) {
  std::lock_guard lock(mutex_);
  append(kSet, key, value);
  if (auto it = entries_.find(key); it != entries_.end()) {
    it->second = value;
  } else {
    entries_.emplace(std::string(key), std::string(value));
  }
}

void KeyValueStore::erase(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  append(kDelete, key, {});
  entries_.erase(it);
}

bool KeyValueStore::exists(std::string_view key) const {
  std::lock_guard lock(mutex_);
  return entries_.find(key) != entries_.end();
}

std::vector<std::string> KeyValueStore::keys() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [key, value] : entries_) out.push_back(key);
  return out;
}

size_t KeyValueStore::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace pie::services
