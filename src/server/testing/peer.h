// A bare WebSocket peer of the server for tests: sends exactly what a test asks, including frames
// no client would send, and reads the server's messages one at a time.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include "protocol/client_messages.h"

namespace pie::server::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

class Peer {
  using ClientMessage = protocol::ClientMessage;
  using ServerMessage = protocol::ServerMessage;
  using Response = protocol::Response;
  using InstanceEvent = protocol::InstanceEvent;

 public:
  explicit Peer(uint16_t port) : ws_(ioc_) {
    net::ip::tcp::resolver resolver(ioc_);
    beast::get_lowest_layer(ws_).connect(resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.handshake("127.0.0.1", "/");
  }

  void send(const ClientMessage& m) { send_raw(protocol::encode(m)); }
  void send_raw(std::string_view bytes) {
    ws_.binary(true);
    ws_.write(net::buffer(bytes.data(), bytes.size()));
  }
  void send_text(std::string_view text) {
    ws_.text(true);
    ws_.write(net::buffer(text.data(), text.size()));
  }

  // The next message; throws when none comes within 10 s or the connection ends.
  ServerMessage recv() {
    beast::flat_buffer buffer;
    const beast::error_code ec = read(buffer);
    if (ec) throw beast::system_error(ec);
    const auto data = buffer.data();
    return protocol::decode_server_message(
        std::string_view(static_cast<const char*>(data.data()), data.size()));
  }
  Response response() {
    ServerMessage m = recv();
    if (!std::holds_alternative<Response>(m)) throw std::runtime_error("expected a response");
    return std::get<Response>(m);
  }
  InstanceEvent event() {
    ServerMessage m = recv();
    if (!std::holds_alternative<InstanceEvent>(m)) throw std::runtime_error("expected an event");
    return std::get<InstanceEvent>(m);
  }
  Response request(const ClientMessage& m) {
    send(m);
    return response();
  }
  // True when the server ended the connection (instead of sending something).
  bool ended_by_server() {
    beast::flat_buffer buffer;
    return static_cast<bool>(read(buffer));
  }
  void close() { ws_.close(websocket::close_code::normal); }
  // Drops the TCP connection without a close handshake.
  void drop() { beast::get_lowest_layer(ws_).close(); }

 private:
  beast::error_code read(beast::flat_buffer& buffer) {
    beast::error_code result;
    bool done = false;
    ws_.async_read(buffer, [&](beast::error_code ec, size_t) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(std::chrono::seconds(10));
    if (!done) {
      beast::get_lowest_layer(ws_).cancel();
      ioc_.restart();
      ioc_.run();
      throw std::runtime_error("no message within 10 s");
    }
    return result;
  }

  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
};

}  // namespace pie::server::testing
