#include "engine/backend_process.h"

#include <future>
#include <thread>

#include "client/client.h"
#include "common/error.h"
#include "common/log.h"
#include "engine/backend_server.h"

namespace pie::engine {

std::string run_backend_process(backend::Backend& backend, const BackendProcessOptions& options) {
  BackendServer server(backend, BackendServerOptions{options.listen, options.heartbeat_timeout});
  const std::string endpoint = options.advertise.empty() ? server.endpoint() : options.advertise;
  const std::string name = options.service_name.empty()
                               ? backend.handshake(protocol::HandshakeRequest{}).model_name
                               : options.service_name;
  // The engine's handshake arrives while registration is still waiting for its answer.
  std::future<std::string> served =
      std::async(std::launch::async, [&server] { return server.run(); });
  try {
    client::Client engine(options.engine_url, options.register_timeout);
    if (!options.token.empty()) engine.authenticate(options.token);
    const std::string reply = engine.attach_remote_service(endpoint, "model", name);
    PIE_LOG(Info) << "model '" << name << "' at " << endpoint << ": " << reply;
  } catch (const Error& e) {
    server.stop();
    served.wait();
    throw Error("cannot register model '" + name + "' with the engine at " + options.engine_url +
                ": " + e.what());
  }
  return served.get();
}

}  // namespace pie::engine
