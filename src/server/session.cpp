#include "server/session.h"

#include <nlohmann/json.hpp>

#include "common/blake3.h"
#include "common/log.h"
#include "common/uuid.h"
#include "server/auth.h"

namespace pie::server {

namespace websocket = beast::websocket;
using protocol::EventCode;
using protocol::kChunkSize;
using Status = ChunkOutcome::Status;

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// Runs an EnginePort call, turning whatever it throws into the reply text.
template <class T, class Work>
Result<T> guarded(Work& work) {
  try {
    return Result<T>(work());
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    PIE_LOG(Error) << "engine call failed: " << e.what();
    return Error(std::string("Internal error: ") + e.what());
  }
}

// Fire-and-forget EnginePort calls (signal, blob, terminate): failures are logged, not answered.
template <class Work>
void logged(uint64_t session, const char* what, Work work) {
  try {
    work();
  } catch (const std::exception& e) {
    PIE_LOG(Warn) << "connection " << session << ": " << what << " failed: " << e.what();
  }
}

}  // namespace

EventCode event_code(TerminationCode code) {
  switch (code) {
    case TerminationCode::Normal:
      return EventCode::Completed;
    case TerminationCode::Signal:
      return EventCode::Aborted;
    case TerminationCode::Exception:
      return EventCode::Exception;
    case TerminationCode::SystemError:
      return EventCode::ServerError;
    case TerminationCode::OutOfResources:
      return EventCode::OutOfResources;
  }
  return EventCode::ServerError;
}

std::vector<std::string> blob_frames(const std::string& instance_id, std::string_view data) {
  const std::string hash = blake3_hex(data);
  const uint64_t total = protocol::chunk_count(data.size());
  std::vector<std::string> frames;
  frames.reserve(total);
  for (uint64_t i = 0; i < total; ++i) {
    frames.push_back(protocol::encode(protocol::ServerMessage{protocol::DownloadBlob{
        0, instance_id, hash, i, total, std::string(data.substr(i * kChunkSize, kChunkSize))}}));
  }
  return frames;
}

// --- InstanceLink ---

void InstanceLink::on_message(const std::string& instance_id, std::string message) {
  forward({protocol::encode(protocol::ServerMessage{protocol::InstanceEvent{
              instance_id, static_cast<uint32_t>(EventCode::Message), std::move(message)}})},
          false);
}

void InstanceLink::on_blob(const std::string& instance_id, std::string data) {
  forward(blob_frames(instance_id, data), false);
}

void InstanceLink::on_terminated(const std::string& instance_id, TerminationCode code,
                                 std::string message) {
  forward({protocol::encode(protocol::ServerMessage{protocol::InstanceEvent{
              instance_id, static_cast<uint32_t>(event_code(code)), std::move(message)}})},
          true);
}

void InstanceLink::forward(std::vector<std::string> frames, bool terminal) {
  gate_->post(session_, [self = shared_from_this(), frames = std::move(frames), terminal](
                            Session& s) mutable { s.deliver(*self, std::move(frames), terminal); });
}

// --- Session: connection lifecycle ---

Session::Session(net::ip::tcp::socket socket, ServerContext& ctx)
    : ws_(std::move(socket)),
      ctx_(ctx),
      id_(ctx.next_session_id++),
      authenticated_(!ctx.options.enable_auth),
      uploads_(ctx.options.limits.uploads),
      upload_timer_(ws_.get_executor()) {
  ++ctx_.connections;
}

Session::~Session() {
  std::lock_guard lock(ctx_.sessions_mutex);
  ctx_.sessions.erase(this);
  --ctx_.connections;
}

void Session::start() {
  {
    std::lock_guard lock(ctx_.sessions_mutex);
    if (ctx_.stopping) {
      post([self = shared_from_this()] { self->abort_connection(); });
      return;
    }
    ctx_.sessions[this] = weak_from_this();
  }
  post([self = shared_from_this()] {
    self->ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    self->ws_.read_message_max(self->ctx_.options.limits.max_frame_bytes);
    self->ws_.async_accept([self](beast::error_code ec) { self->on_accept(ec); });
  });
}

void Session::on_accept(beast::error_code ec) {
  if (ec) {
    on_closed("WebSocket handshake failed: " + ec.message());
    abort_connection();
    return;
  }
  accepted_ = true;
  if (closed_) {  // shut down while the handshake was in progress
    shut_down();
    return;
  }
  PIE_LOG(Debug) << "connection " << id_ << " open";
  read_next();
}

void Session::shut_down() {
  on_closed("server shutting down");
  if (!accepted_) {
    abort_connection();
    return;
  }
  websocket::stream_base::timeout quick{};
  quick.handshake_timeout = std::chrono::seconds(1);
  quick.idle_timeout = websocket::stream_base::none();
  quick.keep_alive_pings = false;
  ws_.set_option(quick);
  if (!close_sent_) {
    close_sent_ = true;
    ws_.async_close(websocket::close_code::going_away,
                    [self = shared_from_this()](beast::error_code) { self->abort_connection(); });
  }
}

void Session::abort_connection() {
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

void Session::on_closed(std::string_view why) {
  if (closed_) return;
  closed_ = true;
  PIE_LOG(Debug) << "connection " << id_ << " closed: " << why;
  upload_timer_.cancel();
  for (auto& [key, link] : owned_) {
    if (link->finished_) continue;
    link->finished_ = true;
    logged(id_, "terminating an instance", [&] {
      ctx_.engine.terminate_instance(link->instance_id_, TerminationCode::Exception,
                                     "socket terminated");
    });
  }
  owned_.clear();
}

// --- reading and dispatch ---

void Session::read_next() {
  if (closed_) return;
  ws_.async_read(buffer_,
                 [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
}

void Session::on_read(beast::error_code ec) {
  if (ec) {
    on_closed(ec == websocket::error::closed ? "closed by the client" : ec.message());
    abort_connection();
    return;
  }
  if (closed_) return;
  if (ws_.got_text()) {  // Pie ignores text frames
    buffer_.consume(buffer_.size());
    read_next();
    return;
  }
  std::optional<protocol::ClientMessage> message;
  try {
    const auto data = buffer_.data();
    message = protocol::decode_client_message(
        std::string_view(static_cast<const char*>(data.data()), data.size()));
  } catch (const Error& e) {
    PIE_LOG(Warn) << "connection " << id_ << ": ignoring a message: " << e.what();
  }
  buffer_.consume(buffer_.size());
  if (!message || handle(std::move(*message))) read_next();
}

bool Session::handle(protocol::ClientMessage message) {
  if (!authenticated_ && !std::holds_alternative<protocol::Authenticate>(message)) {
    if (const auto corr_id = protocol::corr_id_of(message)) {
      respond(*corr_id, false, "Not authenticated");
    }
    return true;
  }
  return std::visit(
      Overloaded{
          [&](protocol::Authenticate& m) { return on_authenticate(m); },
          [&](protocol::Query& m) { return on_query(std::move(m)); },
          [&](protocol::UploadProgram& m) { return on_upload_program(m); },
          [&](protocol::LaunchInstance& m) { return on_launch_instance(std::move(m)); },
          [&](protocol::LaunchServerInstance& m) {
            return on_launch_server_instance(std::move(m));
          },
          [&](protocol::SignalInstance& m) { return on_signal_instance(std::move(m)); },
          [&](protocol::UploadBlob& m) { return on_upload_blob(m); },
          [&](protocol::TerminateInstance& m) { return on_terminate_instance(m); },
          [&](protocol::AttachRemoteService& m) { return on_attach_remote_service(std::move(m)); },
      },
      message);
}

template <class T, class Work, class Then>
void Session::call_engine(Work work, Then then) {
  net::post(ctx_.workers,
            [self = shared_from_this(), work = std::move(work), then = std::move(then)]() mutable {
              Result<T> result = guarded<T>(work);
              self->post([self, result = std::move(result), then = std::move(then)]() mutable {
                then(std::move(result));
                self->read_next();
              });
            });
}

void Session::reply_from_engine(uint32_t corr_id, std::function<std::string()> work) {
  call_engine<std::string>(std::move(work), [this, corr_id](Result<std::string> r) {
    if (r.ok()) {
      respond(corr_id, true, std::move(r).value());
    } else {
      respond(corr_id, false, r.error().what());
    }
  });
}

// --- the flows of reference §3.5 ---

bool Session::on_authenticate(const protocol::Authenticate& m) {
  if (authenticated_) {
    respond(m.corr_id, true, "Already authenticated");
    return true;
  }
  auto claims = verify_token(ctx_.options.auth_secret, m.token);
  if (!claims.ok()) {
    PIE_LOG(Info) << "connection " << id_ << ": rejected a token: " << claims.error().what();
    respond(m.corr_id, false, "Invalid token");
    return true;
  }
  authenticated_ = true;
  respond(m.corr_id, true, std::move(claims).value().sub);
  return true;
}

bool Session::on_query(protocol::Query m) {
  if (m.subject == "program_exists") {
    reply_from_engine(m.corr_id, [this, hash = std::move(m.record)] {
      return std::string(ctx_.engine.program_exists(hash) ? "true" : "false");
    });
    return false;
  }
  if (m.subject == "model_status") {
    reply_from_engine(m.corr_id,
                      [this] { return nlohmann::json(ctx_.engine.model_status()).dump(); });
    return false;
  }
  respond(m.corr_id, false, "Unknown query subject");
  return true;
}

bool Session::on_upload_program(const protocol::UploadProgram& m) {
  ChunkOutcome out = uploads_.add(Chunk{UploadKind::Program, m.corr_id, m.program_hash,
                                        m.chunk_index, m.total_chunks, m.chunk_data},
                                  Clock::now());
  switch (out.status) {
    case Status::Pending:
      arm_upload_timer();
      return true;
    case Status::Failed:
      respond(m.corr_id, false, std::move(out.error));
      return true;
    case Status::Complete:
      break;
  }
  // The hash the content was verified against: later chunks may name another.
  reply_from_engine(m.corr_id, [this, hash = std::move(out.hash),
                                data = std::make_shared<std::string>(std::move(out.data))] {
    ctx_.engine.add_program(hash, std::move(*data));
    return hash;
  });
  return false;
}

bool Session::on_launch_instance(protocol::LaunchInstance m) {
  const uint32_t corr_id = m.corr_id;
  auto link = std::make_shared<InstanceLink>(weak_from_this(), ctx_.gate);
  call_engine<std::string>(
      [this, m = std::move(m), link]() mutable {
        return ctx_.engine.launch_instance(m.program_hash, std::move(m.arguments), link);
      },
      [this, corr_id, link](Result<std::string> r) {
        if (!r.ok()) {
          respond(corr_id, false, r.error().what());
          return;
        }
        if (closed_) {  // the client left while the instance started
          if (!link->pending_terminal_) {
            logged(id_, "terminating an instance", [&] {
              ctx_.engine.terminate_instance(r.value(), TerminationCode::Exception,
                                             "socket terminated");
            });
          }
          return;
        }
        respond(corr_id, true, r.value());
        activate(link, r.value());
      });
  return false;
}

bool Session::on_launch_server_instance(protocol::LaunchServerInstance m) {
  const uint32_t corr_id = m.corr_id;
  reply_from_engine(
      corr_id, [this, m = std::make_shared<protocol::LaunchServerInstance>(std::move(m))] {
        ctx_.engine.launch_server_instance(m->port, m->program_hash, std::move(m->arguments));
        return std::string("server launched");
      });
  return false;
}

bool Session::on_signal_instance(protocol::SignalInstance m) {
  if (const auto link = owned(m.instance_id)) {
    logged(id_, "signal_instance",
           [&] { ctx_.engine.signal_instance(link->instance_id_, std::move(m.message)); });
  }
  return true;
}

bool Session::on_upload_blob(const protocol::UploadBlob& m) {
  if (!canonical_uuid(m.instance_id)) {
    respond(m.corr_id, false, "Invalid instance_id: " + m.instance_id);
    return true;
  }
  const auto link = owned(m.instance_id);
  if (!link) {
    respond(m.corr_id, false, "Instance not owned by client: " + m.instance_id);
    return true;
  }
  ChunkOutcome out = uploads_.add(
      Chunk{UploadKind::Blob, m.corr_id, m.blob_hash, m.chunk_index, m.total_chunks, m.chunk_data},
      Clock::now());
  switch (out.status) {
    case Status::Pending:
      arm_upload_timer();
      return true;
    case Status::Failed:
      respond(m.corr_id, false, std::move(out.error));
      return true;
    case Status::Complete:
      break;
  }
  try {
    ctx_.engine.push_blob(link->instance_id_, std::move(out.data));
    respond(m.corr_id, true, "Blob sent to instance");
  } catch (const std::exception& e) {
    respond(m.corr_id, false, e.what());
  }
  return true;
}

bool Session::on_terminate_instance(const protocol::TerminateInstance& m) {
  if (const auto link = owned(m.instance_id)) {
    logged(id_, "terminate_instance", [&] {
      ctx_.engine.terminate_instance(link->instance_id_, TerminationCode::Signal,
                                     "Signal termination");
    });
  }
  return true;
}

bool Session::on_attach_remote_service(protocol::AttachRemoteService m) {
  const uint32_t corr_id = m.corr_id;
  reply_from_engine(
      corr_id, [this, m = std::make_shared<protocol::AttachRemoteService>(std::move(m))] {
        return ctx_.engine.attach_remote_service(m->endpoint, m->service_type, m->service_name);
      });
  return false;
}

// --- owned instances ---

void Session::activate(const std::shared_ptr<InstanceLink>& link, const std::string& instance_id) {
  link->instance_id_ = instance_id;
  link->key_ = canonical_uuid(instance_id).value_or(instance_id);
  link->active_ = true;
  owned_[link->key_] = link;
  for (auto& frame : std::exchange(link->pending_, {})) send(std::move(frame));
  if (link->pending_terminal_) {
    link->finished_ = true;
    owned_.erase(link->key_);
  }
}

void Session::deliver(InstanceLink& link, std::vector<std::string> frames, bool terminal) {
  if (closed_ || link.finished_) return;
  if (!link.active_) {
    for (auto& frame : frames) link.pending_.push_back(std::move(frame));
    link.pending_terminal_ = link.pending_terminal_ || terminal;
    return;
  }
  for (auto& frame : frames) send(std::move(frame));
  if (terminal) {
    link.finished_ = true;
    owned_.erase(link.key_);
  }
}

std::shared_ptr<InstanceLink> Session::owned(const std::string& instance_id) const {
  const auto key = canonical_uuid(instance_id);
  if (!key) return nullptr;
  const auto it = owned_.find(*key);
  return it == owned_.end() ? nullptr : it->second;
}

// --- writing ---

void Session::respond(uint32_t corr_id, bool successful, std::string result) {
  send(protocol::encode(
      protocol::ServerMessage{protocol::Response{corr_id, successful, std::move(result)}}));
}

void Session::send(std::string frame) {
  if (closed_) return;
  queued_bytes_ += frame.size();
  if (queued_bytes_ > ctx_.options.limits.max_queued_write_bytes) {
    PIE_LOG(Warn) << "connection " << id_ << ": client does not read its messages ("
                  << queued_bytes_ << " bytes queued); disconnecting it";
    on_closed("write queue limit exceeded");
    abort_connection();
    return;
  }
  write_queue_.push_back(std::move(frame));
  if (!writing_) write_next();
}

void Session::write_next() {
  writing_ = true;
  ws_.binary(true);
  ws_.async_write(net::buffer(write_queue_.front()),
                  [self = shared_from_this()](beast::error_code ec, size_t) {
                    self->writing_ = false;
                    if (ec) {
                      self->on_closed("write failed: " + ec.message());
                      self->abort_connection();
                      return;
                    }
                    self->queued_bytes_ -= self->write_queue_.front().size();
                    self->write_queue_.pop_front();
                    if (!self->write_queue_.empty() && !self->closed_) self->write_next();
                  });
}

// --- idle uploads ---

void Session::arm_upload_timer() {
  if (upload_timer_armed_ || uploads_.size() == 0) return;
  upload_timer_armed_ = true;
  upload_timer_.expires_at(uploads_.oldest_activity() + ctx_.options.limits.upload_idle_timeout);
  upload_timer_.async_wait(
      [self = shared_from_this()](beast::error_code ec) { self->on_upload_timer(ec); });
}

void Session::on_upload_timer(beast::error_code ec) {
  upload_timer_armed_ = false;
  if (ec || closed_) return;
  const auto idle = ctx_.options.limits.upload_idle_timeout;
  for (const uint32_t corr_id : uploads_.expire(Clock::now() - idle)) {
    respond(corr_id, false,
            "Upload timed out: no chunk for " + std::to_string(idle.count()) + " ms");
  }
  arm_upload_timer();
}

}  // namespace pie::server
