// http_response_fuzz.cpp: a libFuzzer target for stage4-http's response parser.
//
// Purpose: feed arbitrary bytes to ResponseParser and check, on top of the
// memory and undefined-behaviour checks of the sanitizers, the promises its
// header makes:
//   - the outcome does not depend on how read() split the bytes: fed whole,
//     one byte at a time, or in pieces of pseudo-random sizes, the parser
//     consumes the same bytes, decodes the same body, ends the same way;
//   - feed() consumes fewer bytes than given only once complete or failed,
//     and nothing at all after that;
//   - take_body() never holds more than the last feed() provided;
//   - after finish(), the response is complete or failed, never both, and
//     it failed exactly when error() says why.
// A broken promise aborts, which libFuzzer reports as a crash with the input.
//
// Usage: fuzz/run.sh [BUILD_DIR] [SECONDS]
//
// See also: https://llvm.org/docs/LibFuzzer.html, stage4-http/http_response.hpp.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "http_response.hpp"

namespace {

void check(bool promise_kept, const char* promise) {
  if (promise_kept) return;
  std::fprintf(stderr, "broken promise: %s\n", promise);
  std::abort();
}

// What a parser made of the input.
struct Outcome {
  std::size_t used = 0;
  std::string body;
  std::vector<std::string> head_lines;
  bool complete = false;
  bool failed = false;
  std::string error;
  bool head_complete = false;
  std::string status_line;

  bool operator==(const Outcome& other) const {
    return used == other.used && body == other.body && head_lines == other.head_lines &&
           complete == other.complete && failed == other.failed && error == other.error &&
           head_complete == other.head_complete && status_line == other.status_line;
  }
};

// Feeds data[0, size) in pieces whose sizes next_size() gives, as a caller
// that keeps feeding after the end would, then closes the connection.
template <typename NextSize>
Outcome parse(const char* data, std::size_t size, NextSize next_size) {
  ResponseParser parser;
  Outcome out;
  for (std::size_t offset = 0; offset < size;) {
    std::size_t piece = std::min(next_size(), size - offset);
    bool was_done = parser.complete() || parser.failed();
    std::size_t used = parser.feed(data + offset, piece);
    check(used <= piece, "feed() consumes at most what it is given");
    check(used == piece || parser.complete() || parser.failed(),
          "feed() consumes everything until complete or failed");
    check(!was_done || used == 0, "once complete or failed, feed() consumes nothing");
    std::string body = parser.take_body();
    check(body.size() <= piece, "take_body() holds at most what one feed() provided");
    out.body += body;
    for (std::string& line : parser.take_head_lines())
      out.head_lines.push_back(line);
    out.used += used;
    offset += piece;
  }
  parser.finish();
  check(parser.take_body().empty(), "finish() decodes nothing");
  check(parser.complete() != parser.failed(), "after finish(), complete or failed");
  check(parser.failed() != parser.error().empty(), "error() says why exactly when failed");
  check(!parser.complete() || parser.head_complete(), "a complete response has a head");
  out.complete = parser.complete();
  out.failed = parser.failed();
  out.error = parser.error();
  out.head_complete = parser.head_complete();
  out.status_line = parser.head().status_line;
  return out;
}

// FNV-1a: a seed that changes with the input, so the split points do too.
std::uint64_t hash(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 14695981039346656037u;
  for (std::size_t i = 0; i < size; ++i)
    h = (h ^ data[i]) * 1099511628211u;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const char* data = reinterpret_cast<const char*>(bytes);
  Outcome whole = parse(data, size, [size] { return size; });
  Outcome bytewise = parse(data, size, [] { return std::size_t{1}; });
  std::uint64_t state = hash(bytes, size) | 1;
  Outcome random = parse(data, size, [&state] {
    state ^= state << 13;  // xorshift64
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<std::size_t>(1 + state % 64);
  });
  check(whole == bytewise, "one byte at a time gives the same outcome as whole");
  check(whole == random, "random pieces give the same outcome as whole");
  return 0;
}
