// The C++ SDK's foundation: owned handles, futures, results, and the instance-level calls
// (runtime info, messages with the client, blobs, broadcast, the key-value store).
// Thin RAII wrappers over abi.h; built with -fno-exceptions, so failures are values (Result) or end
// the instance (pie::fail).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pie/abi.h"

namespace pie {

// Ends the instance with an Exception event carrying `message`.
[[noreturn]] void fail(std::string_view message);

// An error value: what main returns to end with an Exception event.
struct Error {
  std::string message;
};

// A value or an Error.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  template <class U>
  requires std::is_constructible_v<T, U&&> &&
      (!std::is_same_v<std::decay_t<U>, Error>)Result(U&& value)
      : value_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  // The value; ends the instance with the error when there is none.
  T& value() {
    if (!ok()) fail(error_.message);
    return *value_;
  }
  const Error& error() const { return error_; }

 private:
  std::optional<T> value_;
  Error error_;
};

// Owns one handle and drops it when destroyed. Move-only.
class Handle {
 public:
  Handle() = default;
  explicit Handle(pie_handle h) : h_(h) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : h_(std::exchange(other.h_, 0)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      h_ = std::exchange(other.h_, 0);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  pie_handle get() const { return h_; }
  explicit operator bool() const { return h_ != 0; }
  void reset() {
    if (h_ != 0) pie_drop(std::exchange(h_, 0));
  }

 private:
  pie_handle h_ = 0;
};

namespace detail {

// Calls `call(out, cap)` (an ABI call returning a result of variable size) and returns the bytes,
// fetching them when they did not fit the first buffer.
template <class Call>
std::string read_bytes(Call&& call) {
  char buffer[512];
  const uint32_t n = call(buffer, sizeof buffer);
  if (n <= sizeof buffer) return std::string(buffer, n);
  std::string out(n, '\0');
  pie_result_fetch(out.data(), n);
  return out;
}

// As read_bytes, for results that are lists of u32 (ids, tokens).
template <class Call>
std::vector<uint32_t> read_ids(Call&& call) {
  uint32_t buffer[256];
  const uint32_t n = call(buffer, sizeof buffer);
  if (n <= sizeof buffer) return std::vector<uint32_t>(buffer, buffer + n / 4);
  std::vector<uint32_t> out(n / 4);
  pie_result_fetch(out.data(), n);
  return out;
}

// Readers of the ABI's result encodings (little-endian u32 fields).
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  uint32_t u32();
  float f32();
  std::string bytes();

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

std::vector<std::string> decode_strings(std::string_view data);
std::string encode_strings(std::span<const std::string> items);

}  // namespace detail

// Waits for any of `handles` (futures, subscriptions): the index of a ready one, or nothing after
// `timeout` (nothing given: no timeout).
std::optional<size_t> wait_any(std::span<const pie_handle> handles,
                               std::optional<std::chrono::nanoseconds> timeout = std::nullopt);

// The result of a long operation. Move-only; get() waits when needed.
template <class T>
class Future {
 public:
  // `read` turns the ready handle into the value.
  using Reader = T (*)(pie_handle);
  Future(pie_handle h, Reader read) : handle_(h), read_(read) {}

  pie_handle handle() const { return handle_.get(); }
  bool ready() const { return wait_for(std::chrono::nanoseconds(0)); }
  // True when ready within `timeout`.
  bool wait_for(std::chrono::nanoseconds timeout) const {
    const pie_handle h = handle_.get();
    return wait_any(std::span(&h, 1), timeout).has_value();
  }
  void wait() const {
    const pie_handle h = handle_.get();
    wait_any(std::span(&h, 1));
  }
  T get() {
    wait();
    return read_(handle_.get());
  }

 private:
  Handle handle_;
  Reader read_;
};

template <>
class Future<void> {
 public:
  explicit Future(pie_handle h) : handle_(h) {}
  pie_handle handle() const { return handle_.get(); }
  bool ready() const { return wait_for(std::chrono::nanoseconds(0)); }
  bool wait_for(std::chrono::nanoseconds timeout) const {
    const pie_handle h = handle_.get();
    return wait_any(std::span(&h, 1), timeout).has_value();
  }
  void wait() const { get(); }
  void get() const {
    const pie_handle h = handle_.get();
    wait_any(std::span(&h, 1));
  }

 private:
  Handle handle_;
};

// ---- The instance -------------------------------------------------------------------------------

std::string runtime_version();
std::string instance_id();
std::vector<std::string> arguments();
// The value the client receives with the Completed event.
void set_return(std::string_view value);
// Runtime introspection: "ping", "get_instance_count", "list_running_instances", ...
Future<std::string> debug_query(std::string_view query);

// ---- Messages with the client -------------------------------------------------------------------

void send(std::string_view message);
// The next message from the client.
Future<std::string> receive();

// Bytes held by the engine, sent to or received from the client.
class Blob {
 public:
  explicit Blob(std::string_view data = {});
  void write(std::string_view data);
  std::string read(uint64_t offset, uint32_t n) const;
  std::string read_all() const { return read(0, static_cast<uint32_t>(size())); }
  uint64_t size() const;
  pie_handle handle() const { return handle_.get(); }

 private:
  friend Future<Blob> receive_blob();
  explicit Blob(Handle h) : handle_(std::move(h)) {}
  Handle handle_;
};

// Sends the blob's bytes to the client; the blob is left empty.
void send_blob(Blob& blob);
// The next blob the client uploads.
Future<Blob> receive_blob();

// ---- Broadcast between instances ----------------------------------------------------------------

void broadcast(std::string_view topic, std::string_view message);

// Every message published on a topic after subscribing, in order (up to 64 waiting).
class Subscription {
 public:
  explicit Subscription(std::string_view topic);
  // The next waiting message, if any.
  std::optional<std::string> take();
  // Waits for the next message.
  std::string next();
  // Waits up to `timeout` for the next message.
  std::optional<std::string> next_for(std::chrono::nanoseconds timeout);
  void unsubscribe();
  pie_handle handle() const { return handle_.get(); }

 private:
  Handle handle_;
};

// ---- Key-value store shared by all instances ----------------------------------------------------

namespace store {
std::optional<std::string> get(std::string_view key);
void set(std::string_view key, std::string_view value);
void remove(std::string_view key);
bool exists(std::string_view key);
std::vector<std::string> keys();
}  // namespace store

}  // namespace pie
