// http_client.cpp: a URL turned into a request, and a response read to its end.
//
// HTTP/1.1 is text over the TCP connection of stage 3: the request is a few
// lines ending with CR LF and an empty line. The response comes back the
// same way, a status line, header lines, an empty line, then the body. The
// hard part is knowing where the body ends, since the server may keep the
// connection open: that is the parser's job (http_response.hpp). Here one
// poll() loop writes the request and reads the response, with -w as the
// limit on silence, as duplex() does for a conversation; writes to stdout
// wait in poll() too, so a stdout nobody reads is silence as well.
//
// See also: http_client.hpp, http_response.hpp; RFC 9112; curl -v.

#include "http_client.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <iostream>
#include <system_error>
#include <vector>

#include "error.hpp"
#include "http_response.hpp"
#include "port.hpp"

namespace {

// Splits "HOST[:PORT]" (HOST possibly "[IPv6]") into `url`.
void parse_authority(std::string_view authority, Url& url) {
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos)
      throw UsageError("invalid URL: missing ] after IPv6 address");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') throw UsageError("invalid URL: junk after ]");
    if (!rest.empty()) port = rest.substr(1);
  } else {
    std::size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) throw UsageError("invalid URL: no host");
  if (authority.find('@') != std::string_view::npos) {
    throw UsageError("invalid URL: user names and passwords are not supported");
  }
  if (port.data() != nullptr) url.port = parse_port(port);  // "host:" alone is an empty port
  if (url.port == 0) throw UsageError("invalid URL: port 0");
  // Host carries the port only when it is not the default (RFC 9110 7.2).
  std::string_view without_port =
      port.data() != nullptr ? authority.substr(0, authority.size() - port.size() - 1) : authority;
  url.authority = std::string(url.port == 80 ? without_port : authority);
}

// Sends bytes, or reads them, on a non-blocking socket; false when it was
// not ready after all (EAGAIN) or a signal came (EINTR): poll again.
bool ready(ssize_t result) {
  return !(result == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

// -w ran out: the one message for silence, on the network or on stdout.
std::system_error silence(int timeout_ms) {
  return std::system_error(ETIMEDOUT, std::generic_category(),
                           "nothing moved for " + std::to_string(timeout_ms / 1000) + " s");
}

// Writes all of `data` to stdout, within -w. stdout stays blocking (the
// shell shares it), so a write() to a pipe nobody reads would wait for the
// reader, out of poll()'s reach. Each piece therefore waits for room in
// poll(), at most -w, and asks a pipe for no more than PIPE_BUF bytes,
// which a ready pipe always takes (as duplex.cpp does with -w).
void write_to_stdout(int output, std::string_view data, int timeout_ms) {
  struct stat out {};
  bool pipe = fstat(output, &out) == 0 && S_ISFIFO(out.st_mode);
  const std::size_t most_per_write = pipe ? PIPE_BUF : SIZE_MAX;
  while (!data.empty()) {
    pollfd slot{output, POLLOUT, 0};
    int ready_count = poll(&slot, 1, timeout_ms);
    if (ready_count == -1 && errno == EINTR) continue;
    if (check(ready_count, "poll") == 0) throw silence(timeout_ms);
    ssize_t put = write(output, data.data(), std::min(data.size(), most_per_write));
    if (put == -1 && errno == EINTR) continue;
    data.remove_prefix(static_cast<std::size_t>(check(put, "write to stdout")));
  }
}

// -v: each line of the request, as curl -v shows it.
void narrate_request(const std::string& request) {
  std::size_t start = 0;
  for (std::size_t end; (end = request.find("\r\n", start)) != std::string::npos; start = end + 2) {
    std::cerr << "> " + request.substr(start, end - start) + "\n";
  }
}

// Copies what one read() brought to `output`, as the options want it.
void deliver(ResponseParser& parser, const char* data, std::size_t got, std::size_t used,
             int output, const FetchOptions& options) {
  if (options.verbose) {
    for (const std::string& line : parser.take_head_lines())
      std::cerr << "< " + line + "\n";
  }
  if (options.body_only) {
    write_to_stdout(output, parser.take_body(), options.timeout_ms);
  } else {
    // As received, up to the end of the response; all of it when malformed,
    // so what arrived can be seen.
    write_to_stdout(output, {data, parser.failed() ? got : used}, options.timeout_ms);
  }
}

}  // namespace

Url parse_url(std::string_view text) {
  std::size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) throw UsageError("invalid URL: no http://");
  std::string scheme(text.substr(0, scheme_end));
  for (char& c : scheme)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "https") {
    throw UsageError("https:// needs TLS, which this program does not speak; try http://");
  }
  if (scheme != "http") throw UsageError("unsupported scheme " + scheme + "://: only http://");
  std::string_view rest = text.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));  // the fragment stays in the browser
  // Host and target both go into the request as text: a CR LF in either
  // would add lines of the URL's choosing to it.
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f')
      throw UsageError("invalid URL: spaces or control characters");
  }
  std::size_t path = rest.find_first_of("/?");
  Url url;
  parse_authority(rest.substr(0, path), url);
  url.target = path == std::string_view::npos ? "/" : std::string(rest.substr(path));
  if (url.target.front() == '?') url.target.insert(0, "/");
  return url;
}

std::string request_for(const Url& url) {
  return "GET " + url.target + " HTTP/1.1\r\n" +  //
         "Host: " + url.authority + "\r\n" +      //
         "Connection: close\r\n" +                //
         "\r\n";
}

void fetch(int socket, const std::string& request, int output, const FetchOptions& options,
           Counts& counts) {
  if (options.verbose) narrate_request(request);
  ResponseParser parser;
  std::vector<char> buffer(64 * 1024);
  std::size_t sent = 0;
  while (!parser.complete() && !parser.failed()) {
    short events = POLLIN | (sent < request.size() ? POLLOUT : 0);
    pollfd slot{socket, events, 0};
    int ready_count = poll(&slot, 1, options.timeout_ms);
    if (ready_count == -1 && errno == EINTR) continue;
    check(ready_count, "poll");
    if (ready_count == 0) throw silence(options.timeout_ms);
    // Read first: a server may answer (400, say) and close before taking
    // the whole request, and that answer is worth showing.
    if (slot.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = read(socket, buffer.data(), buffer.size());
      if (ready(got) && check(got, "read from network") == 0) {
        parser.finish();  // the server closed: complete only if close-delimited
        break;
      }
      if (ready(got)) {
        std::size_t size = static_cast<std::size_t>(got);
        counts.received += size;
        deliver(parser, buffer.data(), size, parser.feed(buffer.data(), size), output, options);
      }
    }
    if (sent < request.size() && (slot.revents & (POLLOUT | POLLERR))) {
      ssize_t put = write(socket, request.data() + sent, request.size() - sent);
      // A server that answered at once may be gone already: with its
      // response complete, the rest of the request is not missed.
      if (put == -1 && parser.complete()) break;
      if (ready(put)) sent += static_cast<std::size_t>(check(put, "write to network"));
      counts.sent = sent;
    }
  }
  if (options.verbose) std::cerr << "* closing connection\n";
  if (parser.failed()) throw std::runtime_error(parser.error());
}
