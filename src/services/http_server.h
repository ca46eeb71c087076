// A small HTTP/1.1 server (keep-alive) for server instances (reference §3.5.8): every request is
// handed to a handler that may block (it runs an inferlet to completion), on a thread of its
// connection. Knows nothing about inferlets.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pie::services {

struct HttpRequest {
  std::string method;
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(HttpRequest)>;

  // Listens on address:port (port 0: any free port). Throws pie::Error when the address cannot be
  // bound, with the system's reason.
  HttpServer(const std::string& address, uint16_t port, Handler handler);
  // Stops listening, closes open connections and waits for running handlers to return.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pie::services
