// The project's exception type and a value-or-error result for asynchronous replies.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace pie {

// Thrown for every failure a caller is expected to report (bad input, missing program, ...).
// The message is written for the end user: it says what was wrong and, where it helps, what to do.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value or the error that prevented it, handed to completion callbacks across threads.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  const T& value() const& { return check(), std::get<0>(v_); }
  T& value() & { return check(), std::get<0>(v_); }
  T&& value() && { return check(), std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  void check() const {
    if (!ok()) throw std::get<1>(v_);
  }
  std::variant<T, Error> v_;
};

// Result of an operation that produces no value.
struct Done {};
using Status = Result<Done>;

}  // namespace pie
