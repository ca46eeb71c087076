// http-server and http-server-js as server instances on a free port, asked with a Boost.Beast
// HTTP client: `/` answers, `/echo` returns the POSTed body, other paths are 404.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "test_engine.h"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using pie::testing::TestEngine;

uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

// One HTTP/1.1 connection to the server instance (keep-alive: requests reuse it).
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  http::response<http::string_body> request(http::verb verb, const std::string& target,
                                            const std::string& body = "",
                                            const std::string& content_type = "") {
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    if (verb == http::verb::post) {
      req.body() = body;
      req.prepare_payload();
    }
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

class HttpServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  HttpClient start() {
    const uint16_t port = free_port();
    engine_.client().launch_server_instance(engine_.upload(GetParam()), port);
    return HttpClient(port);
  }
  TestEngine engine_;
};

TEST_P(HttpServerTest, RootAnswers) {
  auto client = start();
  const auto res = client.request(http::verb::get, "/");
  EXPECT_EQ(res.result_int(), 200U);
  EXPECT_EQ(res.body(), "Hello from a Pie server instance\n");
  EXPECT_EQ(res[http::field::content_type], "text/plain");
}

TEST_P(HttpServerTest, EchoReturnsThePostedBody) {
  auto client = start();
  std::string binary(1000, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  for (const auto& [body, type] : std::vector<std::pair<std::string, std::string>>{
           {"hello, server", "text/plain"}, {"", ""}, {binary, "application/x-test"}}) {
    const auto res = client.request(http::verb::post, "/echo?ignored=1", body, type);
    EXPECT_EQ(res.result_int(), 200U);
    EXPECT_TRUE(res.body() == body) << "echo of " << body.size() << " bytes differs";
    EXPECT_EQ(res[http::field::content_type], type.empty() ? "application/octet-stream" : type);
  }
  const auto get = client.request(http::verb::get, "/echo");
  EXPECT_EQ(get.result_int(), 405U);
  EXPECT_EQ(get[http::field::allow], "POST");
}

TEST_P(HttpServerTest, OtherPathsAreNotFound) {
  auto client = start();
  for (const char* target : {"/nowhere", "/echo/more", "/index.html?x=1"}) {
    const auto res = client.request(http::verb::get, target);
    EXPECT_EQ(res.result_int(), 404U) << target;
    const std::string path = std::string(target).substr(0, std::string(target).find('?'));
    EXPECT_EQ(res.body(), "not found: " + path + "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(CppAndJs, HttpServerTest,
                         ::testing::Values("http-server", "http-server-js"), [](const auto& info) {
                           return info.param == "http-server" ? std::string("Cpp") : "Js";
                         });

}  // namespace
