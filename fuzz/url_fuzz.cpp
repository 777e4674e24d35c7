// url_fuzz.cpp: a libFuzzer target for stage4-http's URL parser.
//
// Purpose: the URL is typed by the user and ends up, as text, in the request
// that goes to the server. Feed arbitrary bytes to parse_url() and check, on
// top of the sanitizers' memory and undefined-behaviour checks, what its
// header promises:
//   - it returns a Url or throws UsageError; nothing else escapes;
//   - a Url has a host, a port other than 0, and a target starting with "/";
//   - host, target and Host header hold no space or control character, so
//     request_for() writes exactly the four lines of a request, never one
//     more of the URL's choosing;
//   - the Host header is the host (in [] for IPv6) with ":PORT" exactly when
//     the port is not 80, and that port is the one connected to;
//   - written back as http://AUTHORITY TARGET, the URL parses the same.
// A broken promise aborts, which libFuzzer reports as a crash with the input.
//
// Usage: fuzz/run.sh [BUILD_DIR] [SECONDS] url
//
// See also: stage4-http/http_client.hpp, http_response_fuzz.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "error.hpp"
#include "http_client.hpp"

namespace {

void check(bool promise_kept, const char* promise) {
  if (promise_kept) return;
  std::fprintf(stderr, "broken promise: %s\n", promise);
  std::abort();
}

bool printable(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') return false;
  }
  return true;
}

// Whether `authority` is `host` (bracketed when it holds a ':'), followed
// by ":DIGITS" naming `port` exactly when the port is not 80.
bool names(std::string_view authority, const Url& url) {
  const bool bracketed = !authority.empty() && authority.front() == '[';
  const std::string host = bracketed ? "[" + url.host + "]" : url.host;
  if (authority.substr(0, host.size()) != host) return false;
  std::string_view port = authority.substr(host.size());
  if (port.empty()) return url.port == 80;
  if (port.front() != ':' || port.size() == 1 || url.port == 80) return false;
  unsigned long value = 0;
  for (char c : port.substr(1)) {
    if (c < '0' || c > '9' || value > 65535) return false;
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  return value == url.port;
}

bool same(const Url& a, const Url& b) {
  return a.host == b.host && a.port == b.port && a.target == b.target && a.authority == b.authority;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  // The URL comes from argv, a C string: it ends at the first NUL.
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  text = text.substr(0, text.find('\0'));
  Url url;
  try {
    url = parse_url(text);
  } catch (const UsageError& e) {
    check(std::string_view(e.what()).rfind("invalid ", 0) == 0 ||
              std::string_view(e.what()).find("http://") != std::string_view::npos,
          "a usage error says what is wrong with the URL");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    check(false, "parse_url() throws UsageError and nothing else");
  }
  check(!url.host.empty(), "a URL that parses has a host");
  check(url.port != 0, "a URL that parses has a port other than 0");
  check(!url.target.empty() && url.target.front() == '/', "the target starts with /");
  check(printable(url.host) && printable(url.target) && printable(url.authority),
        "no space or control character reaches the request");
  check(url.target.find('#') == std::string::npos, "the fragment stays out of the request");
  check(names(url.authority, url), "Host names the host, and the port unless it is 80");

  const std::string request = request_for(url);
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = request.find("\r\n", at)) != std::string::npos; at += 2)
    ++lines;
  check(
      lines == 4 && request.size() >= 4 && request.compare(request.size() - 4, 4, "\r\n\r\n") == 0,
      "the request is four lines, the last one empty");

  Url again;
  try {
    again = parse_url("http://" + url.authority + url.target);
  } catch (const UsageError&) {
    check(false, "the URL written back parses");
  }
  check(same(url, again), "the URL written back parses the same");
  return 0;
}
