// http_response_test.cpp: unit tests of stage4-http's HTTP/1.1 response parser.
//
// Purpose: every way a response can end (Content-Length, chunked, close,
// no body), every place a read() can split it, and the malformed or cut-short
// responses that must fail with a clear message. Each test states the exact
// body, consumed count and state it expects.
//
// See also: stage4-http/http_response.hpp; RFC 9112 sections 2.2, 4, 5, 6.3, 7.1.
#include "http_response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::string_literals;  // "a\0b"s keeps the NUL

// What a parser made of a response fed in pieces.
struct Outcome {
  std::size_t used = 0;  // bytes consumed, over all feeds
  std::string body;      // everything take_body() returned
  std::vector<std::string> head_lines;
  bool complete = false;
  bool failed = false;
  std::string error;
  int status = 0;
};

// Feeds the pieces in order, draining body and head lines after each feed as
// stage4-http does; then finish() if the server closes after the last piece.
Outcome parse_pieces(const std::vector<std::string_view>& pieces, bool close_at_end) {
  ResponseParser parser;
  Outcome out;
  for (std::string_view piece : pieces) {
    out.used += parser.feed(piece.data(), piece.size());
    std::string body = parser.take_body();
    EXPECT_LE(body.size(), piece.size()) << "take_body() holds more than one feed provided";
    out.body += body;
    for (std::string& line : parser.take_head_lines())
      out.head_lines.push_back(line);
  }
  if (close_at_end) parser.finish();
  out.body += parser.take_body();
  out.complete = parser.complete();
  out.failed = parser.failed();
  out.error = parser.error();
  out.status = parser.head().status;
  return out;
}

Outcome parse(std::string_view response, bool close_at_end = false) {
  return parse_pieces({response}, close_at_end);
}

Outcome parse_split(std::string_view response, std::size_t at, bool close_at_end) {
  return parse_pieces({response.substr(0, at), response.substr(at)}, close_at_end);
}

Outcome parse_bytewise(std::string_view response, bool close_at_end) {
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < response.size(); ++i)
    bytes.push_back(response.substr(i, 1));
  return parse_pieces(bytes, close_at_end);
}

void expect_same(const Outcome& expected, const Outcome& actual) {
  EXPECT_EQ(expected.used, actual.used);
  EXPECT_EQ(expected.body, actual.body);
  EXPECT_EQ(expected.head_lines, actual.head_lines);
  EXPECT_EQ(expected.complete, actual.complete);
  EXPECT_EQ(expected.failed, actual.failed);
  EXPECT_EQ(expected.error, actual.error);
  EXPECT_EQ(expected.status, actual.status);
}

// The error message of a response that must be rejected as it arrives.
std::string error_of(std::string_view response) {
  Outcome out = parse(response);
  EXPECT_TRUE(out.failed);
  EXPECT_FALSE(out.complete);
  return out.error;
}

const std::string kNginx =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.24.0\r\n"
    "Date: Mon, 06 May 2024 10:00:00 GMT\r\n"
    "Content-Type: text/html\r\n"
    "Content-Length: 13\r\n"
    "Connection: close\r\n"
    "\r\n"
    "<p>hello</p>\n";

// The chunked example of Wikipedia, with extensions and a trailer.
const std::string kChunked =
    "HTTP/1.1 200 OK\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Trailer: Expires\r\n"
    "\r\n"
    "4;name=value\r\n"
    "Wiki\r\n"
    "5 ; ext=\"quoted;value\"\r\n"
    "pedia\r\n"
    "E\r\n"
    " in\r\n\r\nchunks.\r\n"
    "0\r\n"
    "Expires: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
    "\r\n";
const std::string kChunkedBody = "Wikipedia in\r\n\r\nchunks.";

// --- Framing -----------------------------------------------------------------

TEST(HttpResponse, ContentLengthBody) {
  ResponseParser parser;
  EXPECT_EQ(parser.feed(kNginx.data(), kNginx.size()), kNginx.size());
  EXPECT_TRUE(parser.complete());
  EXPECT_FALSE(parser.failed());
  EXPECT_EQ(parser.take_body(), "<p>hello</p>\n");
  EXPECT_EQ(parser.take_body(), "");  // drained
  ASSERT_TRUE(parser.head_complete());
  EXPECT_EQ(parser.head().status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(parser.head().status, 200);
  ASSERT_EQ(parser.head().headers.size(), 5u);
  EXPECT_EQ(parser.head().headers[0].name, "Server");
  EXPECT_EQ(parser.head().headers[0].value, "nginx/1.24.0");
  EXPECT_EQ(parser.head().headers[3].name, "Content-Length");
  EXPECT_EQ(parser.head().headers[3].value, "13");
  EXPECT_EQ(parser.error(), "");
}

TEST(HttpResponse, ContentLengthIncompleteUntilLastByte) {
  ResponseParser parser;
  EXPECT_EQ(parser.feed(kNginx.data(), kNginx.size() - 1), kNginx.size() - 1);
  EXPECT_TRUE(parser.head_complete());
  EXPECT_FALSE(parser.complete());
  EXPECT_EQ(parser.take_body(), "<p>hello</p>");
  EXPECT_EQ(parser.feed("\n", 1), 1u);
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(parser.take_body(), "\n");
}

TEST(HttpResponse, ContentLengthZeroCompletesAfterHead) {
  Outcome out = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nNEXT");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.used, 38u);
  EXPECT_EQ(out.body, "");
}

TEST(HttpResponse, BytesPastContentLengthNotConsumed) {
  const std::string next = "HTTP/1.1 200 OK\r\n";
  ResponseParser parser;
  std::string both = kNginx + next;
  EXPECT_EQ(parser.feed(both.data(), both.size()), kNginx.size());
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(parser.take_body(), "<p>hello</p>\n");
  EXPECT_EQ(parser.feed(next.data(), next.size()), 0u);  // complete: consumes nothing
  EXPECT_EQ(parser.take_body(), "");
}

TEST(HttpResponse, ContentLengthListOfIdenticalValues) {
  Outcome out = parse("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabcdef");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "abc");
  out = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabcdef");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "abc");
}

TEST(HttpResponse, ChunkedWithExtensionsAndTrailer) {
  ResponseParser parser;
  std::string with_next = kChunked + "HTTP/1.1";
  EXPECT_EQ(parser.feed(with_next.data(), with_next.size()), kChunked.size());
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(parser.take_body(), kChunkedBody);
  // Trailer fields are skipped, not added to the head.
  ASSERT_EQ(parser.head().headers.size(), 2u);
  EXPECT_EQ(parser.head().headers[1].name, "Trailer");
}

TEST(HttpResponse, ChunkedHexInEitherCase) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz";
  Outcome out = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1A\r\n" + alphabet +
                      "\r\n1a\r\n" + alphabet + "\r\n0000\r\n\r\n");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, alphabet + alphabet);
}

TEST(HttpResponse, ChunkedWithoutTrailerAndBytesPastEnd) {
  std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  Outcome out = parse(response + "junk");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.used, response.size());
  EXPECT_EQ(out.body, "abc");
}

TEST(HttpResponse, ChunkedIncompleteWithoutFinalEmptyLine) {
  Outcome out = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n");
  EXPECT_FALSE(out.complete);
  EXPECT_FALSE(out.failed);
  EXPECT_EQ(out.body, "abc");
}

TEST(HttpResponse, TransferEncodingOverridesContentLength) {
  Outcome out = parse(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nok\r\n0\r\n\r\n");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "ok");
}

TEST(HttpResponse, ChunkedMustBeTheFinalCoding) {
  // "gzip, chunked", even over two lines, is chunked: the chunks are decoded,
  // the gzip data inside is passed through as the body.
  Outcome out = parse(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\ntransfer-encoding: CHUNKED\r\n\r\n"
      "2\r\n\x1f\x8b\r\n0\r\n\r\n");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "\x1f\x8b");
  // "chunked, gzip" does not end with chunked: the body runs until the close.
  std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 1\r\n\r\n0\r\n\r\n";
  out = parse(response);
  EXPECT_FALSE(out.complete);
  EXPECT_EQ(out.body, "0\r\n\r\n");
  out = parse(response, true);
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "0\r\n\r\n");
}

TEST(HttpResponse, CloseDelimitedBody) {
  std::string response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nline one\nline two\n";
  ResponseParser parser;
  EXPECT_EQ(parser.feed(response.data(), response.size()), response.size());
  EXPECT_TRUE(parser.head_complete());
  EXPECT_FALSE(parser.complete());
  EXPECT_EQ(parser.take_body(), "line one\nline two\n");
  parser.finish();
  EXPECT_TRUE(parser.complete());
  EXPECT_FALSE(parser.failed());
  EXPECT_EQ(parser.error(), "");
  EXPECT_EQ(parser.feed("more", 4), 0u);
  EXPECT_EQ(parser.take_body(), "");
}

TEST(HttpResponse, NoContentHasNoBody) {
  std::string head = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
  Outcome out = parse(head + "hello");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.used, head.size());
  EXPECT_EQ(out.body, "");
  EXPECT_EQ(out.status, 204);
}

TEST(HttpResponse, NotModifiedHasNoBody) {
  // A 304 may announce the length of the representation it stands for.
  std::string head =
      "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 1234\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  Outcome out = parse(head + "0\r\n\r\n");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.used, head.size());
  EXPECT_EQ(out.body, "");
  EXPECT_EQ(out.status, 304);
}

TEST(HttpResponse, InterimResponsesThenFinal) {
  std::string response =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  ResponseParser parser;
  EXPECT_EQ(parser.feed(response.data(), response.size()), response.size());
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(parser.take_body(), "hi");
  EXPECT_EQ(parser.head().status, 200);
  EXPECT_EQ(parser.head().status_line, "HTTP/1.1 200 OK");
  ASSERT_EQ(parser.head().headers.size(), 1u);  // not the Link of the 103
  EXPECT_EQ(parser.head().headers[0].name, "Content-Length");
  std::vector<std::string> expected = {"HTTP/1.1 100 Continue", "HTTP/1.1 103 Early Hints",
                                       "Link: </style.css>; rel=preload", "HTTP/1.1 200 OK",
                                       "Content-Length: 2"};
  EXPECT_EQ(parser.take_head_lines(), expected);
  EXPECT_TRUE(parser.take_head_lines().empty());  // drained
}

TEST(HttpResponse, InterimHeadIsNotTheFinalHead) {
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  ResponseParser parser;
  EXPECT_EQ(parser.feed(interim.data(), interim.size()), interim.size());
  EXPECT_FALSE(parser.head_complete());
  EXPECT_FALSE(parser.complete());
  parser.finish();
  EXPECT_EQ(parser.error(), "response cut short: connection closed before a status line");
}

TEST(HttpResponse, SwitchingProtocolsEndsTheResponse) {
  std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  Outcome out = parse(head + "\x81\x05hello");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.used, head.size());
  EXPECT_EQ(out.status, 101);
  EXPECT_EQ(out.body, "");
}

TEST(HttpResponse, BareLineFeeds) {
  std::string response = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\nX-T: 1\n\n";
  Outcome out = parse(response + "next");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "abc");
  EXPECT_EQ(out.used, response.size());
  out = parse("HTTP/1.1 200 OK\nContent-Length: 3\n\nabc");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "abc");
}

TEST(HttpResponse, StatusLineVariants) {
  EXPECT_EQ(parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").status, 200);   // no SP
  EXPECT_EQ(parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").status, 200);  // empty reason
  Outcome out = parse("HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(out.body, "not found");
  ResponseParser parser;
  std::string text = "HTTP/1.1 599 Odd  reason\twith tab\r\n";
  parser.feed(text.data(), text.size());
  EXPECT_FALSE(parser.failed());
  EXPECT_EQ(parser.take_head_lines(),
            std::vector<std::string>{"HTTP/1.1 599 Odd  reason\twith tab"});
}

TEST(HttpResponse, HeaderNamesCaseInsensitiveAndValuesTrimmed) {
  ResponseParser parser;
  std::string response =
      "HTTP/1.1 301 Moved Permanently\r\ncontent-LENGTH:\t4 \r\nLocation:   /new/  \r\n"
      "X-Empty:\r\n\r\nmoveEXTRA";
  EXPECT_EQ(parser.feed(response.data(), response.size()), response.size() - 5);
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(parser.take_body(), "move");
  ASSERT_EQ(parser.head().headers.size(), 3u);
  EXPECT_EQ(parser.head().headers[1].name, "Location");
  EXPECT_EQ(parser.head().headers[1].value, "/new/");
  EXPECT_EQ(parser.head().headers[2].value, "");
}

TEST(HttpResponse, LargeBodyStreamsWithBoundedMemory) {
  const std::string piece(64 * 1024, 'x');
  const std::uint64_t total = 10 * 1024 * 1024;  // 160 pieces
  for (std::string head : {"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA00000\r\n"}) {
    ResponseParser parser;
    EXPECT_EQ(parser.feed(head.data(), head.size()), head.size());
    std::uint64_t received = 0;
    while (received < total) {
      EXPECT_EQ(parser.feed(piece.data(), piece.size()), piece.size());
      EXPECT_EQ(parser.take_body().size(), piece.size());
      received += piece.size();
    }
    if (!parser.complete()) parser.feed("\r\n0\r\n\r\n", 7);
    EXPECT_TRUE(parser.complete()) << head;
  }
}

// --- Any split of the bytes gives the same result ------------------------------

struct Sample {
  std::string response;
  bool close_at_end;
  bool complete;
  std::size_t used;
  std::string body;
};

std::vector<Sample> samples() {
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string chunked_lf = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5;x=y\nhello\n0\n\n";
  std::string close = "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\n<html>\n</html>\n";
  std::string bad = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n";
  return {
      {kNginx + "HTTP/1.1 200", false, true, kNginx.size(), "<p>hello</p>\n"},
      {kChunked + "extra", false, true, kChunked.size(), kChunkedBody},
      {interim + kChunked, false, true, interim.size() + kChunked.size(), kChunkedBody},
      {chunked_lf, false, true, chunked_lf.size(), "hello"},
      {close, true, true, close.size(), "<html>\n</html>\n"},
      {bad, false, false, bad.size() - 2, "abc"},  // fails at the 'd'
  };
}

TEST(HttpResponseSplit, WholeSamplesGiveExpectedResults) {
  for (const Sample& sample : samples()) {
    SCOPED_TRACE(sample.response);
    Outcome out = parse(sample.response, sample.close_at_end);
    EXPECT_EQ(out.complete, sample.complete);
    EXPECT_EQ(out.failed, !sample.complete);
    EXPECT_EQ(out.used, sample.used);
    EXPECT_EQ(out.body, sample.body);
  }
}

TEST(HttpResponseSplit, TwoPiecesAtEveryIndex) {
  for (const Sample& sample : samples()) {
    Outcome whole = parse(sample.response, sample.close_at_end);
    for (std::size_t at = 0; at <= sample.response.size(); ++at) {
      SCOPED_TRACE(sample.response.substr(0, at) + "|" + sample.response.substr(at));
      expect_same(whole, parse_split(sample.response, at, sample.close_at_end));
    }
  }
}

TEST(HttpResponseSplit, OneByteAtATime) {
  for (const Sample& sample : samples()) {
    SCOPED_TRACE(sample.response);
    expect_same(parse(sample.response, sample.close_at_end),
                parse_bytewise(sample.response, sample.close_at_end));
  }
}

// --- Malformed responses -----------------------------------------------------

TEST(HttpResponseMalformed, BadStatusLine) {
  EXPECT_EQ(error_of("<html>\r\n"), "malformed response: bad status line \"<html>\"");
  EXPECT_EQ(error_of("\r\nHTTP/1.1 200 OK\r\n"), "malformed response: bad status line \"\"");
  EXPECT_EQ(error_of("http/1.1 200 OK\r\n"),
            "malformed response: bad status line \"http/1.1 200 OK\"");
}

TEST(HttpResponseMalformed, BadVersion) {
  EXPECT_EQ(error_of("HTTP/2 200 OK\r\n"),
            "malformed response: bad HTTP version in status line \"HTTP/2 200 OK\"");
  EXPECT_EQ(error_of("HTTP/1.x 200 OK\r\n"),
            "malformed response: bad HTTP version in status line \"HTTP/1.x 200 OK\"");
  EXPECT_EQ(error_of("HTTP/1.10 200 OK\r\n"),
            "malformed response: bad HTTP version in status line \"HTTP/1.10 200 OK\"");
  EXPECT_EQ(error_of("HTTP/1.1\r\n"),
            "malformed response: bad HTTP version in status line \"HTTP/1.1\"");
}

TEST(HttpResponseMalformed, BadStatusCode) {
  for (std::string line :
       {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 abc OK", "HTTP/1.1 600 Nope",
        "HTTP/1.1 099 Low", "HTTP/1.1  200 OK", "HTTP/1.1 20"}) {
    EXPECT_EQ(error_of(line + "\r\n"),
              "malformed response: bad status code in status line \"" + line + "\"");
  }
}

TEST(HttpResponseMalformed, ControlCharacterInStatusLine) {
  EXPECT_EQ(error_of("HTTP/1.1 200 O\0K\r\n"s),
            "malformed response: control character in status line \"HTTP/1.1 200 O\\x00K\"");
}

TEST(HttpResponseMalformed, BareCr) {
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX: a\rb\r\n"),
            "malformed response: bare CR in line \"X: a\\x0db\"");
}

TEST(HttpResponseMalformed, HeaderLines) {
  const std::string status = "HTTP/1.1 200 OK\r\n";
  EXPECT_EQ(error_of(status + "Server nginx\r\n"),
            "malformed response: header line without a colon \"Server nginx\"");
  EXPECT_EQ(error_of(status + "Content-Length : 5\r\n"),
            "malformed response: whitespace before the colon in header line "
            "\"Content-Length : 5\"");
  EXPECT_EQ(error_of(status + ": value\r\n"),
            "malformed response: bad header name in line \": value\"");
  EXPECT_EQ(error_of(status + "Bad Name: value\r\n"),
            "malformed response: bad header name in line \"Bad Name: value\"");
  EXPECT_EQ(error_of(status + "X-A: 1\r\n  continued\r\n"),
            "malformed response: folded header line \"  continued\"");
  EXPECT_EQ(error_of(status + " X-A: 1\r\n"), "malformed response: folded header line \" X-A: 1\"");
  EXPECT_EQ(error_of(status + "X-A: a\0b\r\n"s),
            "malformed response: control character in header line \"X-A: a\\x00b\"");
}

TEST(HttpResponseMalformed, ConsumedCountEndsAtTheError) {
  std::string good = "HTTP/1.1 200 OK\r\nNo colon here\r\n";
  ResponseParser parser;
  std::string response = good + "Content-Length: 0\r\n\r\n";
  EXPECT_EQ(parser.feed(response.data(), response.size()), good.size());
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(parser.feed(response.data(), response.size()), 0u);  // failed: consumes nothing
  parser.finish();                                               // and stays failed
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(parser.error(), "malformed response: header line without a colon \"No colon here\"");
}

TEST(HttpResponseMalformed, BadContentLength) {
  const std::string status = "HTTP/1.1 200 OK\r\n";
  for (std::string value : {"abc", "-1", "+5", "5 5", "0x10", "", "5, 6", "5,", ",5", "1.0",
                            "18446744073709551616", "99999999999999999999999"}) {
    EXPECT_EQ(error_of(status + "Content-Length: " + value + "\r\n\r\n"),
              "malformed response: bad Content-Length \"" + value + "\"");
  }
  EXPECT_EQ(error_of(status + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            "malformed response: bad Content-Length \"5, 6\"");
  // The largest value that fits is accepted (and would take a while to arrive).
  Outcome out = parse(status + "Content-Length: 18446744073709551615\r\n\r\nabc");
  EXPECT_FALSE(out.failed);
  EXPECT_EQ(out.body, "abc");
}

TEST(HttpResponseMalformed, BadChunkSize) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(error_of(head + "zz\r\n"), "malformed response: bad chunk size \"zz\"");
  EXPECT_EQ(error_of(head + "\r\n"), "malformed response: bad chunk size \"\"");
  EXPECT_EQ(error_of(head + "-1\r\n"), "malformed response: bad chunk size \"-1\"");
  EXPECT_EQ(error_of(head + " 5\r\n"), "malformed response: bad chunk size \" 5\"");
  EXPECT_EQ(error_of(head + "5x\r\n"), "malformed response: bad chunk size \"5x\"");
  EXPECT_EQ(error_of(head + "0x5\r\n"), "malformed response: bad chunk size \"0x5\"");
}

TEST(HttpResponseMalformed, ChunkSizeOverflow) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(error_of(head + "10000000000000000\r\n"),
            "malformed response: chunk size too large \"10000000000000000\"");
  EXPECT_EQ(error_of(head + "fffffffffffffffffff;x\r\n"),
            "malformed response: chunk size too large \"fffffffffffffffffff;x\"");
  // 16 hex digits fit in 64 bits, leading zeros do not count.
  EXPECT_FALSE(parse(head + "FFFFFFFFFFFFFFFF\r\nabc").failed);
  Outcome out = parse(head + "00000000000000000000003\r\nabc\r\n0\r\n\r\n");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "abc");
}

TEST(HttpResponseMalformed, MissingCrlfAfterChunkData) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(error_of(head + "3\r\nabcd\r\n"), "malformed response: missing CRLF after chunk data");
  EXPECT_EQ(error_of(head + "3\r\nabc\rX"), "malformed response: missing CRLF after chunk data");
  EXPECT_EQ(error_of(head + "3\r\nabc\r\r\n"), "malformed response: missing CRLF after chunk data");
}

TEST(HttpResponseMalformed, BadTrailer) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  EXPECT_EQ(error_of(head + "no colon\r\n"),
            "malformed response: trailer line without a colon \"no colon\"");
}

// --- Bounds ------------------------------------------------------------------

// A head of exactly `size` bytes: status line, one filler header, end of head.
std::string head_of_size(std::size_t size) {
  std::string start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Filler: ";
  std::string end = "\r\n\r\n";
  return start + std::string(size - start.size() - end.size(), 'a') + end;
}

TEST(HttpResponseBounds, HeadAtTheBoundIsAccepted) {
  Outcome out = parse(head_of_size(ResponseParser::kMaxHeadBytes));
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.used, ResponseParser::kMaxHeadBytes);
}

TEST(HttpResponseBounds, HeadOverTheBoundFails) {
  std::string head = head_of_size(ResponseParser::kMaxHeadBytes + 1);
  for (Outcome out : {parse(head), parse_bytewise(head, false)}) {
    EXPECT_TRUE(out.failed);
    EXPECT_EQ(out.error, "malformed response: response head longer than 65536 bytes");
    EXPECT_EQ(out.used, ResponseParser::kMaxHeadBytes + 1);
  }
  // A server that never ends its status line hits the bound too.
  EXPECT_EQ(error_of(std::string(100000, 'H')),
            "malformed response: response head longer than 65536 bytes");
}

TEST(HttpResponseBounds, EachInterimHeadHasItsOwnBound) {
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string response = interim + interim + head_of_size(ResponseParser::kMaxHeadBytes);
  Outcome out = parse(response);
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.used, response.size());
}

TEST(HttpResponseBounds, ChunkSizeLine) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string at_bound = "1;" + std::string(ResponseParser::kMaxChunkLineBytes - 4, 'e') + "\r\n";
  Outcome out = parse(head + at_bound + "x\r\n0\r\n\r\n");
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.body, "x");
  EXPECT_EQ(error_of(head + "1;" + std::string(ResponseParser::kMaxChunkLineBytes, 'e')),
            "malformed response: chunk size line longer than 1024 bytes");
}

TEST(HttpResponseBounds, TrailerSection) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  std::string filler = "X-T: " + std::string(ResponseParser::kMaxTrailerBytes - 9, 't') + "\r\n";
  EXPECT_TRUE(parse(head + filler + "\r\n").complete);  // exactly at the bound
  EXPECT_EQ(error_of(head + "X-T: 1\r\n" + filler + "\r\n"),
            "malformed response: trailer section longer than 65536 bytes");
}

// --- Cut short ---------------------------------------------------------------

TEST(HttpResponseCutShort, ContentLength) {
  Outcome out = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", true);
  EXPECT_TRUE(out.failed);
  EXPECT_FALSE(out.complete);
  EXPECT_EQ(out.body, "abcd");
  EXPECT_EQ(out.error, "response cut short: connection closed after 4 of 10 body bytes");
}

TEST(HttpResponseCutShort, Chunked) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::string rest : {"", "5\r\nab", "5\r\nabcde", "5\r\nabcde\r", "5\r\nabcde\r\n0"}) {
    Outcome out = parse(head + rest, true);
    EXPECT_TRUE(out.failed) << rest;
    EXPECT_EQ(out.error, "response cut short: connection closed before the last chunk");
  }
  Outcome out = parse(head + "0\r\nX-T: 1\r\n", true);
  EXPECT_EQ(out.error, "response cut short: connection closed in the trailer section");
}

TEST(HttpResponseCutShort, Head) {
  EXPECT_EQ(parse("", true).error, "response cut short: connection closed before a status line");
  EXPECT_EQ(parse("HTTP/1.1 200 O", true).error,
            "response cut short: connection closed before a status line");
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nServer: x\r\n", true).error,
            "response cut short: connection closed in the response head");
}

TEST(HttpResponseCutShort, CloseDelimitedCompletes) {
  Outcome out = parse("HTTP/1.1 200 OK\r\n\r\n", true);
  EXPECT_TRUE(out.complete);
  EXPECT_FALSE(out.failed);
  EXPECT_EQ(out.body, "");
}

TEST(HttpResponseCutShort, FinishAfterCompleteChangesNothing) {
  Outcome out = parse(kNginx, true);
  EXPECT_TRUE(out.complete);
  EXPECT_EQ(out.error, "");
}

}  // namespace
