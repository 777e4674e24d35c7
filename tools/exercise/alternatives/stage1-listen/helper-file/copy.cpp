// copy.cpp: the copy loop of stage 1, in a file of its own.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>

#include "error.hpp"
#include "io.hpp"

// Copies every byte from `from` to `to` until end of file, adding each to
// `count`. Bytes pass unchanged, NUL and all: read() and write() know nothing
// of lines or text, so nothing waits for a newline.
void copy(int from, std::string_view from_name, int to, std::string_view to_name,
          std::uint64_t& count) {
  char buffer[16384];
  const std::string read_attempt = "read from " + std::string(from_name);
  const std::string write_attempt = "write to " + std::string(to_name);
  for (;;) {
    ssize_t got = read(from, buffer, sizeof buffer);
    if (got == -1 && errno == EINTR) continue;
    if (check(got, read_attempt) == 0) return;  // 0 is end of file: the peer closed
    write_all(to, buffer, static_cast<std::size_t>(got), write_attempt);
    count += static_cast<std::uint64_t>(got);
  }
}
