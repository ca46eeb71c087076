#include "services/http_server.h"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/log.h"

namespace pie::services {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr size_t kMaxBodyBytes = 64 << 20;
}

struct HttpServer::Impl {
  struct Connection {
    tcp::socket socket;
    std::thread thread;
    bool done = false;
  };

  Impl(const std::string& address, uint16_t port, Handler h) : handler(std::move(h)), acceptor(io) {
    beast::error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec) throw Error("invalid address " + address + ": " + ec.message());
    const tcp::endpoint endpoint(ip, port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw Error("cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
    }
    bound_port = acceptor.local_endpoint().port();
    accept_thread = std::thread([this] { accept_loop(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
      beast::error_code ec;
      acceptor.cancel(ec);
      // Unblocks connection threads waiting in a read: shutdown is safe from another thread.
      for (auto& c : connections) ::shutdown(c.socket.native_handle(), SHUT_RDWR);
    }
    ::shutdown(acceptor.native_handle(), SHUT_RDWR);
    accept_thread.join();
    std::list<Connection> left;
    {
      std::lock_guard lock(mutex);
      left.swap(connections);
    }
    for (auto& c : left) c.thread.join();
  }

  void accept_loop() {
    for (;;) {
      tcp::socket socket(io);
      beast::error_code ec;
      acceptor.accept(socket, ec);
      std::lock_guard lock(mutex);
      reap();
      if (stopping) return;
      if (ec) {
        PIE_LOG(Warn) << "HTTP accept on port " << bound_port << " failed: " << ec.message();
        continue;
      }
      connections.push_back(Connection{std::move(socket), {}, false});
      Connection& c = connections.back();
      c.thread = std::thread([this, &c] { serve(c); });
    }
  }

  // Joins finished connection threads; called with the mutex held.
  void reap() {
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  void serve(Connection& c) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBodyBytes);
      beast::error_code ec;
      http::read(c.socket, buffer, parser, ec);
      if (ec) break;
      const auto& req = parser.get();
      HttpRequest request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      for (const auto& field : req) {
        request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      request.body = req.body();
      HttpResponse response;
      try {
        response = handler(std::move(request));
      } catch (const std::exception& e) {
        response = HttpResponse{500, {{"Content-Type", "text/plain"}}, e.what()};
      }
      http::response<http::string_body> res;
      res.version(req.version());
      res.result(response.status);
      for (auto& [name, value] : response.headers) res.set(name, value);
      res.body() = std::move(response.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(c.socket, res, ec);
      if (ec || !res.keep_alive()) break;
    }
    beast::error_code ec;
    c.socket.shutdown(tcp::socket::shutdown_both, ec);
    std::lock_guard lock(mutex);
    c.done = true;
  }

  Handler handler;
  asio::io_context io;
  tcp::acceptor acceptor;
  uint16_t bound_port = 0;
  std::thread accept_thread;
  std::mutex mutex;
  std::list<Connection> connections;
  bool stopping = false;
};

HttpServer::HttpServer(const std::string& address, uint16_t port, Handler handler)
    : impl_(std::make_unique<Impl>(address, port, std::move(handler))) {}

HttpServer::~HttpServer() = default;

uint16_t HttpServer::port() const {
  return impl_->bound_port;
}

}  // namespace pie::services
