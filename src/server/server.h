// Pie's user-facing WebSocket server (reference §3): one binary frame per MessagePack message,
// one session per connection, every flow of §3.5 served against an EnginePort.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "server/engine_port.h"
#include "server/uploads.h"

namespace pie::server {

struct ServerLimits {
  // Largest WebSocket message accepted; a bigger one closes the connection (1009).
  size_t max_frame_bytes = 4ULL << 20;
  // Per connection: uploads in flight and the bytes they may hold.
  UploadLimits uploads;
  // A half-finished upload that gets no chunk for this long is dropped and its sender told.
  std::chrono::milliseconds upload_idle_timeout{std::chrono::seconds(60)};
  // Outgoing bytes queued for a client that does not read; beyond this it is disconnected.
  size_t max_queued_write_bytes = 256ULL << 20;
  size_t max_connections = 4096;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: pick a free port, see Server::port()
  bool enable_auth = true;
  std::string auth_secret;  // HS256 key of the tokens (required when auth is on)
  ServerLimits limits;
  unsigned io_threads = 1;      // threads running the network loop
  unsigned engine_threads = 4;  // threads making the EnginePort calls that may block
};

class Server {
 public:
  // `engine` must outlive the server.
  Server(ServerOptions options, EnginePort& engine);
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving; throws pie::Error when the address cannot be bound.
  void start();
  // The bound port (the one picked when options.port was 0).
  uint16_t port() const;
  // Live connections.
  size_t connection_count() const;
  // Stops accepting, closes every connection (their instances end with "socket terminated"), waits
  // for EnginePort calls in progress, and joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pie::server
