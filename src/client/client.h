// C++ client of Pie's user protocol (reference §3, §3.7, §8.1): connect, authenticate, upload and
// launch programs, talk to instances. Thread-safe: a background thread reads the connection;
// requests block the calling thread until their response arrives.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pie::client {

// What an instance reports: Pie's event codes, plus Blob (6) for a reassembled, hash-checked
// download, as in Pie's Python client.
enum class EventKind : uint32_t {
  Message = 0,
  Completed = 1,
  Aborted = 2,
  Exception = 3,
  ServerError = 4,
  OutOfResources = 5,
  Blob = 6,
};

std::string_view to_string(EventKind kind);

struct Event {
  EventKind kind = EventKind::Message;
  std::string data;  // the message text, or the blob's bytes

  // The instance has ended (Completed, Aborted, Exception, ServerError, OutOfResources).
  bool terminal() const;
};

class Connection;

class Instance {
 public:
  const std::string& id() const { return id_; }

  void send(const std::string& message);
  // Blocks until the server has the whole blob; throws pie::Error with its reason otherwise.
  void upload_blob(std::string_view bytes);
  // The next event, in arrival order. Throws pie::Error once the terminal event was returned or
  // the connection is gone.
  Event recv();
  // Like recv(), but gives up after `timeout` (nullopt).
  std::optional<Event> recv_for(std::chrono::milliseconds timeout);
  void terminate();

 private:
  friend class Client;
  Instance(std::shared_ptr<Connection> connection, std::string id)
      : connection_(std::move(connection)), id_(std::move(id)) {}

  std::shared_ptr<Connection> connection_;
  std::string id_;
};

// Called after each chunk of an upload is written: bytes sent so far, and in all.
using Progress = std::function<void(size_t sent, size_t total)>;

class Client {
 public:
  // `url` is ws://host:port (or host:port). Requests wait at most `request_timeout` for their
  // response (zero: as long as the connection lives). Throws pie::Error when it cannot connect.
  explicit Client(const std::string& url,
                  std::chrono::milliseconds request_timeout = std::chrono::milliseconds(0));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Ends the connection (the server then terminates the instances it launched).
  void close();

  // Each of these throws pie::Error carrying the server's failure text.
  std::string authenticate(const std::string& token);  // returns the token's subject
  std::string query(const std::string& subject, const std::string& record);
  bool program_exists(const std::string& hash);
  // Sends the program in 256 KiB chunks; returns its BLAKE3 hash.
  std::string upload_program(std::string_view bytes, const Progress& progress = {});
  Instance launch_instance(const std::string& hash, const std::vector<std::string>& arguments = {});
  void launch_server_instance(const std::string& hash, uint32_t port,
                              const std::vector<std::string>& arguments = {});
  void signal_instance(const std::string& instance_id, const std::string& message);
  void upload_blob(const std::string& instance_id, std::string_view bytes);
  void terminate_instance(const std::string& instance_id);
  // Registers a backend with the engine (what `pie backend` does); returns the server's text.
  std::string attach_remote_service(const std::string& endpoint, const std::string& service_type,
                                    const std::string& service_name);

 private:
  std::shared_ptr<Connection> connection_;
};

}  // namespace pie::client
