// fd.hpp: a move-only owner of one file descriptor.
//
// Purpose: a socket is closed exactly once, on every path out of a function,
// including the path an exception takes. Moving transfers ownership; copying
// is forbidden, because two owners would close the same number twice.
//
// See also: CS144's FileDescriptor, std::unique_ptr, close(2).
#pragma once

#include <unistd.h>

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

  // Gives up ownership: the caller now closes the descriptor.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Closes the descriptor held, if any, and holds `fd` instead. close() is
  // not retried on EINTR: on Linux the descriptor is already gone by then.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};
