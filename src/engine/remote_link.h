// A backend in another process, reached over ZeroMQ (reference §4.1-4.6): a DEALER connected to
// the backend's ROUTER, one multipart message per call [corr_id, handler_id, payload...], replies
// matched by corr_id, heartbeats, request timeouts. One I/O thread owns the socket.
//
// A backend that stops answering heartbeats for `heartbeat_timeout` is declared unavailable: every
// pending and later call fails with "backend <label> is unavailable: ...". A single call that gets
// no answer within `request_timeout` fails on its own ("... did not answer ... within ...").
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend_link.h"
#include "engine/wakeup.h"

namespace pie::engine {

struct RemoteLinkOptions {
  std::chrono::milliseconds heartbeat_interval{5000};
  std::chrono::milliseconds heartbeat_timeout{10000};
  std::chrono::milliseconds request_timeout{120000};
  std::chrono::milliseconds handshake_timeout{10000};
};

class RemoteLink final : public BackendLink {
 public:
  // Connects to `endpoint` (tcp://host:port, ipc://path); `label` names the backend in messages
  // (the endpoint when empty). Throws pie::Error for an endpoint ZeroMQ refuses.
  explicit RemoteLink(std::string endpoint, RemoteLinkOptions options = {}, std::string label = "");
  // Pending calls fail with "... is unavailable: shutting down".
  ~RemoteLink() override;
  RemoteLink(const RemoteLink&) = delete;
  RemoteLink& operator=(const RemoteLink&) = delete;

  protocol::HandshakeResponse handshake() override;
  void forward_pass(std::vector<protocol::ForwardPassRequest> batch,
                    Callback<std::vector<protocol::ForwardPassResponse>> done) override;
  void query(protocol::QueryRequest request, Callback<protocol::QueryResponse> done) override;
  void embed_image(protocol::EmbedImageRequest request, Callback<Done> done) override;
  void initialize_adapter(protocol::InitializeAdapterRequest request, Callback<Done> done) override;
  void update_adapter(protocol::UpdateAdapterRequest request, Callback<Done> done) override;
  std::optional<std::string> unavailable() const override;

 private:
  using Clock = std::chrono::steady_clock;
  // The reply's payloads (empty for handlers without reply), or why there is none.
  using OnReply = std::function<void(Result<std::vector<std::string>>)>;
  struct Outgoing {
    protocol::HandlerId handler;
    std::vector<std::string> payloads;
    bool answered;  // the backend replies to this handler
    OnReply on_reply;
  };
  struct Pending {
    protocol::HandlerId handler;
    size_t count;
    OnReply on_reply;
    Clock::time_point sent;
  };

  // Encodes `requests` now and decodes the reply as `Response`s.
  template <class Response, class Request>
  void call(protocol::HandlerId handler, const std::vector<Request>& requests,
            Callback<std::vector<Response>> done);
  template <class Request>
  void send_unanswered(protocol::HandlerId handler, const Request& request, Callback<Done> done);
  void enqueue(Outgoing out);

  // I/O thread.
  void loop();
  void send_outbox(Clock::time_point now);
  void receive(Clock::time_point now);
  void check_timers(Clock::time_point now);
  void declare_unavailable(const std::string& why);
  uint32_t next_corr();

  const std::string endpoint_;
  const std::string label_;
  const RemoteLinkOptions options_;

  mutable std::mutex mutex_;  // guards outbox_, unavailable_, stopping_
  std::deque<Outgoing> outbox_;
  std::optional<std::string> unavailable_;
  bool stopping_ = false;
  Wakeup wakeup_;

  // Owned by the I/O thread.
  struct Socket;
  std::unique_ptr<Socket> socket_;
  std::map<uint32_t, Pending> pending_;
  uint32_t corr_ = 0;
  Clock::time_point last_heard_;
  Clock::time_point next_heartbeat_;

  std::thread thread_;
};

}  // namespace pie::engine
