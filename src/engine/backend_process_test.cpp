// A backend registering itself with an engine over the client protocol (reference §3.5.7, §4.1),
// and the model registry behind attach_remote_service.
#include "engine/backend_process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "engine/model_registry.h"
#include "engine/testing/fake_backend.h"
#include "engine/testing/service_harness.h"
#include "server/auth.h"
#include "server/server.h"
#include "server/testing/fake_engine.h"

namespace pie::engine {
namespace {

using namespace std::chrono_literals;
using testing::FakeBackend;
using testing::FakeBackendOptions;
using ::testing::HasSubstr;
using testing::Outcome;

// The server's engine port, with models from a ModelRegistry.
class RegistryEngine : public server::testing::FakeEngine {
 public:
  explicit RegistryEngine(ModelRegistry& registry) : registry_(registry) {}
  std::string attach_remote_service(const std::string& endpoint, const std::string& service_type,
                                    const std::string& service_name) override {
    return registry_.attach_remote_service(endpoint, service_type, service_name);
  }
  std::map<std::string, std::string> model_status() override { return registry_.status(); }

 private:
  ModelRegistry& registry_;
};

RemoteLinkOptions quick_links() {
  RemoteLinkOptions o;
  o.heartbeat_interval = 50ms;
  o.handshake_timeout = 2s;
  return o;
}

TEST(ModelRegistry, AttachRemoteServiceAnswersWithTheReferenceTexts) {
  ModelRegistry registry({}, quick_links());
  FakeBackend backend;
  BackendServer server(backend, BackendServerOptions{"tcp://127.0.0.1:*", 0ms});
  auto served = std::async(std::launch::async, [&] { return server.run(); });

  try {
    registry.attach_remote_service(server.endpoint(), "l4m", "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Unknown service type: l4m");
  }
  EXPECT_EQ(registry.attach_remote_service(server.endpoint(), "model", "remote-fake"),
            "Model service registered");
  try {
    registry.attach_remote_service(server.endpoint(), "model", "remote-fake");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Failed to register model");
  }
  try {
    registry.attach_remote_service("tcp://127.0.0.1:1", "model", "nobody");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Failed to attach to model backend");
  }

  FakeBackendOptions local;
  local.name = "local-fake";
  registry.add_local(std::make_unique<FakeBackend>(local));
  EXPECT_THROW(registry.add_local(std::make_unique<FakeBackend>(local)), Error);
  const auto models = registry.models();
  ASSERT_EQ(models.size(), 2U);
  EXPECT_EQ(models[0].name, "remote-fake");
  EXPECT_EQ(models[1].name, "local-fake");
  EXPECT_EQ(registry.find("local-fake"), models[1].service);
  EXPECT_EQ(registry.find("missing"), nullptr);
  const auto status = registry.status();
  EXPECT_EQ(status.at("remote-fake.model.name"), "remote-fake");
  EXPECT_EQ(status.at("local-fake.resource.0.capacity"), "64");

  // Terminations reach the runtime once it is known.
  std::promise<InstanceKey> ended;
  registry.set_terminator([&](InstanceKey i, uint32_t, std::string) { ended.set_value(i); });
  models[1].service->forward_pass(9, models[1].service->create_stream(), {}, nullptr);
  EXPECT_EQ(ended.get_future().get(), 9U);  // names no page it holds: refused, instance ended

  server.stop();
  served.wait();
}

TEST(BackendProcess, RegistersWithTheEngineAndServesItsModel) {
  auto registry = std::make_unique<ModelRegistry>(ModelServiceOptions{}, quick_links());
  RegistryEngine engine(*registry);
  server::ServerOptions options;
  options.port = 0;
  options.auth_secret = "secret";
  server::Server web(options, engine);
  web.start();

  FakeBackend backend;
  BackendProcessOptions process;
  process.engine_url = "ws://127.0.0.1:" + std::to_string(web.port());
  process.token = server::mint_token("secret", "backend-service");
  process.service_name = "served-fake";
  process.heartbeat_timeout = 300ms;
  auto run = std::async(std::launch::async, [&] { return run_backend_process(backend, process); });

  std::shared_ptr<ModelService> model;
  for (int i = 0; i < 2000 && !model; ++i) {
    model = registry->find("served-fake");
    if (!model) std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(model, nullptr);
  Outcome<std::string> pong;
  model->query(model->create_stream(), "ping", pong.callback());
  EXPECT_EQ(pong.get().value(), "pong");
  EXPECT_EQ(engine.model_status().at("served-fake.resource.0.available"), "64");

  // A bad token: the engine's refusal comes back.
  BackendProcessOptions refused = process;
  refused.token = "not-a-token";
  refused.service_name = "other";
  try {
    run_backend_process(backend, refused);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot register model 'other'"));
    EXPECT_THAT(e.what(), HasSubstr("Invalid token"));
  }
  // When the engine is gone, heartbeats stop and the backend process ends.
  model.reset();
  web.stop();
  registry.reset();
  ASSERT_EQ(run.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(run.get(), "no heartbeat from the engine for 300 ms");
}

}  // namespace
}  // namespace pie::engine
