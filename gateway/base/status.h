// Status and Result<T>: the one error vocabulary of Lintel.
//
// A Status is either OK or carries a code and a human-readable message. Library code never throws
// across a layer boundary: adapters around throwing libraries (yaml-cpp, nlohmann-json, Paho,
// sdbus-c++) catch and convert here. Both types are cheap to move and are [[nodiscard]].
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace lintel {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is malformed or breaks a rule
  kNotFound,         // a referenced thing does not exist
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state where the call can succeed
  kCorruption,          // persisted data is damaged or from an unknown future schema
  kIoError,             // the operating system refused (files, sockets)
  kUnavailable,         // a peer is not reachable right now; retrying may help
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T> holds a T or a non-OK Status (a small std::expected, which C++20 lacks).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace lintel

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define LINTEL_RETURN_IF_ERROR(expr) \
  do {                               \
    ::lintel::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)
