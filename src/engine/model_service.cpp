#include "engine/model_service.h"

#include <condition_variable>
#include <iomanip>
#include <list>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "backend/tokenizer/loaders.h"
#include "backend/tokenizer/tokenizer.h"
#include "common/log.h"
#include "engine/backend_link.h"
#include "engine/resource_manager.h"
#include "engine/scheduler.h"

namespace pie::engine {

using Clock = std::chrono::steady_clock;
using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;

namespace {

const char* const kShuttingDown = "the model service is shutting down";

ModelInfo model_info(std::string name, const protocol::HandshakeResponse& h) {
  ModelInfo info;
  info.name = name.empty() ? h.model_name : std::move(name);
  info.description = h.model_description;
  info.prompt_template = h.prompt_template;
  info.prompt_template_type = h.prompt_template_type;
  info.traits = h.model_traits;
  info.stop_tokens = h.prompt_stop_tokens;
  info.kv_page_size = h.kv_page_size;
  info.max_dist_size = h.max_dist_size.value_or(0);
  info.capacities = h.resources;
  try {
    if (h.tokenizer_spec) {
      info.tokenizer = std::make_shared<const tokenizer::Tokenizer>(
          tokenizer::TokenizerSpec::deserialize(*h.tokenizer_spec));
    } else if (!h.tokenizer_merge_table.empty()) {
      info.tokenizer = std::make_shared<const tokenizer::Tokenizer>(tokenizer::from_tiktoken_tables(
          h.tokenizer_merge_table, h.tokenizer_special_tokens, h.tokenizer_split_regex,
          h.tokenizer_escape_non_printable));
    }
  } catch (const Error& e) {
    throw Error("the backend of model '" + info.name +
                "' sent a tokenizer that does not build: " + e.what());
  }
  return info;
}

}  // namespace

struct ModelService::Impl {
  struct Waiter {
    InstanceKey instance;
    uint32_t count;
    Callback<std::vector<uint32_t>> done;
    std::optional<Clock::time_point> deadline;  // when it may resort to terminating newer instances
  };
  // What to do once the lock is released.
  struct Actions {
    Work work;
    std::vector<std::function<void()>> calls;
  };

  std::unique_ptr<BackendLink> link;
  const ModelServiceOptions options;
  const InstanceTerminator terminator;
  ModelInfo info;

  std::mutex mutex;
  ResourceManager resources;
  Scheduler scheduler;
  std::map<ResourceType, std::list<Waiter>> waiters;
  std::unordered_set<InstanceKey> ended;  // terminated by this service, not yet cleaned up
  bool stopping = false;
  std::condition_variable timer_wake;
  std::thread timer;

  Impl(std::unique_ptr<BackendLink> l, ModelServiceOptions o, InstanceTerminator t, ModelInfo model)
      : link(std::move(l)),
        options(o),
        terminator(std::move(t)),
        info(std::move(model)),
        resources(info.capacities),
        scheduler(
            SchedulerOptions{info.kv_page_size, options.max_batch_tokens, options.max_gather}),
        timer([this] { timer_loop(); }) {}

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    timer_wake.notify_all();
    timer.join();
    link.reset();  // fails what is in flight; nothing new is sent while stopping
    Actions a;
    {
      std::lock_guard lock(mutex);
      scheduler.drop_all(kShuttingDown, a.work);
      for (auto& [type, list] : waiters) {
        for (Waiter& w : list) fail_call(a, std::move(w.done), kShuttingDown);
      }
      waiters.clear();
    }
    run(a);
  }

  // ---- Carrying out -----------------------------------------------------------------------------

  void run(Actions& a) {
    if (!a.work.batch.empty()) {
      link->forward_pass(
          std::move(a.work.batch),
          [this](Result<std::vector<ForwardPassResponse>> r) { on_batch(std::move(r)); });
    }
    for (Immediate& im : a.work.immediates) send_immediate(im);
    for (Completion& c : a.work.completions) {
      if (c.notify) {
        c.notify();
      } else if (c.failed_instance != 0) {
        terminator(c.failed_instance, kTerminateException, c.error);
      }
    }
    for (auto& call : a.calls) call();
  }

  void send_immediate(Immediate& im) {
    const StreamId stream = im.stream;
    auto done = [this, stream](Result<Done> r) {
      on_immediate(stream, r.ok() ? Result<std::string>(std::string()) : r.error());
    };
    if (auto* q = std::get_if<std::string>(&im.payload)) {
      link->query(protocol::QueryRequest{std::move(*q)}, [this, stream](
                                                             Result<protocol::QueryResponse> r) {
        on_immediate(stream, r.ok() ? Result<std::string>(std::move(r.value().value)) : r.error());
      });
    } else if (auto* e = std::get_if<protocol::EmbedImageRequest>(&im.payload)) {
      link->embed_image(std::move(*e), done);
    } else if (auto* i = std::get_if<protocol::InitializeAdapterRequest>(&im.payload)) {
      link->initialize_adapter(std::move(*i), done);
    } else {
      link->update_adapter(std::move(std::get<protocol::UpdateAdapterRequest>(im.payload)), done);
    }
  }

  template <class T>
  static void fail_call(Actions& a, Callback<T> done, const std::string& why) {
    if (done) a.calls.push_back([done = std::move(done), why] { done(Error(why)); });
  }

  // ---- Reactions --------------------------------------------------------------------------------

  void on_batch(Result<std::vector<ForwardPassResponse>> result) {
    Actions a;
    {
      std::lock_guard lock(mutex);
      scheduler.batch_done(std::move(result), a.work);
      progress(a);
    }
    run(a);
  }

  void on_immediate(StreamId stream, Result<std::string> result) {
    Actions a;
    {
      std::lock_guard lock(mutex);
      scheduler.immediate_done(stream, std::move(result), a.work);
      progress(a);
    }
    run(a);
  }

  // After anything that may free ids or unblock a stream: return fenced ids whose commands have
  // run, serve waiting allocations, and start what can start.
  void progress(Actions& a) {
    resources.release_passed([this](const Fence& f) { return scheduler.passed(f); });
    for (auto& [type, list] : waiters) serve(type, a);
    if (stopping) return;
    scheduler.pump(a.work);
    if (scheduler.wake_at()) timer_wake.notify_one();
  }

  void timer_loop() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      std::optional<Clock::time_point> next = scheduler.wake_at();
      for (const auto& [type, list] : waiters) {
        if (!list.empty() && list.front().deadline) {
          next = next ? std::min(*next, *list.front().deadline) : *list.front().deadline;
        }
      }
      if (next) {
        timer_wake.wait_until(lock, *next);
      } else {
        timer_wake.wait(lock);
      }
      if (stopping) break;
      Actions a;
      progress(a);
      lock.unlock();
      run(a);
      lock.lock();
    }
  }

  // ---- Resources --------------------------------------------------------------------------------

  // Serves the waiting allocations of `type` first come, first served. A waiter whose deadline has
  // passed terminates newer instances, newest first, if that frees enough, or fails.
  void serve(ResourceType type, Actions& a) {
    std::list<Waiter>& list = waiters[type];
    while (!list.empty()) {
      Waiter& w = list.front();
      if (resources.available(type) >= w.count) {
        std::vector<uint32_t> ids = resources.allocate(w.instance, type, w.count);
        a.calls.push_back(
            [done = std::move(w.done), ids = std::move(ids)]() mutable { done(std::move(ids)); });
        list.pop_front();
        continue;
      }
      if (!w.deadline || Clock::now() < *w.deadline) return;
      const auto victims = resources.owners_newer_than(type, w.instance);
      uint64_t reachable = uint64_t{resources.available(type)} + resources.pending(type);
      for (const auto& [victim, owned] : victims) reachable += owned;
      if (reachable < w.count) {
        const std::string why = "out of resources: " + std::to_string(w.count) + " " +
                                resource_noun(type) + "s requested, " +
                                std::to_string(resources.available(type)) +
                                " free, and terminating every newer instance would not free enough";
        const InstanceKey requester = w.instance;
        Callback<std::vector<uint32_t>> done = std::move(w.done);
        list.pop_front();
        terminate(requester, why, a);
        fail_call(a, std::move(done), why);
        continue;
      }
      w.deadline.reset();  // from now on it only waits for the victims' ids
      uint64_t freed = uint64_t{resources.available(type)} + resources.pending(type);
      for (const auto& [victim, owned] : victims) {
        if (freed >= w.count) break;
        terminate(victim, "Terminated by OOM killer for an older instance", a);
        freed += owned;
      }
      resources.release_passed([this](const Fence& f) { return scheduler.passed(f); });
    }
  }

  // Ends `instance` on this model: its commands and allocations are dropped, its ids freed (once
  // its running commands complete), and the runtime is asked to terminate it.
  void terminate(InstanceKey instance, const std::string& why, Actions& a) {
    ended.insert(instance);
    release_instance(instance, "the instance was terminated: " + why, a);
    a.calls.push_back(
        [this, instance, why] { terminator(instance, kTerminateOutOfResources, why); });
  }

  void release_instance(InstanceKey instance, const std::string& reason, Actions& a) {
    scheduler.drop_instance(instance, reason, a.work);
    for (auto& [type, list] : waiters) {
      for (auto it = list.begin(); it != list.end();) {
        if (it->instance != instance) {
          ++it;
          continue;
        }
        fail_call(a, std::move(it->done), reason);
        it = list.erase(it);
      }
    }
    const Fence fence{instance, scheduler.next_seq()};
    for (auto& [type, ids] : resources.disown_all(instance)) {
      resources.free_after(type, std::move(ids), fence);
    }
  }

  // Why `instance` may not name every id of `ids`, or nothing; adds the fences of the exports
  // among them to `after`.
  std::optional<std::string> check_ids(InstanceKey instance, ResourceType type,
                                       std::span<const uint32_t> ids,
                                       std::vector<Fence>& after) const {
    for (uint32_t id : ids) {
      if (!resources.can_use(instance, type, id)) {
        return "the command names " + resource_noun(type) + " " + std::to_string(id) +
               ", which this instance neither holds nor imported";
      }
    }
    resources.fences_for(type, ids, after);
    return std::nullopt;
  }

  std::optional<std::string> check_pass(InstanceKey instance, const ForwardPassRequest& r,
                                        std::vector<Fence>& after) const {
    std::optional<std::string> why =
        check_ids(instance, ResourceType::KvPage, r.kv_page_ptrs, after);
    if (!why) why = check_ids(instance, ResourceType::Embed, r.input_embed_ptrs, after);
    if (!why) why = check_ids(instance, ResourceType::Embed, r.output_embed_ptrs, after);
    if (!why && r.adapter) {
      why = check_ids(instance, ResourceType::Adapter, std::span(&*r.adapter, 1), after);
    }
    return why;
  }

  // Why `instance` may not submit commands now, or nothing.
  std::optional<std::string> refusal(InstanceKey instance) const {
    if (stopping) return std::string(kShuttingDown);
    if (auto down = link->unavailable()) return down;
    if (instance != 0 && ended.count(instance) != 0) {
      return std::string("the instance was terminated by model '" + info.name + "'");
    }
    return std::nullopt;
  }

  // Queues a command; a refusal goes to its callback or, without one, ends the instance.
  template <class Body, class Check>
  void submit(InstanceKey instance, StreamId stream, Body body, Check check) {
    Actions a;
    {
      std::lock_guard lock(mutex);
      std::optional<std::string> why = refusal(instance);
      if (!why && !scheduler.knows(stream)) why = "unknown queue " + std::to_string(stream);
      std::vector<Fence> after;
      if (!why) why = check(body, after);
      if (!why) {
        scheduler.submit(stream, instance, std::move(body), std::move(after));
        progress(a);
      }
      if (why) {
        if constexpr (requires { body.done; }) {
          if (body.done) {
            fail_call(a, std::move(body.done), *why);
            why.reset();
          }
        }
        if (why && instance != 0) {
          a.calls.push_back(
              [this, instance, why] { terminator(instance, kTerminateException, *why); });
        }
      }
    }
    run(a);
  }
};

ModelService::ModelService(std::string name, std::unique_ptr<BackendLink> link,
                           ModelServiceOptions options, InstanceTerminator terminator) {
  ModelInfo model = model_info(std::move(name), link->handshake());
  impl_ = std::make_unique<Impl>(std::move(link), options, std::move(terminator), std::move(model));
}

ModelService::~ModelService() = default;

const ModelInfo& ModelService::info() const {
  return impl_->info;
}

StreamId ModelService::create_stream() {
  std::lock_guard lock(impl_->mutex);
  return impl_->scheduler.create_stream();
}

void ModelService::set_priority(StreamId stream, Priority priority) {
  std::lock_guard lock(impl_->mutex);
  impl_->scheduler.set_priority(stream, priority);
}

void ModelService::allocate(InstanceKey instance, ResourceType type, uint32_t count,
                            Callback<std::vector<uint32_t>> done) {
  Impl& s = *impl_;
  Impl::Actions a;
  {
    std::lock_guard lock(s.mutex);
    std::optional<std::string> why;
    if (s.stopping) {
      why = kShuttingDown;
    } else if (!s.resources.has_pool(type)) {
      why = "model '" + s.info.name + "' has no " + resource_noun(type) + "s";
    } else if (s.ended.count(instance) != 0) {
      why = "the instance was terminated by model '" + s.info.name + "'";
    } else if (count > s.resources.capacity(type)) {
      why = "cannot allocate " + std::to_string(count) + " " + resource_noun(type) + "s: model '" +
            s.info.name + "' has " + std::to_string(s.resources.capacity(type));
    }
    if (why) {
      Impl::fail_call(a, std::move(done), *why);
    } else {
      std::optional<Clock::time_point> deadline = Clock::now();
      if (s.options.oom_policy == OutOfResourcesPolicy::Wait) *deadline += s.options.oom_wait;
      s.waiters[type].push_back(Impl::Waiter{instance, count, std::move(done), deadline});
      s.serve(type, a);
      s.timer_wake.notify_one();
    }
  }
  s.run(a);
}

void ModelService::deallocate(InstanceKey instance, ResourceType type,
                              const std::vector<uint32_t>& ids) {
  Impl& s = *impl_;
  Impl::Actions a;
  {
    std::lock_guard lock(s.mutex);
    std::vector<uint32_t> released = s.resources.disown(instance, type, ids);
    s.resources.free_after(type, std::move(released), Fence{instance, s.scheduler.next_seq()});
    s.progress(a);
  }
  s.run(a);
}

void ModelService::export_resources(InstanceKey instance, ResourceType type,
                                    const std::vector<uint32_t>& ids, const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  if (auto why = impl_->refusal(instance)) throw Error(*why);
  // Whoever uses them later waits for the commands that are filling them now.
  impl_->resources.export_ids(instance, type, ids, name,
                              Fence{instance, impl_->scheduler.next_seq()});
}

std::vector<uint32_t> ModelService::import_resources(InstanceKey instance, ResourceType type,
                                                     const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  if (auto why = impl_->refusal(instance)) throw Error(*why);
  return impl_->resources.import_ids(instance, type, name);
}

std::vector<std::pair<std::string, uint32_t>> ModelService::list_exported(ResourceType type) {
  std::lock_guard lock(impl_->mutex);
  return impl_->resources.exports(type);
}

void ModelService::release_exported(ResourceType type, const std::string& name) {
  Impl& s = *impl_;
  Impl::Actions a;
  {
    std::lock_guard lock(s.mutex);
    std::vector<uint32_t> ids = s.resources.remove_export(type, name);
    // Any instance that imported it may have commands in flight naming these ids.
    s.resources.free_after(type, std::move(ids), Fence{0, s.scheduler.next_seq()});
    s.progress(a);
  }
  s.run(a);
}

void ModelService::forward_pass(InstanceKey instance, StreamId stream, ForwardPassRequest request,
                                Callback<ForwardPassResponse> done) {
  Impl& s = *impl_;
  if (s.info.max_dist_size != 0) {
    for (protocol::SamplerSpec& spec : request.output_token_samplers) {
      if (spec.kind == protocol::SamplerKind::Distribution && spec.top_k &&
          *spec.top_k > s.info.max_dist_size) {
        spec.top_k = s.info.max_dist_size;
      }
    }
  }
  s.submit(instance, stream, ForwardCommand{std::move(request), std::move(done)},
           [&s, instance](const ForwardCommand& c, std::vector<Fence>& after) {
             return s.check_pass(instance, c.request, after);
           });
}

void ModelService::synchronize(StreamId stream, Callback<Done> done) {
  impl_->submit(
      0, stream, SyncCommand{std::move(done)},
      [](const SyncCommand&, std::vector<Fence>&) { return std::optional<std::string>(); });
}

void ModelService::query(StreamId stream, std::string query, Callback<std::string> done) {
  impl_->submit(
      0, stream, QueryCommand{std::move(query), std::move(done)},
      [](const QueryCommand&, std::vector<Fence>&) { return std::optional<std::string>(); });
}

void ModelService::embed_image(InstanceKey instance, StreamId stream,
                               protocol::EmbedImageRequest request) {
  Impl& s = *impl_;
  s.submit(instance, stream, EmbedImageCommand{std::move(request)},
           [&s, instance](const EmbedImageCommand& c, std::vector<Fence>& after) {
             return s.check_ids(instance, ResourceType::Embed, c.request.embed_ptrs, after);
           });
}

void ModelService::initialize_adapter(InstanceKey instance, StreamId stream,
                                      protocol::InitializeAdapterRequest request) {
  Impl& s = *impl_;
  s.submit(instance, stream, InitializeAdapterCommand{std::move(request)},
           [&s, instance](const InitializeAdapterCommand& c, std::vector<Fence>& after) {
             return s.check_ids(instance, ResourceType::Adapter,
                                std::span(&c.request.adapter_ptr, 1), after);
           });
}

void ModelService::update_adapter(InstanceKey instance, StreamId stream,
                                  protocol::UpdateAdapterRequest request) {
  Impl& s = *impl_;
  s.submit(instance, stream, UpdateAdapterCommand{std::move(request)},
           [&s, instance](const UpdateAdapterCommand& c, std::vector<Fence>& after) {
             return s.check_ids(instance, ResourceType::Adapter,
                                std::span(&c.request.adapter_ptr, 1), after);
           });
}

void ModelService::cleanup(InstanceKey instance) {
  Impl& s = *impl_;
  Impl::Actions a;
  {
    std::lock_guard lock(s.mutex);
    s.release_instance(instance, "the instance has ended", a);
    s.ended.erase(instance);
    s.progress(a);
  }
  s.run(a);
}

std::map<std::string, std::string> ModelService::status() {
  Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  const std::string p = s.info.name + ".";
  std::map<std::string, std::string> out;
  out[p + "model.name"] = s.info.name;
  for (const auto& [type_id, capacity] : s.info.capacities) {
    const auto type = static_cast<ResourceType>(type_id);
    const std::string r = p + "resource." + std::to_string(type_id) + ".";
    const uint32_t available = s.resources.available(type);
    out[r + "capacity"] = std::to_string(capacity);
    out[r + "available"] = std::to_string(available);
    out[r + "used"] = std::to_string(capacity - available);
    out[r + "exported_count"] = std::to_string(s.resources.export_count(type));
    out[r + "exported_ids"] = std::to_string(s.resources.exported_ids(type));
  }
  out[p + "instances.active_count"] = std::to_string(s.resources.active_instances());
  const SchedulerStats st = s.scheduler.stats();
  std::ostringstream mean;
  mean << std::fixed << std::setprecision(2)
       << (st.batches == 0 ? 0.0
                           : static_cast<double>(st.requests) / static_cast<double>(st.batches));
  out[p + "scheduler.batches"] = std::to_string(st.batches);
  out[p + "scheduler.forward_passes"] = std::to_string(st.passes);
  out[p + "scheduler.mean_batch_size"] = mean.str();
  out[p + "scheduler.queue_depth"] = std::to_string(st.queued);
  size_t waiting = 0;
  for (const auto& [type, list] : s.waiters) waiting += list.size();
  out[p + "scheduler.waiting_allocations"] = std::to_string(waiting);
  if (auto down = s.link->unavailable()) out[p + "error"] = *down;
  return out;
}

}  // namespace pie::engine
