// One client connection: its WebSocket, authentication state, uploads, owned instances and write
// queue. Everything here runs on the connection's strand; EnginePort calls that may block run on
// the server's worker pool, and the connection reads nothing more until their reply is sent, so
// requests are answered in order as Pie does.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "protocol/client_messages.h"
#include "server/engine_port.h"
#include "server/server.h"
#include "server/uploads.h"

namespace pie::server {

namespace net = boost::asio;
namespace beast = boost::beast;

class Session;
class InstanceLink;

// Lets engine threads post work to a session until the server shuts its network loop down.
class Gate {
 public:
  // Runs f(session) on the session's strand, if both the session and the server still live.
  template <class F>
  void post(const std::weak_ptr<Session>& session, F f);
  void close() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }

 private:
  std::mutex mutex_;
  bool open_ = true;
};

struct ServerContext {
  ServerContext(ServerOptions o, EnginePort& e)
      : options(std::move(o)), engine(e), workers(std::max(1U, options.engine_threads)) {}

  ServerOptions options;
  EnginePort& engine;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::atomic<size_t> connections{0};
  std::atomic<uint64_t> next_session_id{1};
  std::mutex sessions_mutex;
  std::map<const Session*, std::weak_ptr<Session>> sessions;  // guarded by sessions_mutex
  bool stopping = false;                                      // guarded by sessions_mutex
  net::thread_pool workers;
  // Declared last so it is destroyed first, together with the sessions its handlers still hold.
  net::io_context ioc;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(net::ip::tcp::socket socket, ServerContext& ctx);
  ~Session();

  void start();
  // Closes the connection from the server side (shutdown), ending the instances it owns.
  void shut_down();

  template <class F>
  void post(F f) {
    net::post(ws_.get_executor(), std::move(f));
  }

  // What an owned instance produced (frames already encoded), possibly its termination.
  void deliver(InstanceLink& link, std::vector<std::string> frames, bool terminal);

 private:
  using Clock = UploadTable::Clock;

  void on_accept(beast::error_code ec);
  void read_next();
  void on_read(beast::error_code ec);
  // Returns false when the reply comes later from the worker pool (reading pauses until then).
  bool handle(protocol::ClientMessage message);

  bool on_authenticate(const protocol::Authenticate& m);
  bool on_query(protocol::Query m);
  bool on_upload_program(const protocol::UploadProgram& m);
  bool on_launch_instance(protocol::LaunchInstance m);
  bool on_launch_server_instance(protocol::LaunchServerInstance m);
  bool on_signal_instance(protocol::SignalInstance m);
  bool on_upload_blob(const protocol::UploadBlob& m);
  bool on_terminate_instance(const protocol::TerminateInstance& m);
  bool on_attach_remote_service(protocol::AttachRemoteService m);

  // Runs `work` (returning T) on the worker pool, then `then(Result<T>)` back on the strand.
  template <class T, class Work, class Then>
  void call_engine(Work work, Then then);
  // call_engine for the common case: success replies with the returned text, failure with the
  // error's.
  void reply_from_engine(uint32_t corr_id, std::function<std::string()> work);
  void activate(const std::shared_ptr<InstanceLink>& link, const std::string& instance_id);
  // The owned instance with this id, given in any UUID form; null when not owned.
  std::shared_ptr<InstanceLink> owned(const std::string& instance_id) const;

  void respond(uint32_t corr_id, bool successful, std::string result);
  void send(std::string frame);
  void write_next();
  void arm_upload_timer();
  void on_upload_timer(beast::error_code ec);
  // Called once when the connection ends, whatever ended it.
  void on_closed(std::string_view why);
  void abort_connection();

  beast::websocket::stream<beast::tcp_stream> ws_;
  ServerContext& ctx_;
  const uint64_t id_;
  beast::flat_buffer buffer_;
  bool authenticated_ = false;
  bool accepted_ = false;  // WebSocket handshake done
  bool closed_ = false;    // on_closed ran: nothing more is read, sent or owned
  bool close_sent_ = false;
  UploadTable uploads_;
  net::steady_timer upload_timer_;
  bool upload_timer_armed_ = false;
  std::map<std::string, std::shared_ptr<InstanceLink>> owned_;  // canonical id -> link
  std::deque<std::string> write_queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
};

// The InstanceOwner of one launched instance: turns what the engine reports into frames, on the
// caller's thread, and hands them to the session's strand.
class InstanceLink : public InstanceOwner, public std::enable_shared_from_this<InstanceLink> {
 public:
  InstanceLink(std::weak_ptr<Session> session, std::shared_ptr<Gate> gate)
      : session_(std::move(session)), gate_(std::move(gate)) {}

  void on_message(const std::string& instance_id, std::string message) override;
  void on_blob(const std::string& instance_id, std::string data) override;
  void on_terminated(const std::string& instance_id, TerminationCode code,
                     std::string message) override;

 private:
  friend class Session;
  void forward(std::vector<std::string> frames, bool terminal);

  std::weak_ptr<Session> session_;
  std::shared_ptr<Gate> gate_;
  // Strand-only state. Until the launch reply is sent, what the instance produces waits here so
  // the client learns the instance id before its first event.
  std::string instance_id_;  // as the engine returned it
  std::string key_;          // canonical form, the key in Session::owned_
  bool active_ = false;
  bool finished_ = false;
  std::vector<std::string> pending_;
  bool pending_terminal_ = false;
};

template <class F>
void Gate::post(const std::weak_ptr<Session>& session, F f) {
  std::lock_guard lock(mutex_);
  if (!open_) return;
  if (auto s = session.lock()) s->post([s, f = std::move(f)]() mutable { f(*s); });
}

// The client's event code for how an instance ended (reference §3.4, Appendix B #9).
protocol::EventCode event_code(TerminationCode code);

// The download_blob frames of one blob: at least one chunk, so an empty blob still arrives.
std::vector<std::string> blob_frames(const std::string& instance_id, std::string_view data);

}  // namespace pie::server
