#include "client/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/blake3.h"
#include "common/error.h"
#include "common/log.h"
#include "protocol/client_messages.h"

namespace pie::client {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using protocol::chunk_count;
using protocol::kChunkSize;

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::Message:
      return "Message";
    case EventKind::Completed:
      return "Completed";
    case EventKind::Aborted:
      return "Aborted";
    case EventKind::Exception:
      return "Exception";
    case EventKind::ServerError:
      return "ServerError";
    case EventKind::OutOfResources:
      return "OutOfResources";
    case EventKind::Blob:
      return "Blob";
  }
  return "Unknown";
}

bool Event::terminal() const {
  return kind != EventKind::Message && kind != EventKind::Blob;
}

namespace {

struct Endpoint {
  std::string host;
  std::string port;
  std::string target = "/";
};

Endpoint parse_url(std::string_view url) {
  if (url.starts_with("ws://")) url.remove_prefix(5);
  if (url.starts_with("wss://")) throw Error("TLS (wss://) is not supported: use ws://");
  Endpoint e;
  if (const size_t slash = url.find('/'); slash != std::string_view::npos) {
    e.target = std::string(url.substr(slash));
    url = url.substr(0, slash);
  }
  const size_t colon = url.rfind(':');
  const size_t bracket = url.rfind(']');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket)) {
    throw Error("server address '" + std::string(url) + "' has no port (expected ws://host:port)");
  }
  e.host = std::string(url.substr(0, colon));
  e.port = std::string(url.substr(colon + 1));
  if (e.host.size() >= 2 && e.host.front() == '[' && e.host.back() == ']') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  if (e.host.empty() || e.port.empty())
    throw Error("invalid server address '" + std::string(url) + "'");
  return e;
}

}  // namespace

// The connection and what the reader thread collects from it (reference §3.7): responses by
// corr_id, events per instance, downloads reassembled per (instance, hash).
class Connection {
 public:
  Connection(const std::string& url, std::chrono::milliseconds timeout)
      : ws_(ioc_), timeout_(timeout) {
    const Endpoint e = parse_url(url);
    try {
      net::ip::tcp::resolver resolver(ioc_);
      beast::get_lowest_layer(ws_).connect(resolver.resolve(e.host, e.port));
      // Small request/response messages: Nagle's algorithm would delay each by ~40 ms.
      beast::get_lowest_layer(ws_).socket().set_option(net::ip::tcp::no_delay(true));
      ws_.handshake(e.host + ":" + e.port, e.target);
    } catch (const std::exception& ex) {
      throw Error("cannot connect to ws://" + e.host + ":" + e.port + ": " + ex.what());
    }
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(2);  // bounds the closing handshake
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.read_message_max(64ULL << 20);
    ws_.binary(true);
    read_next();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~Connection() { close(); }

  void close() {
    net::post(ioc_, [this] {
      if (!open_) return;
      open_ = false;
      ws_.async_close(websocket::close_code::normal, [this](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
      });
    });
    {
      std::lock_guard lock(join_mutex_);
      if (thread_.joinable()) thread_.join();
    }
    finish("connection closed by the client");
  }

  uint32_t new_request() {
    std::lock_guard lock(mutex_);
    uint32_t id = next_corr_id_++;
    if (id == 0) id = next_corr_id_++;
    responses_[id].reset();
    return id;
  }

  // Queues a frame; with `wait`, returns only once it is written (flow control for uploads).
  void send(std::string frame, bool wait = false) {
    uint64_t seq = 0;
    {
      std::lock_guard lock(mutex_);
      if (closed_) throw Error("connection to the server is closed: " + close_reason_);
      seq = ++queued_seq_;
    }
    net::post(ioc_, [this, frame = std::move(frame)]() mutable {
      write_queue_.push_back(std::move(frame));
      if (!writing_) write_next();
    });
    if (!wait) return;
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return written_seq_ >= seq || closed_; });
    if (closed_ && written_seq_ < seq) {
      throw Error("connection to the server is closed: " + close_reason_);
    }
  }

  bool has_response(uint32_t corr_id) {
    std::lock_guard lock(mutex_);
    const auto it = responses_.find(corr_id);
    return it != responses_.end() && it->second.has_value();
  }

  // Waits for the response to `corr_id`; returns its result, or throws with the failure text.
  std::string await(uint32_t corr_id, std::string_view what) {
    std::unique_lock lock(mutex_);
    const auto ready = [&] { return responses_.at(corr_id).has_value() || closed_; };
    if (timeout_.count() > 0) {
      if (!changed_.wait_for(lock, timeout_, ready)) {
        responses_.erase(corr_id);
        throw Error("no response to " + std::string(what) + " within " +
                    std::to_string(timeout_.count()) + " ms");
      }
    } else {
      changed_.wait(lock, ready);
    }
    std::optional<protocol::Response> r = std::move(responses_.at(corr_id));
    responses_.erase(corr_id);
    if (!r) throw Error("connection to the server is closed: " + close_reason_);
    if (!r->successful) throw Error(r->result);
    return std::move(r->result);
  }

  std::optional<Event> next_event(const std::string& instance_id,
                                  std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock lock(mutex_);
    Events& events = events_[instance_id];
    const auto ready = [&] { return !events.queue.empty() || events.ended || closed_; };
    if (timeout) {
      if (!changed_.wait_for(lock, *timeout, ready)) return std::nullopt;
    } else {
      changed_.wait(lock, ready);
    }
    if (events.queue.empty()) {
      if (events.ended) throw Error("instance " + instance_id + " has ended");
      throw Error("connection to the server is closed: " + close_reason_);
    }
    Event e = std::move(events.queue.front());
    events.queue.pop_front();
    if (e.terminal()) events.ended = true;
    return e;
  }

 private:
  struct Events {
    std::deque<Event> queue;
    bool ended = false;  // the terminal event was handed out
  };
  struct Download {
    uint64_t total = 0;
    uint64_t next = 0;
    std::string data;
  };

  // --- io thread ---

  void read_next() {
    ws_.async_read(buffer_, [this](beast::error_code ec, size_t) {
      if (ec) {
        open_ = false;
        finish(ec == websocket::error::closed ? "closed by the server" : ec.message());
        return;
      }
      const auto data = buffer_.data();
      try {
        dispatch(protocol::decode_server_message(
            std::string_view(static_cast<const char*>(data.data()), data.size())));
      } catch (const Error& e) {
        PIE_LOG(Warn) << "ignoring a message from the server: " << e.what();
      }
      buffer_.consume(buffer_.size());
      read_next();
    });
  }

  void dispatch(protocol::ServerMessage message) {
    if (auto* r = std::get_if<protocol::Response>(&message)) {
      std::lock_guard lock(mutex_);
      const auto it = responses_.find(r->corr_id);
      // Responses nobody waits for (a late reply after a timeout, extra replies to the chunks of
      // a failed upload) are dropped.
      if (it != responses_.end() && !it->second) it->second = std::move(*r);
    } else if (auto* e = std::get_if<protocol::InstanceEvent>(&message)) {
      std::lock_guard lock(mutex_);
      events_[e->instance_id].queue.push_back(
          Event{static_cast<EventKind>(e->event), std::move(e->message)});
    } else if (auto* d = std::get_if<protocol::DownloadBlob>(&message)) {
      on_download_chunk(std::move(*d));
    } else if (auto* s = std::get_if<protocol::ServerEvent>(&message)) {
      PIE_LOG(Info) << "server: " << s->message;
      return;
    }
    changed_.notify_all();
  }

  void on_download_chunk(protocol::DownloadBlob d) {
    const auto key = std::make_pair(d.instance_id, d.blob_hash);
    Download& dl = downloads_[key];
    if (d.chunk_index == 0) dl = Download{d.total_chunks, 0, {}};
    if (d.chunk_index != dl.next || d.total_chunks != dl.total) {
      PIE_LOG(Warn) << "dropping blob " << d.blob_hash << ": chunk " << d.chunk_index << " of "
                    << d.total_chunks << " arrived out of order";
      downloads_.erase(key);
      return;
    }
    dl.data += d.chunk_data;
    if (++dl.next < dl.total) return;
    std::string data = std::move(dl.data);
    downloads_.erase(key);
    if (blake3_hex(data) != d.blob_hash) {
      PIE_LOG(Warn) << "dropping blob " << d.blob_hash << ": its content does not match the hash";
      return;
    }
    std::lock_guard lock(mutex_);
    events_[d.instance_id].queue.push_back(Event{EventKind::Blob, std::move(data)});
  }

  void write_next() {
    if (!open_) {
      write_queue_.clear();
      return;
    }
    writing_ = true;
    ws_.async_write(net::buffer(write_queue_.front()), [this](beast::error_code ec, size_t) {
      writing_ = false;
      write_queue_.pop_front();
      if (ec) {
        open_ = false;
        finish("write failed: " + ec.message());
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
        return;
      }
      {
        std::lock_guard lock(mutex_);
        ++written_seq_;
      }
      changed_.notify_all();
      if (!write_queue_.empty()) write_next();
    });
  }

  // Marks the connection gone and wakes every waiter (any thread).
  void finish(const std::string& reason) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
      close_reason_ = reason;
    }
    changed_.notify_all();
  }

  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  const std::chrono::milliseconds timeout_;
  std::thread thread_;
  std::mutex join_mutex_;

  // io thread only
  beast::flat_buffer buffer_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  bool open_ = true;
  std::map<std::pair<std::string, std::string>, Download> downloads_;

  // shared, under mutex_
  std::mutex mutex_;
  std::condition_variable changed_;
  uint32_t next_corr_id_ = 1;
  std::map<uint32_t, std::optional<protocol::Response>> responses_;
  std::map<std::string, Events> events_;
  uint64_t queued_seq_ = 0;
  uint64_t written_seq_ = 0;
  bool closed_ = false;
  std::string close_reason_;
};

namespace {

// One request/response exchange: `make` builds the message around the corr_id.
template <class Make>
std::string call(Connection& c, std::string_view what, Make make) {
  const uint32_t corr_id = c.new_request();
  c.send(protocol::encode(protocol::ClientMessage{make(corr_id)}));
  return c.await(corr_id, what);
}

// Chunked upload (reference §3.5.2): all chunks under one corr_id, one response at the end (or
// at the first error, after which the rest is not sent).
template <class MakeChunk>
std::string upload(Connection& c, std::string_view what, std::string_view bytes,
                   const Progress& progress, MakeChunk make_chunk) {
  const uint32_t corr_id = c.new_request();
  const uint64_t total = chunk_count(bytes.size());
  for (uint64_t i = 0; i < total; ++i) {
    const std::string_view part = bytes.substr(std::min(bytes.size(), i * kChunkSize), kChunkSize);
    c.send(protocol::encode(protocol::ClientMessage{make_chunk(corr_id, i, total, part)}), true);
    if (progress) progress(std::min(bytes.size(), (i + 1) * kChunkSize), bytes.size());
    if (c.has_response(corr_id)) break;
  }
  return c.await(corr_id, what);
}

}  // namespace

// --- Client ---

Client::Client(const std::string& url, std::chrono::milliseconds request_timeout)
    : connection_(std::make_shared<Connection>(url, request_timeout)) {}

Client::~Client() {
  connection_->close();
}

void Client::close() {
  connection_->close();
}

std::string Client::authenticate(const std::string& token) {
  return call(*connection_, "authenticate", [&](uint32_t id) {
    return protocol::Authenticate{id, token};
  });
}

std::string Client::query(const std::string& subject, const std::string& record) {
  return call(*connection_, "query", [&](uint32_t id) {
    return protocol::Query{id, subject, record};
  });
}

bool Client::program_exists(const std::string& hash) {
  return query("program_exists", hash) == "true";
}

std::string Client::upload_program(std::string_view bytes, const Progress& progress) {
  const std::string hash = blake3_hex(bytes);
  return upload(*connection_, "upload_program", bytes, progress,
                [&](uint32_t id, uint64_t i, uint64_t total, std::string_view part) {
                  return protocol::UploadProgram{id, hash, i, total, std::string(part)};
                });
}

Instance Client::launch_instance(const std::string& hash,
                                 const std::vector<std::string>& arguments) {
  std::string id = call(*connection_, "launch_instance", [&](uint32_t corr_id) {
    return protocol::LaunchInstance{corr_id, hash, arguments};
  });
  return Instance(connection_, std::move(id));
}

void Client::launch_server_instance(const std::string& hash, uint32_t port,
                                    const std::vector<std::string>& arguments) {
  call(*connection_, "launch_server_instance", [&](uint32_t id) {
    return protocol::LaunchServerInstance{id, port, hash, arguments};
  });
}

void Client::signal_instance(const std::string& instance_id, const std::string& message) {
  connection_->send(
      protocol::encode(protocol::ClientMessage{protocol::SignalInstance{instance_id, message}}));
}

void Client::upload_blob(const std::string& instance_id, std::string_view bytes) {
  const std::string hash = blake3_hex(bytes);
  upload(*connection_, "upload_blob", bytes, {},
         [&](uint32_t id, uint64_t i, uint64_t total, std::string_view part) {
           return protocol::UploadBlob{id, instance_id, hash, i, total, std::string(part)};
         });
}

void Client::terminate_instance(const std::string& instance_id) {
  connection_->send(
      protocol::encode(protocol::ClientMessage{protocol::TerminateInstance{instance_id}}));
}

std::string Client::attach_remote_service(const std::string& endpoint,
                                          const std::string& service_type,
                                          const std::string& service_name) {
  return call(*connection_, "attach_remote_service", [&](uint32_t id) {
    return protocol::AttachRemoteService{id, endpoint, service_type, service_name};
  });
}

// --- Instance ---

void Instance::send(const std::string& message) {
  connection_->send(
      protocol::encode(protocol::ClientMessage{protocol::SignalInstance{id_, message}}));
}

void Instance::upload_blob(std::string_view bytes) {
  const std::string hash = blake3_hex(bytes);
  upload(*connection_, "upload_blob", bytes, {},
         [&](uint32_t corr_id, uint64_t i, uint64_t total, std::string_view part) {
           return protocol::UploadBlob{corr_id, id_, hash, i, total, std::string(part)};
         });
}

Event Instance::recv() {
  return *connection_->next_event(id_, std::nullopt);
}

std::optional<Event> Instance::recv_for(std::chrono::milliseconds timeout) {
  return connection_->next_event(id_, timeout);
}

void Instance::terminate() {
  connection_->send(protocol::encode(protocol::ClientMessage{protocol::TerminateInstance{id_}}));
}

}  // namespace pie::client
