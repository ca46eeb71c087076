#include "services/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/error.h"

namespace pie::services {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// One keep-alive client connection.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  http::response<http::string_body> request(http::verb verb, const std::string& target,
                                            const std::string& body = "") {
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "localhost");
    req.set("X-Test", "yes");
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
};

TEST(HttpServer, HandlerSeesTheRequestAndShapesTheResponse) {
  std::atomic<int> calls{0};
  HttpServer server("127.0.0.1", 0, [&](HttpRequest req) {
    ++calls;
    std::string test_header;
    for (auto& [k, v] : req.headers) {
      if (k == "X-Test") test_header = v;
    }
    return HttpResponse{
        201, {{"X-Echo", test_header}}, req.method + " " + req.target + " " + req.body};
  });
  ASSERT_NE(server.port(), 0);
  Client client(server.port());
  auto r1 = client.request(http::verb::post, "/v1/x?q=1", "hello");
  EXPECT_EQ(r1.result_int(), 201u);
  EXPECT_EQ(r1.body(), "POST /v1/x?q=1 hello");
  EXPECT_EQ(r1["X-Echo"], "yes");
  auto r2 = client.request(http::verb::get, "/");  // same connection (keep-alive)
  EXPECT_EQ(r2.body(), "GET / ");
  EXPECT_EQ(calls.load(), 2);
}

TEST(HttpServer, HandlerErrorsBecome500) {
  HttpServer server("127.0.0.1", 0, [](HttpRequest) -> HttpResponse { throw Error("boom"); });
  Client client(server.port());
  auto r = client.request(http::verb::get, "/");
  EXPECT_EQ(r.result_int(), 500u);
  EXPECT_EQ(r.body(), "boom");
}

TEST(HttpServer, BusyPortIsAClearError) {
  HttpServer first("127.0.0.1", 0, [](HttpRequest) { return HttpResponse{}; });
  try {
    HttpServer second("127.0.0.1", first.port(), [](HttpRequest) { return HttpResponse{}; });
    FAIL() << "expected a bind error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:"), std::string::npos);
  }
}

TEST(HttpServer, StopsWithAnIdleConnectionOpen) {
  auto server =
      std::make_unique<HttpServer>("127.0.0.1", 0, [](HttpRequest) { return HttpResponse{}; });
  Client client(server->port());
  client.request(http::verb::get, "/");
  server.reset();  // must not hang on the idle keep-alive connection
  SUCCEED();
}

}  // namespace
}  // namespace pie::services
