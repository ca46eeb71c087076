// A ModelService over the fake backend, in process or behind a loopback ZeroMQ server, for the
// engine's tests and benchmarks; and blocking helpers for its callbacks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend_server.h"
#include "engine/model_service.h"
#include "engine/remote_link.h"
#include "engine/testing/fake_backend.h"

namespace pie::engine::testing {

enum class LinkKind { InProcess, Remote };

struct Termination {
  InstanceKey instance;
  uint32_t code;
  std::string message;
};

// The outcome of one callback, awaited from the test thread.
template <class T>
class Outcome {
 public:
  Outcome() : future_(promise_->get_future().share()) {}
  Callback<T> callback() const {
    auto p = promise_;
    return [p](Result<T> r) { p->set_value(std::move(r)); };
  }
  bool ready() const {
    return future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  // Waits (at most 20 s, a guard against hangs, not a timing expectation) and returns it; throws
  // pie::Error when it never came.
  const Result<T>& get() const {
    if (future_.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      throw Error("the callback was never called");
    }
    return future_.get();
  }

 private:
  std::shared_ptr<std::promise<Result<T>>> promise_ = std::make_shared<std::promise<Result<T>>>();
  std::shared_future<Result<T>> future_;
};

class ServiceHarness {
 public:
  ServiceHarness(LinkKind kind, std::unique_ptr<backend::Backend> backend,
                 ModelServiceOptions service = {}, RemoteLinkOptions remote = {});
  // Over a FakeBackend, released (if held) before the service is destroyed.
  explicit ServiceHarness(LinkKind kind, FakeBackendOptions backend = {},
                          ModelServiceOptions service = {}, RemoteLinkOptions remote = {});
  ~ServiceHarness();

  ModelService& service() { return *service_; }
  // The fake backend; throws pie::Error when the harness runs another backend.
  FakeBackend& backend();

  std::vector<Termination> terminations() const;
  // Waits (at most 20 s) until `count` terminations were requested.
  bool wait_terminations(size_t count) const;

  // Allocates and waits for the ids; throws pie::Error when the allocation fails.
  std::vector<uint32_t> allocate(InstanceKey instance, ResourceType type, uint32_t count);

 private:
  struct Owned {
    std::unique_ptr<backend::Backend> backend;
    FakeBackend* fake;
  };
  ServiceHarness(LinkKind kind, Owned backend, ModelServiceOptions service,
                 RemoteLinkOptions remote);

  std::unique_ptr<backend::Backend> remote_backend_;  // the remote case: served by server_
  FakeBackend* const fake_;
  std::unique_ptr<BackendServer> server_;
  std::thread server_thread_;
  std::unique_ptr<ModelService> service_;
  mutable std::mutex mutex_;
  mutable std::condition_variable terminated_;
  std::vector<Termination> terminations_;
};

}  // namespace pie::engine::testing
