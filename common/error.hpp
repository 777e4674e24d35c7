// error.hpp: turn a failed call into an exception that says what failed.
//
// Purpose: every stage reports errors as one line, "PROGRAM: attempt: reason",
// from a single try/catch in main. check() builds the "attempt: reason" part
// from errno; check_gai() does the same for getaddrinfo(), whose failures come
// as its own return codes (gai_strerror), not errno. UsageError marks a bad
// command line, which main answers with the usage text and exit status 2.
// not_written() is what a student's copy of a stage calls where a part is
// still to write (docs/exercises.md).
//
// Nothing here prints or exits: that is main's decision.
//
// See also: CS144's CheckSystemCall, std::system_error, gai_strerror(3).
#pragma once

#include <netdb.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

// A command line that does not follow the usage: exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Returns `result` unless it is -1, the failure value of POSIX calls; then
// throws std::system_error whose what() reads "attempt: strerror(errno)".
template <typename T>
T check(T result, std::string_view attempt) {
  if (result == -1) throw std::system_error(errno, std::generic_category(), std::string(attempt));
  return result;
}

// getaddrinfo() reports failure with its own codes; this category turns them
// into gai_strerror's text, e.g. "Name or service not known".
inline const std::error_category& gai_category() {
  struct GaiCategory : std::error_category {
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int code) const override { return gai_strerror(code); }
  };
  static const GaiCategory category;
  return category;
}

// Throws unless getaddrinfo() returned 0. EAI_SYSTEM means "see errno".
inline void check_gai(int code, std::string_view attempt) {
  if (code == 0) return;
  if (code == EAI_SYSTEM)
    throw std::system_error(errno, std::generic_category(), std::string(attempt));
  throw std::system_error(code, gai_category(), std::string(attempt));
}

// The student's copy of a stage (make exercise STAGE=N) calls this where a
// part is still to write, so the program stops at once with
// "PROGRAM: exercise N.k (TITLE) is not written yet" (main's catch) and a
// unit test fails with that text: no test waits for a timeout. A logic_error,
// not a system_error, so no stage code takes it for a failed call.
struct NotWritten : std::logic_error {
  using std::logic_error::logic_error;
};

[[noreturn]] inline void not_written(const char* part, const char* title) {
  std::string what = std::string("exercise ") + part + " (" + title + ") is not written yet";
  // The grader names the stub in the report of whichever test met it, even
  // one whose program's stderr it never sees (tools/exercise/exercise.py).
  if (const char* log = std::getenv("EXERCISE_NOT_WRITTEN_LOG")) {
    if (std::FILE* file = std::fopen(log, "a")) {
      std::fputs((what + "\n").c_str(), file);
      std::fclose(file);
    }
  }
  throw NotWritten(what);
}
