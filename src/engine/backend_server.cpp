#include "engine/backend_server.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/error.h"
#include "common/log.h"
#include "engine/wakeup.h"
#include "protocol/backend_codec.h"

namespace pie::engine {

using protocol::HandlerId;
using Clock = std::chrono::steady_clock;

namespace {

using Frames = std::vector<zmq::message_t>;
using Reply = std::vector<std::string>;

// The replies to a batch of forward passes: payloads that do not decode get an error response,
// the others run together.
std::vector<std::string> run_forward(backend::Backend& backend, const Frames& frames) {
  const size_t n = frames.size() - 3;
  std::vector<std::optional<std::string>> errors(n);
  std::vector<protocol::ForwardPassRequest> requests;
  requests.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    try {
      requests.push_back(
          protocol::decode<protocol::ForwardPassRequest>(frames[3 + i].to_string_view()));
    } catch (const Error& e) {
      errors[i] = std::string("malformed forward pass request: ") + e.what();
    }
  }
  std::vector<protocol::ForwardPassResponse> responses;
  std::optional<std::string> failure;
  try {
    if (!requests.empty()) responses = backend.forward_pass(requests);
    if (responses.size() != requests.size()) {
      failure = "the backend produced " + std::to_string(responses.size()) + " responses for " +
                std::to_string(requests.size()) + " forward passes";
    }
  } catch (const std::exception& e) {
    failure = std::string("the forward pass failed: ") + e.what();
  }
  std::vector<std::string> out;
  out.reserve(n);
  size_t next = 0;
  for (size_t i = 0; i < n; ++i) {
    protocol::ForwardPassResponse r;
    if (errors[i]) {
      r.error = errors[i];
    } else if (failure) {
      r.error = failure;
      ++next;
    } else {
      r = std::move(responses[next++]);
    }
    out.push_back(protocol::encode(r));
  }
  return out;
}

// One reply payload per request (handshake, query), or nothing for the handlers without reply.
std::optional<std::vector<std::string>> run_message(backend::Backend& backend, HandlerId handler,
                                                    const Frames& frames) {
  std::vector<std::string> out;
  for (size_t i = 3; i < frames.size(); ++i) {
    const std::string_view payload = frames[i].to_string_view();
    switch (handler) {
      case HandlerId::Handshake:
        out.push_back(protocol::encode(
            backend.handshake(protocol::decode<protocol::HandshakeRequest>(payload))));
        break;
      case HandlerId::Query: {
        protocol::QueryResponse r;
        try {
          r = backend.query(protocol::decode<protocol::QueryRequest>(payload));
        } catch (const std::exception& e) {
          r.value = std::string("error: ") + e.what();
        }
        out.push_back(protocol::encode(r));
        break;
      }
      case HandlerId::EmbedImage:
        backend.embed_image(protocol::decode<protocol::EmbedImageRequest>(payload));
        break;
      case HandlerId::InitializeAdapter:
        backend.initialize_adapter(protocol::decode<protocol::InitializeAdapterRequest>(payload));
        break;
      case HandlerId::UpdateAdapter:
        backend.update_adapter(protocol::decode<protocol::UpdateAdapterRequest>(payload));
        break;
      default:
        throw Error("unknown handler id " + std::to_string(static_cast<uint32_t>(handler)));
    }
  }
  if (handler == HandlerId::Handshake || handler == HandlerId::Query) return out;
  return std::nullopt;
}

}  // namespace

struct BackendServer::Impl {
  backend::Backend& backend;
  BackendServerOptions options;
  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  std::string endpoint;
  Clock::time_point bound_at;
  Wakeup wakeup;

  std::mutex mutex;
  std::condition_variable work_ready;
  std::deque<Frames> jobs;
  std::deque<Reply> replies;
  bool stop_requested = false;
  bool worker_stop = false;

  Impl(backend::Backend& b, BackendServerOptions o) : backend(b), options(std::move(o)) {}

  void worker();
  std::optional<Reply> process(Frames& frames);
  void send(const Reply& reply);
};

BackendServer::BackendServer(backend::Backend& backend, BackendServerOptions options)
    : impl_(std::make_unique<Impl>(backend, std::move(options))) {
  try {
    impl_->router.set(zmq::sockopt::linger, 0);
    impl_->router.bind(impl_->options.endpoint);
    impl_->endpoint = impl_->router.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    throw Error("cannot bind the backend endpoint '" + impl_->options.endpoint + "': " + e.what());
  }
  impl_->bound_at = Clock::now();
}

BackendServer::~BackendServer() = default;

const std::string& BackendServer::endpoint() const {
  return impl_->endpoint;
}

void BackendServer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop_requested = true;
  }
  impl_->wakeup.notify();
}

std::string BackendServer::run() {
  Impl& s = *impl_;
  std::thread worker([&s] { s.worker(); });
  zmq::pollitem_t items[] = {
      {s.router.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, s.wakeup.fd(), ZMQ_POLLIN, 0},
  };
  Clock::time_point last_heartbeat = s.bound_at;
  std::string reason;
  while (reason.empty()) {
    std::deque<Reply> replies;
    {
      std::lock_guard lock(s.mutex);
      if (s.stop_requested) {
        reason = "stopped";
        break;
      }
      replies.swap(s.replies);
    }
    for (const Reply& r : replies) s.send(r);

    auto wait = std::chrono::milliseconds(1000);
    const auto limit = s.options.heartbeat_timeout;
    if (limit.count() > 0) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(last_heartbeat + limit - Clock::now());
      wait = std::clamp(left, std::chrono::milliseconds(0), wait);
    }
    try {
      zmq::poll(items, 2, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) reason = std::string("socket error: ") + e.what();
    }
    if ((items[1].revents & ZMQ_POLLIN) != 0) s.wakeup.clear();
    while ((items[0].revents & ZMQ_POLLIN) != 0) {
      Frames frames;
      if (!zmq::recv_multipart(s.router, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        break;
      }
      // [identity, corr_id, handler_id, payload...]; shorter messages are ignored.
      if (frames.size() < 3 || frames[1].size() != 4 || frames[2].size() != 4) continue;
      if (protocol::decode_u32_frame(frames[2].to_string_view()) ==
          static_cast<uint32_t>(HandlerId::Heartbeat)) {
        last_heartbeat = Clock::now();
        Reply reply{frames[0].to_string(), frames[1].to_string(), frames[2].to_string()};
        for (size_t i = 3; i < frames.size(); ++i) {
          reply.push_back(protocol::encode(protocol::HeartbeatResponse{}));
        }
        s.send(reply);
        continue;
      }
      {
        std::lock_guard lock(s.mutex);
        s.jobs.push_back(std::move(frames));
      }
      s.work_ready.notify_one();
    }
    if (limit.count() > 0 && Clock::now() - last_heartbeat > limit) {
      reason = "no heartbeat from the engine for " + std::to_string(limit.count()) + " ms";
    }
  }
  {
    std::lock_guard lock(s.mutex);
    s.worker_stop = true;
    s.stop_requested = false;
  }
  s.work_ready.notify_all();
  worker.join();
  {
    std::lock_guard lock(s.mutex);
    s.worker_stop = false;
    s.jobs.clear();
    s.replies.clear();
  }
  return reason;
}

void BackendServer::Impl::send(const Reply& reply) {
  std::vector<zmq::const_buffer> frames;
  frames.reserve(reply.size());
  for (const std::string& f : reply) frames.push_back(zmq::buffer(f));
  try {
    zmq::send_multipart(router, frames, zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    PIE_LOG(Warn) << "backend server: cannot send a reply: " << e.what();
  }
}

void BackendServer::Impl::worker() {
  for (;;) {
    Frames frames;
    {
      std::unique_lock lock(mutex);
      work_ready.wait(lock, [&] { return worker_stop || !jobs.empty(); });
      if (worker_stop) return;
      frames = std::move(jobs.front());
      jobs.pop_front();
    }
    std::optional<Reply> reply = process(frames);
    if (!reply) continue;
    {
      std::lock_guard lock(mutex);
      replies.push_back(std::move(*reply));
    }
    wakeup.notify();
  }
}

std::optional<Reply> BackendServer::Impl::process(Frames& frames) {
  const uint32_t handler = protocol::decode_u32_frame(frames[2].to_string_view());
  if (handler > static_cast<uint32_t>(HandlerId::UpdateAdapter)) {
    PIE_LOG(Warn) << "backend server: ignoring a message for unknown handler " << handler;
    return std::nullopt;
  }
  const auto id = static_cast<HandlerId>(handler);
  std::optional<std::vector<std::string>> payloads;
  try {
    if (id == HandlerId::ForwardPass) {
      payloads = run_forward(backend, frames);
    } else {
      payloads = run_message(backend, id, frames);
    }
  } catch (const std::exception& e) {
    PIE_LOG(Error) << "backend server: handler " << handler << " failed: " << e.what();
    return std::nullopt;
  }
  if (!payloads) return std::nullopt;
  Reply reply{frames[0].to_string(), frames[1].to_string(), frames[2].to_string()};
  for (std::string& p : *payloads) reply.push_back(std::move(p));
  return reply;
}

void serve_backend(backend::Backend& backend, const std::string& endpoint) {
  BackendServer server(backend, BackendServerOptions{endpoint});
  PIE_LOG(Info) << "backend serving on " << server.endpoint();
  const std::string reason = server.run();
  PIE_LOG(Info) << "backend stopped: " << reason;
}

}  // namespace pie::engine
