#include "engine/remote_link.h"

#include <algorithm>
#include <future>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/log.h"
#include "protocol/backend_codec.h"

namespace pie::engine {

using protocol::HandlerId;

namespace {

const char* handler_name(HandlerId handler) {
  switch (handler) {
    case HandlerId::Handshake:
      return "handshake";
    case HandlerId::Heartbeat:
      return "heartbeat";
    case HandlerId::Query:
      return "query";
    case HandlerId::ForwardPass:
      return "forward pass";
    case HandlerId::EmbedImage:
      return "embed image";
    case HandlerId::InitializeAdapter:
      return "initialize adapter";
    case HandlerId::UpdateAdapter:
      return "update adapter";
  }
  return "unknown";
}

std::string seconds(std::chrono::milliseconds ms) {
  const double s = static_cast<double>(ms.count()) / 1000.0;
  std::string text = std::to_string(s);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text + " s";
}

}  // namespace

struct RemoteLink::Socket {
  zmq::context_t context{1};
  zmq::socket_t dealer{context, zmq::socket_type::dealer};
};

RemoteLink::RemoteLink(std::string endpoint, RemoteLinkOptions options, std::string label)
    : endpoint_(std::move(endpoint)),
      label_(label.empty() ? endpoint_ : std::move(label)),
      options_(options),
      socket_(std::make_unique<Socket>()) {
  try {
    socket_->dealer.set(zmq::sockopt::linger, 0);
    socket_->dealer.connect(endpoint_);
  } catch (const zmq::error_t& e) {
    throw Error("cannot connect to backend endpoint '" + endpoint_ + "': " + e.what());
  }
  last_heard_ = Clock::now();
  next_heartbeat_ = last_heard_;
  thread_ = std::thread([this] { loop(); });
}

RemoteLink::~RemoteLink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wakeup_.notify();
  thread_.join();
}

std::optional<std::string> RemoteLink::unavailable() const {
  std::lock_guard lock(mutex_);
  return unavailable_;
}

void RemoteLink::enqueue(Outgoing out) {
  {
    std::lock_guard lock(mutex_);
    outbox_.push_back(std::move(out));
  }
  wakeup_.notify();
}

template <class Response, class Request>
void RemoteLink::call(HandlerId handler, const std::vector<Request>& requests,
                      Callback<std::vector<Response>> done) {
  std::vector<std::string> payloads;
  payloads.reserve(requests.size());
  for (const Request& r : requests) payloads.push_back(protocol::encode(r));
  const std::string label = label_;
  auto on_reply = [done = std::move(done), label, handler](Result<std::vector<std::string>> reply) {
    if (!reply.ok()) {
      done(reply.error());
      return;
    }
    std::vector<Response> responses;
    responses.reserve(reply.value().size());
    try {
      for (const std::string& payload : reply.value()) {
        responses.push_back(protocol::decode<Response>(payload));
      }
    } catch (const Error& e) {
      done(Error("backend " + label + " sent a malformed " + handler_name(handler) +
                 " reply: " + e.what()));
      return;
    }
    done(std::move(responses));
  };
  enqueue(Outgoing{handler, std::move(payloads), true, std::move(on_reply)});
}

template <class Request>
void RemoteLink::send_unanswered(HandlerId handler, const Request& request, Callback<Done> done) {
  auto on_sent = [done = std::move(done)](Result<std::vector<std::string>> sent) {
    if (sent.ok()) {
      done(Done{});
    } else {
      done(sent.error());
    }
  };
  enqueue(Outgoing{handler, {protocol::encode(request)}, false, std::move(on_sent)});
}

protocol::HandshakeResponse RemoteLink::handshake() {
  auto reply = std::make_shared<std::promise<Result<std::vector<protocol::HandshakeResponse>>>>();
  call<protocol::HandshakeResponse>(
      HandlerId::Handshake, std::vector<protocol::HandshakeRequest>{protocol::HandshakeRequest{}},
      [reply](Result<std::vector<protocol::HandshakeResponse>> r) {
        reply->set_value(std::move(r));
      });
  std::future<Result<std::vector<protocol::HandshakeResponse>>> answer = reply->get_future();
  if (answer.wait_for(options_.handshake_timeout) != std::future_status::ready) {
    throw Error("backend " + label_ + " did not answer the handshake within " +
                seconds(options_.handshake_timeout));
  }
  std::vector<protocol::HandshakeResponse> responses = answer.get().value();
  if (responses.size() != 1) {
    throw Error("backend " + label_ + " answered the handshake with " +
                std::to_string(responses.size()) + " responses");
  }
  return std::move(responses.front());
}

void RemoteLink::forward_pass(std::vector<protocol::ForwardPassRequest> batch,
                              Callback<std::vector<protocol::ForwardPassResponse>> done) {
  call<protocol::ForwardPassResponse>(HandlerId::ForwardPass, batch, std::move(done));
}

void RemoteLink::query(protocol::QueryRequest request, Callback<protocol::QueryResponse> done) {
  call<protocol::QueryResponse>(
      HandlerId::Query, std::vector<protocol::QueryRequest>{std::move(request)},
      [done = std::move(done)](Result<std::vector<protocol::QueryResponse>> r) {
        if (!r.ok()) {
          done(r.error());
        } else if (r.value().size() != 1) {
          done(Error("the backend answered a query with " + std::to_string(r.value().size()) +
                     " responses"));
        } else {
          done(std::move(r.value().front()));
        }
      });
}

void RemoteLink::embed_image(protocol::EmbedImageRequest request, Callback<Done> done) {
  send_unanswered(HandlerId::EmbedImage, request, std::move(done));
}

void RemoteLink::initialize_adapter(protocol::InitializeAdapterRequest request,
                                    Callback<Done> done) {
  send_unanswered(HandlerId::InitializeAdapter, request, std::move(done));
}

void RemoteLink::update_adapter(protocol::UpdateAdapterRequest request, Callback<Done> done) {
  send_unanswered(HandlerId::UpdateAdapter, request, std::move(done));
}

// ---- I/O thread ---------------------------------------------------------------------------------

uint32_t RemoteLink::next_corr() {
  const uint32_t corr = corr_;
  corr_ = corr_ + 1 == protocol::kHeartbeatCorrId ? 0 : corr_ + 1;
  return corr;
}

void RemoteLink::loop() {
  zmq::pollitem_t items[] = {
      {socket_->dealer.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, wakeup_.fd(), ZMQ_POLLIN, 0},
  };
  for (;;) {
    Clock::time_point now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    send_outbox(now);
    check_timers(now);

    // Wake for the next heartbeat, the heartbeat deadline and the oldest request's deadline.
    Clock::time_point wake_at = next_heartbeat_;
    if (!unavailable()) {
      wake_at = std::min(wake_at,
                         last_heard_ + options_.heartbeat_timeout + std::chrono::milliseconds(1));
    }
    for (const auto& [corr, p] : pending_) {
      wake_at = std::min(wake_at, p.sent + options_.request_timeout);
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now);
    try {
      zmq::poll(items, 2,
                std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(1000)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) declare_unavailable(std::string("socket error: ") + e.what());
    }
    if ((items[1].revents & ZMQ_POLLIN) != 0) wakeup_.clear();
    if ((items[0].revents & ZMQ_POLLIN) != 0) receive(Clock::now());
  }
  // Shutting down: everything still waiting fails.
  std::deque<Outgoing> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(outbox_);
  }
  const Error stop("backend " + label_ + " is unavailable: shutting down");
  for (auto& [corr, p] : pending_) p.on_reply(stop);
  pending_.clear();
  for (Outgoing& out : left) out.on_reply(stop);
}

void RemoteLink::send_outbox(Clock::time_point now) {
  std::deque<Outgoing> out;
  std::optional<std::string> dead;
  {
    std::lock_guard lock(mutex_);
    out.swap(outbox_);
    dead = unavailable_;
  }
  for (Outgoing& o : out) {
    if (dead) {
      o.on_reply(Error(*dead));
      continue;
    }
    const uint32_t corr = next_corr();
    std::vector<zmq::const_buffer> frames;
    const std::string corr_frame = protocol::encode_u32_frame(corr);
    const std::string handler_frame = protocol::encode_u32_frame(static_cast<uint32_t>(o.handler));
    frames.push_back(zmq::buffer(corr_frame));
    frames.push_back(zmq::buffer(handler_frame));
    for (const std::string& p : o.payloads) frames.push_back(zmq::buffer(p));
    std::string error;
    try {
      if (!zmq::send_multipart(socket_->dealer, frames, zmq::send_flags::dontwait)) {
        error = "its send queue is full";
      }
    } catch (const zmq::error_t& e) {
      error = e.what();
    }
    if (!error.empty()) {
      o.on_reply(Error("backend " + label_ + ": cannot send a " + handler_name(o.handler) +
                       " request: " + error));
      continue;
    }
    if (o.answered) {
      pending_.emplace(corr, Pending{o.handler, o.payloads.size(), std::move(o.on_reply), now});
    } else {
      o.on_reply(std::vector<std::string>{});
    }
  }
}

void RemoteLink::receive(Clock::time_point now) {
  for (;;) {
    std::vector<zmq::message_t> frames;
    std::optional<size_t> got;
    try {
      got = zmq::recv_multipart(socket_->dealer, std::back_inserter(frames),
                                zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      declare_unavailable(std::string("socket error: ") + e.what());
      return;
    }
    if (!got) return;
    last_heard_ = now;
    if (frames.size() < 2 || frames[0].size() != 4 || frames[1].size() != 4) {
      PIE_LOG(Warn) << "backend " << label_ << ": ignoring a reply with malformed frames";
      continue;
    }
    const uint32_t corr = protocol::decode_u32_frame(frames[0].to_string_view());
    const uint32_t handler = protocol::decode_u32_frame(frames[1].to_string_view());
    if (corr == protocol::kHeartbeatCorrId) continue;
    auto it = pending_.find(corr);
    if (it == pending_.end()) {
      PIE_LOG(Warn) << "backend " << label_ << ": ignoring a reply to unknown request " << corr
                    << " (timed out?)";
      continue;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (handler != static_cast<uint32_t>(p.handler)) {
      p.on_reply(Error("backend " + label_ + " answered a " + handler_name(p.handler) +
                       " request with handler id " + std::to_string(handler)));
      continue;
    }
    if (frames.size() - 2 != p.count) {
      p.on_reply(Error("backend " + label_ + " answered " + std::to_string(p.count) + " " +
                       handler_name(p.handler) + " requests with " +
                       std::to_string(frames.size() - 2) + " responses"));
      continue;
    }
    std::vector<std::string> payloads;
    payloads.reserve(p.count);
    for (size_t i = 2; i < frames.size(); ++i) payloads.push_back(frames[i].to_string());
    p.on_reply(std::move(payloads));
  }
}

void RemoteLink::check_timers(Clock::time_point now) {
  if (now >= next_heartbeat_) {
    next_heartbeat_ = now + options_.heartbeat_interval;
    if (!unavailable()) {
      const std::string corr = protocol::encode_u32_frame(protocol::kHeartbeatCorrId);
      const std::string handler =
          protocol::encode_u32_frame(static_cast<uint32_t>(HandlerId::Heartbeat));
      const std::string payload = protocol::encode(protocol::HeartbeatRequest{});
      std::vector<zmq::const_buffer> frames{zmq::buffer(corr), zmq::buffer(handler),
                                            zmq::buffer(payload)};
      try {
        zmq::send_multipart(socket_->dealer, frames, zmq::send_flags::dontwait);
      } catch (const zmq::error_t& e) {
        PIE_LOG(Warn) << "backend " << label_ << ": cannot send a heartbeat: " << e.what();
      }
    }
  }
  if (now - last_heard_ > options_.heartbeat_timeout && !unavailable()) {
    declare_unavailable("no reply to heartbeats for " + seconds(options_.heartbeat_timeout));
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.sent < options_.request_timeout) {
      ++it;
      continue;
    }
    Pending p = std::move(it->second);
    it = pending_.erase(it);
    p.on_reply(Error("backend " + label_ + " did not answer a " + handler_name(p.handler) +
                     " request within " + seconds(options_.request_timeout)));
  }
}

void RemoteLink::declare_unavailable(const std::string& why) {
  const std::string reason = "backend " + label_ + " is unavailable: " + why;
  {
    std::lock_guard lock(mutex_);
    if (unavailable_) return;
    unavailable_ = reason;
  }
  PIE_LOG(Error) << reason;
  std::map<uint32_t, Pending> pending;
  pending.swap(pending_);
  for (auto& [corr, p] : pending) p.on_reply(Error(reason));
}

}  // namespace pie::engine
