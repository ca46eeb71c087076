#include "pie/core.h"

#include <cstring>

// The ABI version this program was built for; the engine checks it at upload.
extern "C" __attribute__((export_name("pie_abi_version"))) uint32_t pie_abi_version() {
  return PIE_ABI_VERSION;
}

namespace pie {

void fail(std::string_view message) {
  pie_fail(message.data(), static_cast<uint32_t>(message.size()));
  __builtin_unreachable();
}

namespace detail {

uint32_t Reader::u32() {
  if (data_.size() - pos_ < 4) fail("malformed result from the engine");
  uint32_t v;
  std::memcpy(&v, data_.data() + pos_, 4);
  pos_ += 4;
  return v;
}

float Reader::f32() {
  const uint32_t bits = u32();
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

std::string Reader::bytes() {
  const uint32_t n = u32();
  if (data_.size() - pos_ < n) fail("malformed result from the engine");
  std::string s(data_.substr(pos_, n));
  pos_ += n;
  return s;
}

std::vector<std::string> decode_strings(std::string_view data) {
  Reader r(data);
  const uint32_t n = r.u32();
  std::vector<std::string> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(r.bytes());
  return out;
}

std::string encode_strings(std::span<const std::string> items) {
  std::string out;
  auto put = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put(static_cast<uint32_t>(items.size()));
  for (const auto& s : items) {
    put(static_cast<uint32_t>(s.size()));
    out.append(s);
  }
  return out;
}

}  // namespace detail

std::optional<size_t> wait_any(std::span<const pie_handle> handles,
                               std::optional<std::chrono::nanoseconds> timeout) {
  const int32_t i = pie_wait(handles.data(), static_cast<uint32_t>(handles.size()),
                             timeout ? timeout->count() : -1);
  if (i < 0) return std::nullopt;
  return static_cast<size_t>(i);
}

namespace {

std::string read_future_string(pie_handle h) {
  return detail::read_bytes([h](char* out, uint32_t cap) { return pie_future_bytes(h, out, cap); });
}

}  // namespace

// ---- The instance -------------------------------------------------------------------------------

std::string runtime_version() {
  return detail::read_bytes(pie_runtime_version);
}

std::string instance_id() {
  return detail::read_bytes(pie_instance_id);
}

std::vector<std::string> arguments() {
  return detail::decode_strings(
      detail::read_bytes([](char* out, uint32_t cap) { return pie_arguments(out, cap); }));
}

void set_return(std::string_view value) {
  pie_set_return(value.data(), static_cast<uint32_t>(value.size()));
}

Future<std::string> debug_query(std::string_view query) {
  return {pie_debug_query(query.data(), static_cast<uint32_t>(query.size())), read_future_string};
}

// ---- Messages -----------------------------------------------------------------------------------

void send(std::string_view message) {
  pie_send(message.data(), static_cast<uint32_t>(message.size()));
}

Future<std::string> receive() {
  return {pie_receive(), read_future_string};
}

Blob::Blob(std::string_view data)
    : handle_(pie_blob_create(data.data(), static_cast<uint32_t>(data.size()))) {}

void Blob::write(std::string_view data) {
  pie_blob_write(handle_.get(), data.data(), static_cast<uint32_t>(data.size()));
}

std::string Blob::read(uint64_t offset, uint32_t n) const {
  std::string out(n, '\0');
  pie_blob_read(handle_.get(), offset, out.data(), n);
  return out;
}

uint64_t Blob::size() const {
  return pie_blob_size(handle_.get());
}

void send_blob(Blob& blob) {
  pie_send_blob(blob.handle());
}

Future<Blob> receive_blob() {
  return {pie_receive_blob(), [](pie_handle h) { return Blob(Handle(pie_future_blob(h))); }};
}

// ---- Broadcast ----------------------------------------------------------------------------------

void broadcast(std::string_view topic, std::string_view message) {
  pie_broadcast(topic.data(), static_cast<uint32_t>(topic.size()), message.data(),
                static_cast<uint32_t>(message.size()));
}

Subscription::Subscription(std::string_view topic)
    : handle_(pie_subscribe(topic.data(), static_cast<uint32_t>(topic.size()))) {}

std::optional<std::string> Subscription::take() {
  char buffer[512];
  const uint32_t n = pie_subscription_take(handle_.get(), buffer, sizeof buffer);
  if (n == PIE_NONE) return std::nullopt;
  if (n <= sizeof buffer) return std::string(buffer, n);
  std::string out(n, '\0');
  pie_result_fetch(out.data(), n);
  return out;
}

std::string Subscription::next() {
  const pie_handle h = handle_.get();
  for (;;) {
    if (auto m = take()) return *m;
    wait_any(std::span(&h, 1));
  }
}

std::optional<std::string> Subscription::next_for(std::chrono::nanoseconds timeout) {
  if (auto m = take()) return m;
  const pie_handle h = handle_.get();
  if (!wait_any(std::span(&h, 1), timeout)) return std::nullopt;
  return take();
}

void Subscription::unsubscribe() {
  pie_unsubscribe(handle_.get());
}

// ---- Key-value store ----------------------------------------------------------------------------

namespace store {

std::optional<std::string> get(std::string_view key) {
  char buffer[512];
  const uint32_t n =
      pie_store_get(key.data(), static_cast<uint32_t>(key.size()), buffer, sizeof buffer);
  if (n == PIE_NONE) return std::nullopt;
  if (n <= sizeof buffer) return std::string(buffer, n);
  std::string out(n, '\0');
  pie_result_fetch(out.data(), n);
  return out;
}

void set(std::string_view key, std::string_view value) {
  pie_store_set(key.data(), static_cast<uint32_t>(key.size()), value.data(),
                static_cast<uint32_t>(value.size()));
}

void remove(std::string_view key) {
  pie_store_delete(key.data(), static_cast<uint32_t>(key.size()));
}

bool exists(std::string_view key) {
  return pie_store_exists(key.data(), static_cast<uint32_t>(key.size())) != 0;
}

std::vector<std::string> keys() {
  return detail::decode_strings(
      detail::read_bytes([](char* out, uint32_t cap) { return pie_store_keys(out, cap); }));
}

}  // namespace store

}  // namespace pie
