#include "engine/wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/error.h"

namespace pie::engine {

Wakeup::Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw Error(std::string("cannot create an eventfd: ") + std::strerror(errno));
}

Wakeup::~Wakeup() {
  close(fd_);
}

void Wakeup::notify() {
  const uint64_t one = 1;
  // Only fails when the counter would overflow, i.e. a wakeup is pending anyway.
  [[maybe_unused]] const ssize_t n = write(fd_, &one, sizeof one);
}

void Wakeup::clear() {
  uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = read(fd_, &count, sizeof count);
}

}  // namespace pie::engine
