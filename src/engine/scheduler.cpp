#include "engine/scheduler.h"

#include <algorithm>

namespace pie::engine {

using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;

namespace {

// A completion that hands `result` to `done`, or, for a command without callback that failed,
// names the instance to end.
template <class T>
Completion completion_of(Callback<T>& done, Result<T> result, InstanceKey instance) {
  Completion c;
  if (done) {
    c.notify = [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    };
  } else if (!result.ok()) {
    c.failed_instance = instance;
    c.error = result.error().what();
  }
  return c;
}

bool uses_resources(const CommandBody& body) {
  return !std::holds_alternative<SyncCommand>(body) && !std::holds_alternative<QueryCommand>(body);
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options) : options_(options) {}

StreamId Scheduler::create_stream() {
  return next_stream_++;
}

Scheduler::Stream& Scheduler::stream(StreamId id) {
  if (id >= next_stream_) throw Error("unknown queue " + std::to_string(id));
  return streams_[id];
}

void Scheduler::set_priority(StreamId id, Priority priority) {
  Stream& s = stream(id);
  if (s.priority == priority) return;
  const bool was_ready = s.in_ready;
  unready(id, s);
  s.priority = priority;
  if (was_ready) {
    ready_[static_cast<size_t>(priority)].push_back(id);
    s.in_ready = true;
  }
  erase_if_idle(id);
}

void Scheduler::submit(StreamId id, InstanceKey instance, CommandBody body,
                       std::vector<Fence> after) {
  Stream& s = stream(id);
  const uint64_t seq = next_seq_++;
  if (uses_resources(body)) {
    outstanding_.insert(seq);
    outstanding_by_instance_[instance].insert(seq);
  }
  if (instance != 0) s.owner = instance;
  returning_.erase(id);
  s.queue.push_back(Entry{seq, instance, std::move(body), 0, nullptr, std::move(after)});
  if (s.queue.size() == 1 && !s.busy) woken_.push_back(id);
}

void Scheduler::pump(Work& work, Clock::time_point now) {
  for (auto it = fenced_.begin(); it != fenced_.end();) {
    auto s = streams_.find(*it);
    const bool waits = s != streams_.end() && !s->second.queue.empty() &&
                       !all_passed(s->second.queue.front().after);
    if (waits) {
      ++it;
      continue;
    }
    woken_.push_back(*it);
    it = fenced_.erase(it);
  }
  std::vector<StreamId> woken;
  woken.swap(woken_);
  for (StreamId id : woken) {
    auto it = streams_.find(id);
    if (it != streams_.end()) advance(id, it->second, work);
  }
  if (in_flight_ || (!returning_.empty() && now < gather_until_)) return;
  returning_.clear();
  assemble(work);
  if (in_flight_) sent_at_ = now;
}

std::optional<Scheduler::Clock::time_point> Scheduler::wake_at() const {
  if (in_flight_ || returning_.empty()) return std::nullopt;
  return gather_until_;
}

void Scheduler::advance(StreamId id, Stream& s, Work& work) {
  while (!s.busy && !s.queue.empty()) {
    Entry& head = s.queue.front();
    if (auto* sync = std::get_if<SyncCommand>(&head.body)) {
      work.completions.push_back(completion_of<Done>(sync->done, Done{}, 0));
      forget(head);
      s.queue.pop_front();
      continue;
    }
    if (!all_passed(head.after)) {
      fenced_.insert(id);
      return;
    }
    if (std::holds_alternative<ForwardCommand>(head.body)) {
      if (!s.in_ready) {
        ready_[static_cast<size_t>(s.priority)].push_back(id);
        s.in_ready = true;
      }
      return;
    }
    s.busy = true;
    Immediate im{id, std::string()};
    if (auto* q = std::get_if<QueryCommand>(&head.body)) {
      im.payload = std::move(q->query);
    } else if (auto* e = std::get_if<EmbedImageCommand>(&head.body)) {
      im.payload = std::move(e->request);
    } else if (auto* a = std::get_if<InitializeAdapterCommand>(&head.body)) {
      im.payload = std::move(a->request);
    } else {
      im.payload = std::move(std::get<UpdateAdapterCommand>(head.body).request);
    }
    work.immediates.push_back(std::move(im));
    return;
  }
  erase_if_idle(id);
}

uint32_t Scheduler::pass_size(const Entry& e, bool& splittable) const {
  const ForwardPassRequest& r = std::get<ForwardCommand>(e.body).request;
  splittable = can_split(r, options_.page_size);
  return splittable ? static_cast<uint32_t>(r.input_tokens.size()) : pass_tokens(r);
}

void Scheduler::take(StreamId id, uint32_t end, Work& work, std::vector<InFlight>& entries) {
  Stream& s = streams_.at(id);
  Entry& e = s.queue.front();
  ForwardCommand& f = std::get<ForwardCommand>(e.body);
  bool splittable = false;
  const uint32_t total = pass_size(e, splittable);
  const bool whole = e.sent == 0 && end == total;
  if (whole) {
    work.batch.push_back(std::move(f.request));
  } else {
    if (!e.partial) e.partial = std::make_unique<ChunkedResponse>(f.request);
    work.batch.push_back(chunk_of(f.request, e.sent, end, options_.page_size));
  }
  stats_.tokens += end - e.sent;
  entries.push_back(InFlight{id, e.sent, end, whole});
  s.in_ready = false;
  s.busy = true;
}

// Takes the ready passes that fit whole, by priority then readiness; then cuts the first pass
// that did not fit to fill what is left of the budget. A pass that cannot be cut and does not fit
// is passed over, unless it is first in line: then it runs, alone.
void Scheduler::assemble(Work& work) {
  std::vector<InFlight> entries;
  uint32_t budget = std::max<uint32_t>(options_.max_batch_tokens, 1);
  std::optional<StreamId> cut;
  bool first = true;
  for (size_t p = ready_.size(); p-- > 0 && budget > 0;) {
    std::deque<StreamId>& ready = ready_[p];
    for (auto it = ready.begin(); it != ready.end() && budget > 0;) {
      const Entry& e = streams_.at(*it).queue.front();
      bool splittable = false;
      const uint32_t left = pass_size(e, splittable) - e.sent;
      if (left <= budget || (first && !splittable)) {
        take(*it, e.sent + left, work, entries);
        budget -= std::min(budget, left);
        it = ready.erase(it);
      } else {
        if (splittable && !cut) cut = *it;
        ++it;
      }
      first = false;
    }
  }
  if (cut && budget > 0) {
    Stream& s = streams_.at(*cut);
    std::deque<StreamId>& ready = ready_[static_cast<size_t>(s.priority)];
    ready.erase(std::find(ready.begin(), ready.end(), *cut));
    take(*cut, s.queue.front().sent + budget, work, entries);
  }
  if (entries.empty()) return;
  ++stats_.batches;
  stats_.requests += entries.size();
  in_flight_ = std::move(entries);
}

void Scheduler::batch_done(Result<std::vector<ForwardPassResponse>> result, Work& work,
                           Clock::time_point now) {
  std::vector<InFlight> entries = std::move(*in_flight_);
  in_flight_.reset();
  returning_.clear();
  gather_until_ = now + std::min<Clock::duration>(options_.max_gather, (now - sent_at_) / 8);
  for (const InFlight& f : entries) {
    // A caller waiting for this pass's result will likely send its next command at once.
    const Entry& e = streams_.at(f.stream).queue.front();
    const ForwardCommand& c = std::get<ForwardCommand>(e.body);
    const bool last = f.whole || f.end == c.request.input_tokens.size();
    if (c.done && last) returning_.insert(f.stream);
  }
  if (result.ok() && result.value().size() != entries.size()) {
    result = Error("the backend answered a batch of " + std::to_string(entries.size()) +
                   " forward passes with " + std::to_string(result.value().size()) + " responses");
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    Stream& s = streams_.at(entries[i].stream);
    s.busy = false;
    if (result.ok()) {
      finish_forward(entries[i], std::move(result.value()[i]), work);
    } else {
      fail_entry(s.queue.front(), result.error().what(), work, true);
      s.queue.pop_front();
    }
    woken_.push_back(entries[i].stream);
  }
}

void Scheduler::finish_forward(const InFlight& f, ForwardPassResponse response, Work& work) {
  Stream& s = streams_.at(f.stream);
  Entry& e = s.queue.front();
  if (response.error) {
    complete_head<ForwardPassResponse>(s, Error(*response.error), work);
    return;
  }
  if (f.whole) {
    complete_head<ForwardPassResponse>(s, std::move(response), work);
    return;
  }
  try {
    e.partial->add(f.begin, f.end, std::move(response));
  } catch (const Error& error) {
    complete_head<ForwardPassResponse>(s, error, work);
    return;
  }
  e.sent = f.end;
  if (e.sent == std::get<ForwardCommand>(e.body).request.input_tokens.size()) {
    complete_head<ForwardPassResponse>(s, e.partial->finish(), work);
  }
}

void Scheduler::immediate_done(StreamId id, Result<std::string> result, Work& work) {
  Stream& s = streams_.at(id);
  s.busy = false;
  complete_head<std::string>(s, std::move(result), work);
  woken_.push_back(id);
}

template <class T>
void Scheduler::complete_head(Stream& s, Result<T> result, Work& work) {
  Entry& e = s.queue.front();
  if constexpr (std::is_same_v<T, ForwardPassResponse>) {
    ++stats_.passes;
    work.completions.push_back(
        completion_of(std::get<ForwardCommand>(e.body).done, std::move(result), e.instance));
  } else if (auto* q = std::get_if<QueryCommand>(&e.body)) {
    work.completions.push_back(completion_of(q->done, std::move(result), e.instance));
  } else if (!result.ok()) {
    work.completions.push_back(Completion{{}, e.instance, result.error().what()});
  }
  forget(e);
  s.queue.pop_front();
}

void Scheduler::fail_entry(Entry& e, const std::string& reason, Work& work, bool end_instance) {
  Completion c;
  std::visit(
      [&](auto& body) {
        if constexpr (requires { body.done; }) {
          if (body.done) {
            c.notify = [done = std::move(body.done), reason]() { done(Error(reason)); };
          }
        }
      },
      e.body);
  if (!c.notify && end_instance && e.instance != 0) {
    c.failed_instance = e.instance;
    c.error = reason;
  }
  if (c.notify || c.failed_instance != 0) work.completions.push_back(std::move(c));
  forget(e);
}

void Scheduler::forget(const Entry& e) {
  if (outstanding_.erase(e.seq) == 0) return;
  auto it = outstanding_by_instance_.find(e.instance);
  if (it == outstanding_by_instance_.end()) return;
  it->second.erase(e.seq);
  if (it->second.empty()) outstanding_by_instance_.erase(it);
}

void Scheduler::drop_instance(InstanceKey instance, const std::string& reason, Work& work) {
  std::vector<StreamId> ids;
  for (auto& [id, s] : streams_) {
    if (s.owner == instance) returning_.erase(id);
    const size_t keep = s.busy ? 1 : 0;  // the head is running: it completes normally
    std::deque<Entry> kept;
    for (size_t i = 0; i < s.queue.size(); ++i) {
      if (i < keep || s.queue[i].instance != instance) {
        kept.push_back(std::move(s.queue[i]));
      } else {
        fail_entry(s.queue[i], reason, work, false);
      }
    }
    s.queue = std::move(kept);
    if (!s.busy) unready(id, s);
    ids.push_back(id);
  }
  for (StreamId id : ids) {
    Stream& s = streams_.at(id);
    if (s.owner == instance && s.queue.empty() && !s.busy) {
      streams_.erase(id);
    } else if (!s.busy) {
      woken_.push_back(id);
    }
  }
}

void Scheduler::drop_all(const std::string& reason, Work& work) {
  for (auto& [id, s] : streams_) {
    const size_t keep = s.busy ? 1 : 0;
    while (s.queue.size() > keep) {
      fail_entry(s.queue.back(), reason, work, false);
      s.queue.pop_back();
    }
    s.in_ready = false;
  }
  for (auto& ready : ready_) ready.clear();
}

bool Scheduler::all_passed(const std::vector<Fence>& fences) const {
  return std::all_of(fences.begin(), fences.end(), [this](const Fence& f) { return passed(f); });
}

bool Scheduler::passed(const Fence& fence) const {
  const std::set<uint64_t>* seqs = &outstanding_;
  if (fence.instance != 0) {
    auto it = outstanding_by_instance_.find(fence.instance);
    if (it == outstanding_by_instance_.end()) return true;
    seqs = &it->second;
  }
  return seqs->empty() || *seqs->begin() >= fence.seq;
}

void Scheduler::unready(StreamId id, Stream& s) {
  if (!s.in_ready) return;
  std::deque<StreamId>& ready = ready_[static_cast<size_t>(s.priority)];
  ready.erase(std::find(ready.begin(), ready.end(), id));
  s.in_ready = false;
}

void Scheduler::erase_if_idle(StreamId id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  const Stream& s = it->second;
  if (s.queue.empty() && !s.busy && s.priority == Priority::Normal) streams_.erase(it);
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats out = stats_;
  for (const auto& [id, s] : streams_) out.queued += s.queue.size() - (s.busy ? 1 : 0);
  return out;
}

}  // namespace pie::engine
