// http_response.cpp: an incremental parser for one HTTP/1.1 response.
//
// Purpose: a state machine over the bytes of a response. Lines (status line,
// header lines, chunk size lines, trailer lines) are collected in line_ up to
// a bound; body bytes are passed straight to body_ for the caller to drain,
// never accumulated. See http_response.hpp for the framing rules and the API.
//
// See also: RFC 9112 sections 2.2, 4, 5, 6.3 and 7.1; RFC 9110 section 8.6.
#include "http_response.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "error.hpp"  // not_written(), for the exercise's copy (docs/exercises.md)

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Returns the value of a hex digit, either case, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Optional whitespace (OWS) in HTTP is spaces and horizontal tabs only.
bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

// Field names and coding names are case-insensitive (RFC 9110 section 5.1).
bool iequals(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// A field name is a token (RFC 9110 section 5.6.2).
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Control characters other than tab have no place in a status line or a
// field value (RFC 9110 section 5.5: NUL in particular must be rejected).
bool has_control(std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) return true;
  }
  return false;
}

// Quotes text for an error message: the server chose these bytes, so control
// characters are escaped (they could drive the terminal) and length is capped.
std::string quoted(std::string_view text) {
  constexpr std::size_t kShown = 64;
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text.substr(0, kShown)) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  out += '"';
  if (text.size() > kShown) out += "...";
  return out;
}

// The values of every field line called `name`, joined as one comma-separated
// list, which is what several lines of the same field mean (RFC 9110 5.3).
std::optional<std::string> combined_value(const ResponseHead& head, std::string_view name) {
  std::optional<std::string> joined;
  for (const Header& header : head.headers) {
    if (!iequals(header.name, name)) continue;
    joined = joined ? *joined + ", " + header.value : header.value;
  }
  return joined;
}

// The last non-empty element of a comma-separated list, without parameters:
// "gzip, chunked" gives "chunked".
std::string_view last_element(std::string_view list) {
  std::string_view last;
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view element = trim(list.substr(0, comma));
    if (!element.empty()) last = element;
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return trim(last.substr(0, last.find(';')));
}

// 1*DIGIT, without sign or spaces; nullopt if not a number or too large.
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// Content-Length is one number, but a list of identical numbers ("42, 42",
// or the field repeated) is accepted: some senders duplicate it. Differing
// values would make the end of the body ambiguous (RFC 9110 section 8.6).
std::optional<std::uint64_t> parse_content_length(std::string_view list) {
  std::optional<std::uint64_t> length;
  while (true) {
    std::size_t comma = list.find(',');
    std::optional<std::uint64_t> value = parse_decimal(trim(list.substr(0, comma)));
    if (!value || (length && *length != *value)) return std::nullopt;
    length = value;
    if (comma == std::string_view::npos) return length;
    list = list.substr(comma + 1);
  }
}

// field-line = field-name ":" OWS field-value OWS   (RFC 9112 section 5)
// Returns why `line` (not empty) is not a valid field line, or "" if it is;
// `kind` is "header" or "trailer", for the message.
std::string field_line_problem(std::string_view line, const std::string& kind) {
  // A line starting with whitespace continues the previous one (obs-fold).
  // RFC 9112 section 5.2 asks a user agent to unfold it; we reject it on
  // purpose: it has been obsolete since RFC 7230, servers no longer send it,
  // and rejecting keeps the rule simple: one line, one field.
  if (is_space(line[0])) return "folded " + kind + " line " + quoted(line);
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return kind + " line without a colon " + quoted(line);
  std::string_view name = line.substr(0, colon);
  // "Name : value" is rejected (RFC 9112 section 5.1): parsers that disagree
  // about such a name have been used to smuggle responses past proxies.
  if (!name.empty() && is_space(name.back())) {
    return "whitespace before the colon in " + kind + " line " + quoted(line);
  }
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
    return "bad " + kind + " name in line " + quoted(line);
  }
  if (has_control(line.substr(colon + 1))) {
    return "control character in " + kind + " line " + quoted(line);
  }
  return "";
}

}  // namespace

std::size_t ResponseParser::feed(const char* data, std::size_t size) {
  std::size_t used = 0;
  while (used < size && !complete() && !failed()) {
    used += step(data + used, size - used);
  }
  return used;
}

void ResponseParser::finish() {
  switch (state_) {
    case State::kComplete:
    case State::kFailed: return;
    case State::kBodyUntilClose:
      // The close is the end of the body: this is how HTTP/1.0 framed them.
      state_ = State::kComplete;
      return;
    case State::kHeadLine:
      if (head_.status_line.empty())
        return fail_cut_short("connection closed before a status line");
      return fail_cut_short("connection closed in the response head");
    case State::kBodyLength:
      return fail_cut_short("connection closed after " +
                            std::to_string(content_length_ - remaining_) + " of " +
                            std::to_string(content_length_) + " body bytes");
    case State::kTrailerLine: return fail_cut_short("connection closed in the trailer section");
    default: return fail_cut_short("connection closed before the last chunk");
  }
}

std::string ResponseParser::take_body() {
  std::string body;
  body.swap(body_);
  return body;
}

std::vector<std::string> ResponseParser::take_head_lines() {
  std::vector<std::string> lines;
  lines.swap(head_lines_);
  return lines;
}

// Consumes at least one byte of data[0, size), size > 0, in the current state.
std::size_t ResponseParser::step(const char* data, std::size_t size) {
  switch (state_) {
    case State::kHeadLine:
    case State::kChunkSizeLine:
    case State::kTrailerLine: return take_line(data, size);
    case State::kBodyLength:
    case State::kChunkData: return take_body_bytes(data, size);
    case State::kBodyUntilClose: return take_until_close(data, size);
    case State::kChunkEnd:
    case State::kChunkEndLf: return take_chunk_end(data[0]);
    case State::kComplete:
    case State::kFailed: break;
  }
  return 0;
}

// Moves bytes up to and including the next LF into line_, within the bound
// of the current state; a line may arrive over any number of feeds.
std::size_t ResponseParser::take_line(const char* data, std::size_t size) {
  const void* lf = std::memchr(data, '\n', size);
  std::size_t count = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - data) + 1 : size;
  std::size_t room = line_room();
  if (count > room) {
    if (state_ == State::kHeadLine) {
      fail_malformed("response head longer than " + std::to_string(kMaxHeadBytes) + " bytes");
    } else if (state_ == State::kTrailerLine) {
      fail_malformed("trailer section longer than " + std::to_string(kMaxTrailerBytes) + " bytes");
    } else {
      fail_malformed("chunk size line longer than " + std::to_string(kMaxChunkLineBytes) +
                     " bytes");
    }
    return room + 1;  // up to the first byte over the bound
  }
  line_.append(data, count);
  section_bytes_ += count;
  if (lf) end_line();
  return count;
}

// How many more bytes the line being collected may take.
std::size_t ResponseParser::line_room() const {
  if (state_ == State::kHeadLine) return kMaxHeadBytes - section_bytes_;
  if (state_ == State::kTrailerLine) return kMaxTrailerBytes - section_bytes_;
  return kMaxChunkLineBytes - line_.size();
}

// line_ ends with LF: strip the line end and hand the line to its state.
void ResponseParser::end_line() {
  std::string_view line(line_);
  line.remove_suffix(1);
  // RFC 9112 section 2.2 lets a recipient accept a bare LF as a line end, as
  // most clients do. A CR anywhere else could hide a line end from another
  // parser on the path, so it is rejected.
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) {
    fail_malformed("bare CR in line " + quoted(line));
  } else if (state_ == State::kHeadLine) {
    on_head_line(line);
  } else if (state_ == State::kChunkSizeLine) {
    on_chunk_size_line(line);
  } else {
    on_trailer_line(line);
  }
  line_.clear();
}

// Passes body bytes through, up to the end of the Content-Length body or of
// the current chunk.
std::size_t ResponseParser::take_body_bytes(const char* data, std::size_t size) {
  auto count = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size));
  body_.append(data, count);
  remaining_ -= count;
  if (remaining_ == 0) state_ = state_ == State::kBodyLength ? State::kComplete : State::kChunkEnd;
  return count;
}

// A body delimited by the close: everything is body.
std::size_t ResponseParser::take_until_close(const char* data, std::size_t size) {
  body_.append(data, size);
  return size;
}

// chunk-data is followed by CRLF (or a bare LF). Checking it byte by byte
// catches a wrong chunk size at once, without collecting a line of garbage.
std::size_t ResponseParser::take_chunk_end(char byte) {
  if (byte == '\n') {
    state_ = State::kChunkSizeLine;
  } else if (byte == '\r' && state_ == State::kChunkEnd) {
    state_ = State::kChunkEndLf;
  } else {
    fail_malformed("missing CRLF after chunk data");
  }
  return 1;
}

void ResponseParser::on_head_line(std::string_view line) {
  if (head_.status_line.empty()) return on_status_line(line);
  if (line.empty()) return on_head_end();
  if (std::optional<Header> header = parse_field_line(line, "header")) {
    head_.headers.push_back(std::move(*header));
    head_lines_.emplace_back(line);
  }
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ]   (RFC 9112 section 4)
// e.g. "HTTP/1.1 404 Not Found". A missing SP before an empty reason is
// accepted, as most clients do; the reason itself means nothing to a client.
void ResponseParser::on_status_line(std::string_view line) {
  if (line.substr(0, 5) != "HTTP/") return fail_malformed("bad status line " + quoted(line));
  if (line.size() < 9 || line.substr(5, 2) != "1." || !is_digit(line[7]) || line[8] != ' ') {
    return fail_malformed("bad HTTP version in status line " + quoted(line));
  }
  std::string_view code = line.substr(9, 3);
  bool three_digits = code.size() == 3 && is_digit(code[1]) && is_digit(code[2]);
  // Status codes run from 100 to 599 (RFC 9110 section 15).
  if (!three_digits || code[0] < '1' || code[0] > '5' || (line.size() > 12 && line[12] != ' ')) {
    return fail_malformed("bad status code in status line " + quoted(line));
  }
  if (has_control(line)) return fail_malformed("control character in status line " + quoted(line));
  head_.status_line = std::string(line);
  head_.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  head_lines_.emplace_back(line);
}

// The empty line after the header section.
void ResponseParser::on_head_end() {
  if (head_.status == 101) {
    // Switching Protocols: the bytes that follow are another protocol.
    head_complete_ = true;
    state_ = State::kComplete;
  } else if (head_.status < 200) {
    // Interim response (100 Continue, 103 Early Hints): no body, and the
    // final response follows. Its head starts anew, with its own bound.
    head_ = ResponseHead{};
    section_bytes_ = 0;
  } else {
    head_complete_ = true;
    choose_body_framing();
  }
}

// RFC 9112 section 6.3, for a final response to GET.
void ResponseParser::choose_body_framing() {
  // BEGIN SOLUTION 4.2 where a response ends
  // TASK: set state_ as RFC 9112 section 6.3 says: 204/304, Transfer-Encoding, Content-Length.
  // TASK: docs/stage4-http.md#where-a-response-ends-rfc-9112-section-63
  if (head_.status == 204 || head_.status == 304) {
    state_ = State::kComplete;  // never a body, whatever the headers say
    return;
  }
  // Transfer-Encoding overrides Content-Length. Only chunked tells where the
  // body ends; with any other final coding, only the close does.
  if (std::optional<std::string> codings = combined_value(head_, "Transfer-Encoding")) {
    state_ =
        iequals(last_element(*codings), "chunked") ? State::kChunkSizeLine : State::kBodyUntilClose;
    return;
  }
  if (std::optional<std::string> lengths = combined_value(head_, "Content-Length")) {
    std::optional<std::uint64_t> length = parse_content_length(*lengths);
    if (!length) return fail_malformed("bad Content-Length " + quoted(*lengths));
    content_length_ = remaining_ = *length;
    state_ = remaining_ == 0 ? State::kComplete : State::kBodyLength;
    return;
  }
  state_ = State::kBodyUntilClose;
  // END SOLUTION
}

// chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF   (RFC 9112 section 7.1)
// chunk-size is hex, either case; chunk-ext (";name=value...") is ignored.
void ResponseParser::on_chunk_size_line(std::string_view line) {
  // BEGIN SOLUTION 4.2 where a response ends
  // TASK: parse the chunk's hex size (an extension ignored); size 0: the trailer section.
  // TASK: docs/stage4-http.md#where-a-response-ends-rfc-9112-section-63
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::size_t digits = 0;
  std::uint64_t size = 0;
  for (; digits < line.size() && hex_value(line[digits]) >= 0; ++digits) {
    if (size > kMax / 16) return fail_malformed("chunk size too large " + quoted(line));
    size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
  }
  std::string_view rest = trim(line.substr(digits));  // BWS may precede ';'
  if (digits == 0 || (!rest.empty() && rest[0] != ';')) {
    return fail_malformed("bad chunk size " + quoted(line));
  }
  if (size == 0) {
    state_ = State::kTrailerLine;  // last-chunk: the trailer section follows
    section_bytes_ = 0;
  } else {
    remaining_ = size;
    state_ = State::kChunkData;
  }
  // END SOLUTION
}

// Trailer fields are checked like header fields, then dropped: nothing here
// uses them. The empty line ends the trailer section and the response.
void ResponseParser::on_trailer_line(std::string_view line) {
  if (line.empty()) {
    state_ = State::kComplete;
  } else {
    parse_field_line(line, "trailer");
  }
}

// A header or trailer field line, once checked by field_line_problem().
std::optional<Header> ResponseParser::parse_field_line(std::string_view line, const char* what) {
  std::string problem = field_line_problem(line, what);
  if (!problem.empty()) {
    fail_malformed(problem);
    return std::nullopt;
  }
  std::size_t colon = line.find(':');
  return Header{std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1)))};
}

void ResponseParser::fail_malformed(const std::string& why) {
  error_ = "malformed response: " + why;
  state_ = State::kFailed;
}

void ResponseParser::fail_cut_short(const std::string& why) {
  error_ = "response cut short: " + why;
  state_ = State::kFailed;
}
