// Leveled logging to stderr: PIE_LOG(Info) << "listening on " << port;
#pragma once

#include <sstream>
#include <string_view>

namespace pie::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_level(Level level);
Level level();
bool enabled(Level level);
void write(Level level, std::string_view message);

// Collects one message and writes it when destroyed.
class Line {
 public:
  explicit Line(Level level) : level_(level) {}
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  ~Line() { write(level_, stream_.str()); }
  template <class T>
  Line& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  Level level_;
  std::ostringstream stream_;
};

}  // namespace pie::log

#define PIE_LOG(level)                                      \
  if (!::pie::log::enabled(::pie::log::Level::level)) {    \
  } else                                                    \
    ::pie::log::Line(::pie::log::Level::level)
