// The command queues and the forward-pass batcher of one model (reference §4.7, with the
// recommended fixes). Pure state: the model service calls it under its lock and carries out the
// Work it returns (sends, callbacks, terminations) after unlocking.
//
// Rules:
// * Per stream, commands of every kind run in submission order, one at a time: a command is
//   dispatched only once the one before it on its stream has completed (a synchronize resolves
//   after the forward passes before it ran; a query waits for them too).
// * Forward passes are batched across streams, one batch in flight: while it runs, the next one
//   accumulates, and it goes the moment the previous one completes — except that it waits, for at
//   most a gather window, for the streams whose callers just got a result from the batch that
//   completed and have not sent their next command yet. Without that wait, streams decoding in
//   lockstep split into a batch of the first one back and a batch of all the others. The window
//   is an eighth of the last batch's duration, capped (SchedulerOptions::max_gather), so a caller
//   that does not come back costs at most that much idle time.
// * A batch takes the ready heads by priority (high first), in the order they became ready, up to
//   a token budget: first the passes that fit whole, then the first pass that did not fit, cut
//   (chunked prefill) to fill the budget, its remainder going in later batches. A pass that
//   cannot be cut and does not fit waits until it is first in line, then runs alone.
// * Resolving a synchronize sends nothing to the backend; queries, image embeddings and adapter
//   commands are sent on their own as soon as they reach the head of their stream.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "engine/ids.h"
#include "engine/pass_chunks.h"
#include "engine/resource_manager.h"
#include "protocol/backend_messages.h"

namespace pie::engine {

struct ForwardCommand {
  protocol::ForwardPassRequest request;
  Callback<protocol::ForwardPassResponse> done;  // empty: a failure ends the instance
};
struct SyncCommand {
  Callback<Done> done;
};
struct QueryCommand {
  std::string query;
  Callback<std::string> done;
};
// Commands with no reply from the backend: a failure the link learns of ends the instance.
struct EmbedImageCommand {
  protocol::EmbedImageRequest request;
};
struct InitializeAdapterCommand {
  protocol::InitializeAdapterRequest request;
};
struct UpdateAdapterCommand {
  protocol::UpdateAdapterRequest request;
};
using CommandBody = std::variant<ForwardCommand, SyncCommand, QueryCommand, EmbedImageCommand,
                                 InitializeAdapterCommand, UpdateAdapterCommand>;

// A non-batched command to send now; its outcome goes back through Scheduler::immediate_done.
struct Immediate {
  StreamId stream = 0;
  std::variant<std::string, protocol::EmbedImageRequest, protocol::InitializeAdapterRequest,
               protocol::UpdateAdapterRequest>
      payload;  // a query's text, or the request
};

// A command that has ended.
struct Completion {
  std::function<void()> notify;     // runs its callback with the outcome; empty if it has none
  InstanceKey failed_instance = 0;  // a command without callback failed: the instance to end
  std::string error;
};

// What the caller must do once it has released its lock.
struct Work {
  std::vector<protocol::ForwardPassRequest> batch;  // non-empty: send it, then call batch_done
  std::vector<Immediate> immediates;
  std::vector<Completion> completions;
};

struct SchedulerStats {
  uint64_t batches = 0;
  uint64_t requests = 0;  // forward-pass requests sent (a chunk counts as one)
  uint64_t tokens = 0;    // input tokens sent
  uint64_t passes = 0;    // forward passes completed (however many chunks)
  uint64_t queued = 0;    // commands waiting, not yet sent
};

struct SchedulerOptions {
  uint32_t page_size = 0;            // the model's KV page size (0: passes are never cut)
  uint32_t max_batch_tokens = 4096;  // token budget of one batch
  std::chrono::microseconds max_gather{10000};  // longest gather window; 0: none
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Scheduler(SchedulerOptions options);

  StreamId create_stream();
  bool knows(StreamId stream) const { return stream < next_stream_; }
  // Throws pie::Error for a stream this scheduler never created.
  void set_priority(StreamId stream, Priority priority);

  // Queues `body` on `stream` for `instance` (0: none, for synchronize and query); it is not
  // sent before every fence of `after` has passed. Throws pie::Error for an unknown stream.
  void submit(StreamId stream, InstanceKey instance, CommandBody body,
              std::vector<Fence> after = {});

  // Moves what can go now into `work`: resolved synchronizations, immediates, and the next batch
  // when none is in flight and no gather window is open.
  void pump(Work& work, Clock::time_point now = Clock::now());
  // The outcome of the batch last put in a Work.
  void batch_done(Result<std::vector<protocol::ForwardPassResponse>> result, Work& work,
                  Clock::time_point now = Clock::now());
  // When pump must be called again although nothing else happens: the end of an open gather
  // window.
  std::optional<Clock::time_point> wake_at() const;
  // The outcome of an immediate of `stream` (a query's value; empty for the others).
  void immediate_done(StreamId stream, Result<std::string> result, Work& work);
  // Drops every waiting command of `instance`; their callbacks get Error(reason). Commands
  // already sent complete normally.
  void drop_instance(InstanceKey instance, const std::string& reason, Work& work);
  // Drops every waiting command (shutdown).
  void drop_all(const std::string& reason, Work& work);

  // The number the next command will get: a fence taken now covers every command before it.
  uint64_t next_seq() const { return next_seq_; }
  // Whether every resource-using command (forward pass, image, adapter) of the fence's instance
  // (or of all) numbered below its seq has completed or been dropped.
  bool passed(const Fence& fence) const;
  bool all_passed(const std::vector<Fence>& fences) const;
  bool batch_in_flight() const { return in_flight_.has_value(); }
  SchedulerStats stats() const;

 private:
  struct Entry {
    uint64_t seq = 0;
    InstanceKey instance = 0;
    CommandBody body;
    uint32_t sent = 0;                         // forward: input tokens already run
    std::unique_ptr<ChunkedResponse> partial;  // forward, when cut into chunks
    std::vector<Fence> after;                  // must pass before it is sent
  };
  struct Stream {
    std::deque<Entry> queue;
    Priority priority = Priority::Normal;
    bool busy = false;      // its head has been sent
    bool in_ready = false;  // its head is a forward pass waiting in ready_
    InstanceKey owner = 0;  // the instance of its last command
  };
  struct InFlight {
    StreamId stream;
    uint32_t begin;
    uint32_t end;
    bool whole;
  };

  Stream& stream(StreamId id);
  void advance(StreamId id, Stream& s, Work& work);
  void assemble(Work& work);
  // Tokens of the pass at the head of a stream (input tokens when it can be cut).
  uint32_t pass_size(const Entry& e, bool& splittable) const;
  // Puts input tokens [sent, end) of the head pass of `id` into the batch.
  void take(StreamId id, uint32_t end, Work& work, std::vector<InFlight>& entries);
  void finish_forward(const InFlight& f, protocol::ForwardPassResponse response, Work& work);
  // Ends the head of `s` with `result` (a forward pass's response, a query's value, or Done).
  template <class T>
  void complete_head(Stream& s, Result<T> result, Work& work);
  void fail_entry(Entry& e, const std::string& reason, Work& work, bool end_instance);
  void forget(const Entry& e);
  void unready(StreamId id, Stream& s);
  void erase_if_idle(StreamId id);

  const SchedulerOptions options_;
  StreamId next_stream_ = 0;
  uint64_t next_seq_ = 1;
  std::unordered_map<StreamId, Stream> streams_;
  std::array<std::deque<StreamId>, 3> ready_;  // by Priority
  std::vector<StreamId> woken_;                // streams whose head may be able to go
  std::set<StreamId> fenced_;                  // streams whose head waits for its fences
  std::optional<std::vector<InFlight>> in_flight_;
  Clock::time_point sent_at_;  // when the batch in flight was assembled
  // The gather window: streams whose caller got a result from the last batch and has not sent
  // anything since, and until when the next batch waits for them.
  std::set<StreamId> returning_;
  Clock::time_point gather_until_;
  std::set<uint64_t> outstanding_;  // resource-using commands not yet completed
  std::unordered_map<InstanceKey, std::set<uint64_t>> outstanding_by_instance_;
  SchedulerStats stats_;
};

}  // namespace pie::engine
