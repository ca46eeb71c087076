#include "runtime/instance.h"

#include <v8.h>

namespace pie::runtime {

double cpu_clock_ms(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

Instance::Instance(std::string id, engine::InstanceKey key, std::shared_ptr<const Program> program,
                   std::vector<std::string> arguments, std::shared_ptr<server::InstanceOwner> owner)
    : id_(std::move(id)),
      key_(key),
      program_(std::move(program)),
      arguments_(std::move(arguments)),
      owner_(std::move(owner)) {}

bool Instance::request_termination(server::TerminationCode code, std::string message) {
  std::lock_guard lock(end_mutex_);
  if (end_) return false;
  end_ = Termination{code, std::move(message)};
  terminating_ = true;
  notifier_->update([&] { notifier_->terminating = true; });
  if (isolate_ != nullptr) isolate_->TerminateExecution();
  return true;
}

Termination Instance::finish(Termination outcome) {
  std::lock_guard lock(end_mutex_);
  if (!end_) end_ = std::move(outcome);
  terminating_ = true;
  return *end_;
}

void Instance::attach(v8::Isolate* isolate, clockid_t cpu_clock) {
  std::lock_guard lock(end_mutex_);
  isolate_ = isolate;
  cpu_clock_ = cpu_clock;
  cpu_start_ms_ = cpu_clock_ms(cpu_clock);
  // Terminated before it started running: stop it as soon as it enters guest code.
  if (end_) isolate_->TerminateExecution();
}

void Instance::detach() {
  std::lock_guard lock(end_mutex_);
  isolate_ = nullptr;
}

double Instance::cpu_ms() const {
  std::lock_guard lock(end_mutex_);
  if (isolate_ == nullptr) return 0;
  return cpu_clock_ms(cpu_clock_) - cpu_start_ms_;
}

}  // namespace pie::runtime
