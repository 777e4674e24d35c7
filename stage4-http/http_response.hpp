// http_response.hpp: an incremental parser for one HTTP/1.1 response.
//
// Purpose: in URL mode, stage4-http sends a request with "Connection: close"
// and must stop reading as soon as the response is complete, because a server
// may keep the connection open anyway. Knowing where a response ends is the
// lesson of RFC 9112 section 6.3, in the order this parser applies it:
//   1. 1xx, 204 and 304 responses have no body (a 1xx is an interim response:
//      the final one follows it; 101 Switching Protocols ends the HTTP part);
//   2. Transfer-Encoding whose final coding is "chunked": chunks until a
//      zero-size chunk and the trailer section; any other Transfer-Encoding:
//      the body runs until the server closes the connection;
//   3. Content-Length: exactly that many bytes;
//   4. neither: the body runs until the server closes the connection.
// The parser is a pure function of the bytes fed to it, split anywhere: no
// sockets, no I/O, so it can be tested one byte at a time and fuzzed. It never
// keeps the body, only the line being parsed, so its memory is bounded
// whatever the size of the response.
//
// Scope: the response to a GET request (a response to HEAD or CONNECT would
// need the request method, which this parser does not take).
//
// Usage:
//   ResponseParser parser;
//   while (!parser.complete() && !parser.failed()) {
//     ssize_t n = read(fd, buffer, sizeof buffer);
//     if (n == 0) { parser.finish(); break; }          // (errors omitted)
//     std::size_t used = parser.feed(buffer, n);
//     print buffer[0, used) as received, or parser.take_body() for --body
//   }
//   if (parser.failed()) report parser.error();
//
// See also: RFC 9112 sections 2.2 (parsing robustness), 4 (status line),
// 5 (field lines), 6.3 (message body length), 7.1 (chunked transfer coding);
// RFC 9110 section 8.6 (Content-Length).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// One header (or trailer) field line: the name as received (compare it
// case-insensitively), the value without surrounding spaces and tabs.
struct Header {
  std::string name;
  std::string value;
};

// The head of the final (non-1xx) response; 1xx interim heads are only
// narrated (see take_head_lines).
struct ResponseHead {
  std::string status_line;      // e.g. "HTTP/1.1 200 OK", without the line end
  int status = 0;               // e.g. 200
  std::vector<Header> headers;  // in the order received
};

class ResponseParser {
 public:
  // Bounds on what the parser keeps in memory; going over one is an error.
  // One head (status line and header lines, line ends included); each 1xx
  // interim head has its own. Real heads take a few hundred bytes.
  static constexpr std::size_t kMaxHeadBytes = 64 * 1024;
  // One chunk size line: hex size, extensions, line end.
  static constexpr std::size_t kMaxChunkLineBytes = 1024;
  // The trailer section after the last chunk, empty line included.
  static constexpr std::size_t kMaxTrailerBytes = 64 * 1024;

  // Consumes bytes from data[0, size) and returns how many belong to the
  // response. That is fewer than size only once the response is complete (the
  // rest lies past its end) or on error (the count then ends with the byte at
  // which the error was found). Once complete or failed, consumes nothing.
  std::size_t feed(const char* data, std::size_t size);

  // The server closed the connection: completes a body delimited by the close;
  // any other incomplete response fails as "response cut short: ...".
  void finish();

  bool complete() const { return state_ == State::kComplete; }
  bool failed() const { return state_ == State::kFailed; }
  // Why it failed, e.g. `malformed response: bad chunk size "zz"` or
  // `response cut short: connection closed after 4 of 10 body bytes`.
  const std::string& error() const { return error_; }

  // True once the final response's head has been parsed; head() is its head.
  bool head_complete() const { return head_complete_; }
  const ResponseHead& head() const { return head_; }

  // The body bytes decoded (framing removed) since the last call. Drain it
  // after each feed() and it never holds more than that feed() provided.
  std::string take_body();

  // Every status line and header line parsed since the last call, without
  // line ends, 1xx interim heads included: what `-v` prints after "< ". A
  // status line starts with "HTTP/", which a header line never does.
  std::vector<std::string> take_head_lines();

 private:
  enum class State {
    kHeadLine,        // status line or header line
    kBodyLength,      // Content-Length body
    kBodyUntilClose,  // body that ends when the server closes
    kChunkSizeLine,   // chunk-size [ chunk-ext ]
    kChunkData,       // chunk-data
    kChunkEnd,        // the CRLF after chunk-data
    kChunkEndLf,      // its LF, after the CR
    kTrailerLine,     // trailer field line, or the empty line that ends all
    kComplete,
    kFailed,
  };

  std::size_t step(const char* data, std::size_t size);
  std::size_t take_line(const char* data, std::size_t size);
  std::size_t line_room() const;
  void end_line();
  std::size_t take_body_bytes(const char* data, std::size_t size);
  std::size_t take_until_close(const char* data, std::size_t size);
  std::size_t take_chunk_end(char byte);

  void on_head_line(std::string_view line);
  void on_status_line(std::string_view line);
  void on_head_end();
  void choose_body_framing();
  void on_chunk_size_line(std::string_view line);
  void on_trailer_line(std::string_view line);
  std::optional<Header> parse_field_line(std::string_view line, const char* what);

  void fail_malformed(const std::string& why);
  void fail_cut_short(const std::string& why);

  State state_ = State::kHeadLine;
  std::string line_;               // the line being collected, line end included
  std::size_t section_bytes_ = 0;  // bytes of the current head or trailer section so far
  std::uint64_t remaining_ = 0;    // bytes left in the Content-Length body or the chunk
  std::uint64_t content_length_ = 0;
  bool head_complete_ = false;
  ResponseHead head_;
  std::string body_;
  std::vector<std::string> head_lines_;
  std::string error_;
};
