#include "engine/testing/service_harness.h"

#include "engine/in_process_link.h"

namespace pie::engine::testing {

ServiceHarness::ServiceHarness(LinkKind kind, FakeBackendOptions backend,
                               ModelServiceOptions service, RemoteLinkOptions remote)
    : ServiceHarness(
          kind,
          [&] {
            auto fake = std::make_unique<FakeBackend>(std::move(backend));
            FakeBackend* raw = fake.get();
            return Owned{std::move(fake), raw};
          }(),
          service, remote) {}

ServiceHarness::ServiceHarness(LinkKind kind, std::unique_ptr<backend::Backend> backend,
                               ModelServiceOptions service, RemoteLinkOptions remote)
    : ServiceHarness(kind, Owned{std::move(backend), nullptr}, service, remote) {}

ServiceHarness::ServiceHarness(LinkKind kind, Owned owned, ModelServiceOptions service,
                               RemoteLinkOptions remote)
    : fake_(owned.fake) {
  std::unique_ptr<backend::Backend> backend = std::move(owned.backend);
  std::unique_ptr<BackendLink> link;
  if (kind == LinkKind::InProcess) {
    link = std::make_unique<InProcessLink>(std::move(backend));
  } else {
    remote_backend_ = std::move(backend);
    server_ = std::make_unique<BackendServer>(
        *remote_backend_, BackendServerOptions{"tcp://127.0.0.1:*", std::chrono::milliseconds(0)});
    server_thread_ = std::thread([this] { server_->run(); });
    link = std::make_unique<RemoteLink>(server_->endpoint(), remote);
  }
  try {
    service_ = std::make_unique<ModelService>(
        "", std::move(link), service, [this](InstanceKey i, uint32_t code, std::string message) {
          {
            std::lock_guard lock(mutex_);
            terminations_.push_back(Termination{i, code, std::move(message)});
          }
          terminated_.notify_all();
        });
  } catch (...) {
    if (server_) {
      server_->stop();
      server_thread_.join();
    }
    throw;
  }
}

FakeBackend& ServiceHarness::backend() {
  if (fake_ == nullptr) throw Error("this harness does not run the fake backend");
  return *fake_;
}

ServiceHarness::~ServiceHarness() {
  if (fake_ != nullptr) fake_->release();
  service_.reset();
  if (server_) {
    server_->stop();
    server_thread_.join();
  }
}

std::vector<Termination> ServiceHarness::terminations() const {
  std::lock_guard lock(mutex_);
  return terminations_;
}

bool ServiceHarness::wait_terminations(size_t count) const {
  std::unique_lock lock(mutex_);
  return terminated_.wait_for(lock, std::chrono::seconds(20),
                              [&] { return terminations_.size() >= count; });
}

std::vector<uint32_t> ServiceHarness::allocate(InstanceKey instance, ResourceType type,
                                               uint32_t count) {
  Outcome<std::vector<uint32_t>> ids;
  service_->allocate(instance, type, count, ids.callback());
  return ids.get().value();
}

}  // namespace pie::engine::testing
