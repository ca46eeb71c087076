#include "runtime/future.h"

namespace pie::runtime {

void FutureCore::complete(FutureValue value) {
  notifier_->update([&] {
    if (ready_) return;
    value_ = std::move(value);
    ready_ = true;
  });
}

void FutureCore::fail(std::string error) {
  notifier_->update([&] {
    if (ready_) return;
    error_ = std::move(error);
    ready_ = true;
  });
}

}  // namespace pie::runtime
