// timeout_error.cpp: the error -w ends a conversation with.
#include <cerrno>
#include <string>
#include <system_error>

std::system_error timeout_error(int idle_timeout_ms) {
  return std::system_error(ETIMEDOUT, std::generic_category(),
                           "nothing moved for " + std::to_string(idle_timeout_ms / 1000) + " s");
}
