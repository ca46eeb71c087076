#include "server/server.h"

#include <thread>

#include "common/log.h"
#include "server/session.h"

namespace pie::server {

using net::ip::tcp;

struct Server::Impl {
  Impl(ServerOptions options, EnginePort& engine)
      : ctx(std::move(options), engine),
        acceptor(net::make_strand(ctx.ioc)),
        retry_timer(acceptor.get_executor()) {}

  void accept_next() {
    acceptor.async_accept(
        net::make_strand(ctx.ioc), [this](beast::error_code ec, tcp::socket socket) {
          if (!acceptor.is_open()) return;
          if (ec) {
            // Out of file descriptors and the like: wait a little instead of spinning.
            PIE_LOG(Warn) << "accepting a connection failed: " << ec.message();
            retry_timer.expires_after(std::chrono::milliseconds(100));
            retry_timer.async_wait([this](beast::error_code e) {
              if (!e) accept_next();
            });
            return;
          }
          if (ctx.connections >= ctx.options.limits.max_connections) {
            PIE_LOG(Warn) << "refusing a connection: " << ctx.connections << " already open";
            beast::error_code ignored;
            socket.close(ignored);
          } else {
            // Protocol messages are small and answered one by one: without this, Nagle's
            // algorithm holds each behind the peer's delayed ACK (~40 ms per exchange).
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<Session>(std::move(socket), ctx)->start();
          }
          accept_next();
        });
  }

  ServerContext ctx;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
};

Server::Server(ServerOptions options, EnginePort& engine)
    : impl_(std::make_unique<Impl>(std::move(options), engine)) {}

Server::~Server() {
  stop();
}

void Server::start() {
  Impl& s = *impl_;
  if (s.started) throw Error("server already started");
  const ServerOptions& o = s.ctx.options;
  if (o.enable_auth && o.auth_secret.empty()) {
    throw Error("authentication is enabled but no auth secret is set");
  }
  const std::string where = o.host + ":" + std::to_string(o.port);
  beast::error_code ec;
  tcp::resolver resolver(s.ctx.ioc);
  const auto endpoints = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec || endpoints.empty()) throw Error("cannot resolve " + where + ": " + ec.message());
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw Error("cannot listen on " + where + ": " + ec.message());
  s.port = s.acceptor.local_endpoint().port();
  s.started = true;

  net::post(s.acceptor.get_executor(), [&s] { s.accept_next(); });
  s.work.emplace(s.ctx.ioc.get_executor());
  for (unsigned i = 0; i < std::max(1U, o.io_threads); ++i) {
    s.threads.emplace_back([&s] {
      for (;;) {
        try {
          s.ctx.ioc.run();
          return;
        } catch (const std::exception& e) {
          PIE_LOG(Error) << "network loop: " << e.what();
        }
      }
    });
  }
  PIE_LOG(Info) << "listening on ws://" << o.host << ":" << s.port
                << (o.enable_auth ? "" : " (authentication disabled)");
}

uint16_t Server::port() const {
  return impl_->port;
}

size_t Server::connection_count() const {
  return impl_->ctx.connections;
}

void Server::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;

  net::post(s.acceptor.get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    s.retry_timer.cancel();
  });
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(s.ctx.sessions_mutex);
    s.ctx.stopping = true;
    for (const auto& [ptr, weak] : s.ctx.sessions) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  for (const auto& session : sessions) session->post([session] { session->shut_down(); });
  sessions.clear();

  // EnginePort calls in progress finish and post their replies (to closed sessions).
  s.ctx.workers.join();
  s.work.reset();
  // Close handshakes take at most a second; then whatever is left is cut off.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (s.ctx.connections > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.ctx.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.ctx.gate->close();
  PIE_LOG(Info) << "server on port " << s.port << " stopped";
}

}  // namespace pie::server
