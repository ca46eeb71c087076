#include "engine/in_process_link.h"

#include <exception>
#include <future>

namespace pie::engine {

InProcessLink::InProcessLink(std::unique_ptr<backend::Backend> backend, std::string label)
    : backend_(std::move(backend)), label_(std::move(label)), thread_([this] { loop(); }) {}

InProcessLink::~InProcessLink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void InProcessLink::loop() {
  const std::string shutting_down = "backend " + label_ + " is unavailable: shutting down";
  for (;;) {
    std::function<void(const std::string*)> job;
    bool cancelled = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      cancelled = stopping_;
    }
    job(cancelled ? &shutting_down : nullptr);
  }
}

template <class T, class Call>
void InProcessLink::post(Call call, Callback<T> done) {
  auto job = [this, call = std::move(call), done = std::move(done)](const std::string* cancelled) {
    if (cancelled != nullptr) {
      done(Error(*cancelled));
      return;
    }
    std::optional<Result<T>> result;
    try {
      result.emplace(call());
    } catch (const std::exception& e) {
      result.emplace(Error("backend " + label_ + " failed: " + e.what()));
    }
    done(std::move(*result));
  };
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

protocol::HandshakeResponse InProcessLink::handshake() {
  std::promise<Result<protocol::HandshakeResponse>> reply;
  post<protocol::HandshakeResponse>(
      [this] { return backend_->handshake(protocol::HandshakeRequest{}); },
      [&reply](Result<protocol::HandshakeResponse> r) { reply.set_value(std::move(r)); });
  return reply.get_future().get().value();
}

void InProcessLink::forward_pass(std::vector<protocol::ForwardPassRequest> batch,
                                 Callback<std::vector<protocol::ForwardPassResponse>> done) {
  post<std::vector<protocol::ForwardPassResponse>>(
      [this, batch = std::move(batch)] { return backend_->forward_pass(batch); }, std::move(done));
}

void InProcessLink::query(protocol::QueryRequest request, Callback<protocol::QueryResponse> done) {
  post<protocol::QueryResponse>(
      [this, request = std::move(request)] { return backend_->query(request); }, std::move(done));
}

void InProcessLink::embed_image(protocol::EmbedImageRequest request, Callback<Done> done) {
  post<Done>(
      [this, request = std::move(request)] {
        backend_->embed_image(request);
        return Done{};
      },
      std::move(done));
}

void InProcessLink::initialize_adapter(protocol::InitializeAdapterRequest request,
                                       Callback<Done> done) {
  post<Done>(
      [this, request = std::move(request)] {
        backend_->initialize_adapter(request);
        return Done{};
      },
      std::move(done));
}

void InProcessLink::update_adapter(protocol::UpdateAdapterRequest request, Callback<Done> done) {
  post<Done>(
      [this, request = std::move(request)] {
        backend_->update_adapter(request);
        return Done{};
      },
      std::move(done));
}

std::optional<std::string> InProcessLink::unavailable() const {
  return std::nullopt;
}

}  // namespace pie::engine
