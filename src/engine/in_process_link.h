// A backend running in this process: its calls run one at a time, in order, on the link's own
// thread, so the scheduler and the instances never wait for a forward pass.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "backend/backend.h"
#include "engine/backend_link.h"

namespace pie::engine {

class InProcessLink final : public BackendLink {
 public:
  // `label` names the backend in error messages.
  explicit InProcessLink(std::unique_ptr<backend::Backend> backend,
                         std::string label = "in-process");
  // Calls not yet started fail with "backend <label> is unavailable: shutting down".
  ~InProcessLink() override;
  InProcessLink(const InProcessLink&) = delete;
  InProcessLink& operator=(const InProcessLink&) = delete;

  protocol::HandshakeResponse handshake() override;
  void forward_pass(std::vector<protocol::ForwardPassRequest> batch,
                    Callback<std::vector<protocol::ForwardPassResponse>> done) override;
  void query(protocol::QueryRequest request, Callback<protocol::QueryResponse> done) override;
  void embed_image(protocol::EmbedImageRequest request, Callback<Done> done) override;
  void initialize_adapter(protocol::InitializeAdapterRequest request, Callback<Done> done) override;
  void update_adapter(protocol::UpdateAdapterRequest request, Callback<Done> done) override;
  std::optional<std::string> unavailable() const override;

 private:
  // Runs `call` on the backend thread and hands its result (or the error it threw) to `done`.
  template <class T, class Call>
  void post(Call call, Callback<T> done);
  void loop();

  std::unique_ptr<backend::Backend> backend_;
  const std::string label_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  // A job gets the reason it cannot run, or nothing when it should run.
  std::deque<std::function<void(const std::string* cancelled)>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pie::engine
