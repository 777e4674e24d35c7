// io.hpp: write a whole buffer, whatever write() does with it.
//
// Purpose: write() may accept fewer bytes than asked (a socket whose send
// buffer is nearly full, a pipe) or be interrupted by a signal before it
// writes anything (EINTR). Both are normal; write_all() loops until every
// byte is written and throws only on a real error.
//
// See also: Kerrisk's writen() (TLPI sockets/rdwrn.c), write(2).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string_view>

#include "error.hpp"

// Writes `size` bytes from `data` to `fd`; `attempt` names the write in the
// message of the exception thrown on failure, e.g. "write to stdout".
inline void write_all(int fd, const void* data, std::size_t size, std::string_view attempt) {
  const char* next = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t written = ::write(fd, next, size);
    if (written == -1 && errno == EINTR) continue;
    check(written, attempt);
    next += written;
    size -= static_cast<std::size_t>(written);
  }
}
