// http_client_test.cpp: unit tests of stage4-http's URL mode: parse_url,
// request_for and fetch.
//
// Purpose: the URL is taken apart exactly as RFC 3986 and RFC 9112 want it
// (Host without :80, brackets kept for IPv6, the fragment never sent) and
// anything else is a usage error that says why. fetch() runs over a
// socketpair whose other end is a scripted server thread: the request bytes
// it receives are exact, and the response is copied to a file exactly to its
// end, however it is framed, whether the server then closes or holds the
// connection open, and whether it arrives whole, cut short, malformed, or
// not at all. Every wait is bounded: a fetch() that hangs fails the test.
//
// See also: stage4-http/http_client.hpp, tests/support/stage4_peers.hpp,
// tests/http_response_test.cpp (the parser alone).
#include "http_client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <system_error>
#include <vector>

#include "data.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "http_samples.hpp"
#include "stage4_peers.hpp"

namespace {

using support::AfterResponse;
using support::kChunked;
using support::kChunkedBody;
using support::kContentLength;
using support::Millis;
using support::ScriptedServer;
using Clock = std::chrono::steady_clock;

// --- parse_url ---------------------------------------------------------------

// The message of the UsageError that parse_url throws, or "" (and a failure)
// when it accepts `text`.
std::string rejection(const std::string& text) {
  try {
    Url url = parse_url(text);
    ADD_FAILURE() << "accepted \"" << text << "\": host \"" << url.host << "\" port " << url.port
                  << " target \"" << url.target << "\"";
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

void expect_url(const std::string& text, const std::string& host, int port,
                const std::string& target, const std::string& authority) {
  SCOPED_TRACE(text);
  Url url = parse_url(text);
  EXPECT_EQ(url.host, host);
  EXPECT_EQ(url.port, port);
  EXPECT_EQ(url.target, target);
  EXPECT_EQ(url.authority, authority);
}

TEST(ParseUrl, HostAlone) {
  expect_url("http://host", "host", 80, "/", "host");
}

TEST(ParseUrl, PortPathQueryAndFragment) {
  // The fragment is for the browser: never sent.
  expect_url("http://host:8080/path?q=1#frag", "host", 8080, "/path?q=1", "host:8080");
  expect_url("http://host/a/b.html#top", "host", 80, "/a/b.html", "host");
}

TEST(ParseUrl, QueryWithoutPath) {
  expect_url("http://host?q=1", "host", 80, "/?q=1", "host");
  expect_url("http://host:8080?q=1#f", "host", 8080, "/?q=1", "host:8080");
  expect_url("http://host#frag", "host", 80, "/", "host");
}

TEST(ParseUrl, Ipv6InBrackets) {
  // getaddrinfo wants the address bare; Host keeps the brackets.
  expect_url("http://[::1]:8080/x", "::1", 8080, "/x", "[::1]:8080");
  expect_url("http://[::1]/", "::1", 80, "/", "[::1]");
  expect_url("http://[::1]:80/", "::1", 80, "/", "[::1]");
}

TEST(ParseUrl, Ipv4) {
  expect_url("http://127.0.0.1/", "127.0.0.1", 80, "/", "127.0.0.1");
}

TEST(ParseUrl, SchemeIsCaseInsensitive) {
  expect_url("HTTP://Host", "Host", 80, "/", "Host");
  expect_url("hTtP://Host:81/P", "Host", 81, "/P", "Host:81");
}

TEST(ParseUrl, DefaultPortLeftOutOfHost) {
  // RFC 9110 7.2: Host carries the port only when it is not the default.
  expect_url("http://host:80/", "host", 80, "/", "host");
  expect_url("http://host:8080/", "host", 8080, "/", "host:8080");
}

TEST(ParseUrl, UserInfoRejected) {
  EXPECT_NE(rejection("http://user@host/").find("user names"), std::string::npos);
  EXPECT_NE(rejection("http://user:secret@host:8080/").find("user names"), std::string::npos);
}

TEST(ParseUrl, HttpsRejectedSayingTls) {
  EXPECT_NE(rejection("https://host/").find("TLS"), std::string::npos);
  EXPECT_NE(rejection("HTTPS://host/").find("TLS"), std::string::npos);
}

TEST(ParseUrl, OtherSchemesRejected) {
  std::string why = rejection("ftp://host/file");
  EXPECT_NE(why.find("ftp://"), std::string::npos) << why;
  EXPECT_NE(why.find("only http://"), std::string::npos) << why;
  EXPECT_NE(rejection("://host/").find("only http://"), std::string::npos);
}

TEST(ParseUrl, EmptyHostRejected) {
  for (const char* text : {"http://", "http:///path", "http://:8080/", "http://[]:8080/"}) {
    EXPECT_NE(rejection(text).find("no host"), std::string::npos) << text;
  }
}

TEST(ParseUrl, BadPortRejected) {
  EXPECT_EQ(rejection("http://host:99999/"), "invalid port \"99999\": greater than 65535");
  EXPECT_EQ(rejection("http://host:x/"), "invalid port \"x\": not a decimal number");
  EXPECT_EQ(rejection("http://host:/"), "invalid port \"\": empty");
  EXPECT_EQ(rejection("http://host:"), "invalid port \"\": empty");
  EXPECT_EQ(rejection("http://[::1]:/"), "invalid port \"\": empty");
  EXPECT_EQ(rejection("http://host:-1/"), "invalid port \"-1\": not a decimal number");
}

TEST(ParseUrl, PortZeroRejected) {
  EXPECT_NE(rejection("http://host:0/").find("port 0"), std::string::npos);
}

TEST(ParseUrl, MissingSchemeSeparatorRejected) {
  EXPECT_NE(rejection("http:/host/").find("no http://"), std::string::npos);
  EXPECT_NE(rejection("host:8080/path").find("no http://"), std::string::npos);
}

TEST(ParseUrl, BadBracketsRejected) {
  EXPECT_NE(rejection("http://[::1/").find("missing ]"), std::string::npos);
  EXPECT_NE(rejection("http://[::1]x/").find("junk after ]"), std::string::npos);
}

TEST(ParseUrl, SpacesInPathRejected) {
  // A space would end the request target and start a bogus version.
  EXPECT_NE(rejection("http://host/a b").find("spaces"), std::string::npos);
  EXPECT_NE(rejection("http://host/a?q=1 2").find("spaces"), std::string::npos);
  EXPECT_NE(rejection("http://host/a\tb").find("control"), std::string::npos);
  EXPECT_NE(rejection("http://host/a\x7f").find("control"), std::string::npos);
  // In the fragment, which is never sent, a space does no harm.
  expect_url("http://host/a#b c", "host", 80, "/a", "host");
}

TEST(ParseUrl, LineBreaksInPathRejected) {
  // CR LF in the target would let a URL add header lines to the request.
  EXPECT_NE(rejection("http://host/a\r\nX-Injected: 1").find("control"), std::string::npos);
  EXPECT_NE(rejection("http://host/a\nb").find("control"), std::string::npos);
}

TEST(ParseUrl, SpacesAndLineBreaksInHostRejected) {
  // The host goes into the Host line just as the target goes into the
  // request line: CR LF there would add header lines too.
  for (const char* text : {"http://ho st/", "http://a\r\nX-Injected:1/",
                           "http://[::1\r\nX-Injected: 1]:8080/", "http://host\x7f/"}) {
    EXPECT_EQ(rejection(text), "invalid URL: spaces or control characters") << text;
  }
}

// --- request_for -------------------------------------------------------------

TEST(RequestFor, ExactBytes) {
  Url url;
  url.host = "host";
  url.port = 8080;
  url.target = "/path?q=1";
  url.authority = "host:8080";
  EXPECT_EQ(request_for(url),
            "GET /path?q=1 HTTP/1.1\r\n"
            "Host: host:8080\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(RequestFor, FromParsedUrls) {
  EXPECT_EQ(request_for(parse_url("http://host:8080/path?q=1#frag")),
            "GET /path?q=1 HTTP/1.1\r\nHost: host:8080\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(request_for(parse_url("http://[::1]/")),
            "GET / HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(request_for(parse_url("HTTP://Example.COM:80")),
            "GET / HTTP/1.1\r\nHost: Example.COM\r\nConnection: close\r\n\r\n");
}

// --- fetch ---------------------------------------------------------------------

const std::string kRequest = "GET /x HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

// What one fetch() did.
struct Fetched {
  std::string output;   // what it wrote to its output file
  std::string request;  // every byte the server received
  std::string error;    // what() of the exception it threw; "" if none
  int error_code = 0;   // the errno of a std::system_error it threw
  Counts counts;
  Millis elapsed{0};
};

FetchOptions options_with(bool body_only, int timeout_ms = 10000) {
  FetchOptions options;
  options.body_only = body_only;
  options.timeout_ms = timeout_ms;  // a hang fails the test in 10 s, never hangs it
  return options;
}

// Runs fetch() on one end of a socketpair, the scripted server on the other
// sending `response` in those pieces, then closing or holding open.
Fetched fetch_from(const std::vector<std::string>& response, AfterResponse after,
                   const FetchOptions& options, const std::string& request = kRequest) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ends) != 0) {
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
    return {};
  }
  Fd client(ends[0]);
  ScriptedServer server(Fd(ends[1]), response, after);
  support::TempDir dir;
  const std::string path = dir.file("output");
  Fd output(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
  EXPECT_TRUE(output) << "open " << path;

  Fetched fetched;
  const auto start = Clock::now();
  try {
    fetch(client.get(), request, output.get(), options, fetched.counts);
  } catch (const std::system_error& e) {
    fetched.error = e.what();
    fetched.error_code = e.code().value();
  } catch (const std::exception& e) {
    fetched.error = e.what();
  }
  fetched.elapsed = std::chrono::duration_cast<Millis>(Clock::now() - start);
  client.reset();  // a server holding the connection open now sees its end
  EXPECT_TRUE(server.wait_done()) << "the server thread did not end";
  fetched.request = server.received();
  fetched.output = support::read_file(path);
  return fetched;
}

Fetched fetch_from(const std::string& response, AfterResponse after, bool body_only = false) {
  return fetch_from(std::vector<std::string>{response}, after, options_with(body_only));
}

TEST(Fetch, SendsTheRequestExactly) {
  const std::string request = request_for(parse_url("http://127.0.0.1:8080/path?q#frag"));
  ASSERT_EQ(request, "GET /path?q HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n");
  Fetched fetched =
      fetch_from({kContentLength}, AfterResponse::kClose, options_with(false), request);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.request, request);
  EXPECT_EQ(fetched.counts.sent, request.size());
}

TEST(Fetch, ContentLengthAsReceived) {
  Fetched fetched = fetch_from(kContentLength, AfterResponse::kClose);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, kContentLength);
  EXPECT_EQ(fetched.request, kRequest);
  EXPECT_EQ(fetched.counts.sent, kRequest.size());
  EXPECT_EQ(fetched.counts.received, kContentLength.size());
}

TEST(Fetch, ContentLengthBodyOnly) {
  Fetched fetched = fetch_from(kContentLength, AfterResponse::kClose, true);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, "hello\n");
}

TEST(Fetch, ConnectionHeldOpenAfterContentLength) {
  // The server ignores "Connection: close": the end of the body, not the end
  // of the connection, must end the fetch. Waiting for the end of the
  // connection would end in the timeout's error instead of "".
  for (bool body_only : {false, true}) {
    Fetched fetched = fetch_from(kContentLength, AfterResponse::kHoldOpen, body_only);
    EXPECT_EQ(fetched.error, "");
    EXPECT_EQ(fetched.output, body_only ? "hello\n" : kContentLength);
  }
}

TEST(Fetch, BytesPastTheEndNotWritten) {
  // Whatever the server sends after the response is not part of it.
  Fetched fetched = fetch_from(kContentLength + "HTTP/1.1 200 OK\r\n", AfterResponse::kHoldOpen);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, kContentLength);
}

TEST(Fetch, ChunkedAsReceivedKeepsChunkSizes) {
  Fetched fetched = fetch_from(kChunked + "junk after the end", AfterResponse::kHoldOpen);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, kChunked);
}

TEST(Fetch, ChunkedBodyOnlyStripsFraming) {
  Fetched fetched = fetch_from(kChunked, AfterResponse::kHoldOpen, true);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, kChunkedBody);
}

TEST(Fetch, ChunkedInPieces) {
  // Cut inside the status line, inside a chunk size line, between CR and LF,
  // inside chunk data, between the data and its CRLF, in the trailer, and
  // before the very last LF: each piece arrives in a read of its own.
  std::vector<std::string> pieces;
  std::size_t from = 0;
  for (std::size_t cut : {10, 52, 60, 70, 90, 111, 150, 165}) {
    pieces.push_back(kChunked.substr(from, cut - from));
    from = cut;
  }
  pieces.push_back(kChunked.substr(from));
  ASSERT_EQ(pieces.back(), "\n");
  for (bool body_only : {false, true}) {
    Fetched fetched = fetch_from(pieces, AfterResponse::kHoldOpen, options_with(body_only));
    EXPECT_EQ(fetched.error, "");
    EXPECT_EQ(fetched.output, body_only ? kChunkedBody : kChunked);
  }
}

TEST(Fetch, CloseDelimited) {
  const std::string response = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil\r\nthe close";
  Fetched fetched = fetch_from(response, AfterResponse::kClose);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, response);
  fetched = fetch_from(response, AfterResponse::kClose, true);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, "until\r\nthe close");
}

TEST(Fetch, InterimResponseThenFinal) {
  const std::string response =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
  Fetched fetched = fetch_from(response, AfterResponse::kHoldOpen);
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, response);
}

TEST(Fetch, TruncatedContentLengthThrowsAfterWriting) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhell";
  Fetched fetched = fetch_from(response, AfterResponse::kClose);
  EXPECT_EQ(fetched.error, "response cut short: connection closed after 4 of 10 body bytes");
  EXPECT_EQ(fetched.output, response);
  fetched = fetch_from(response, AfterResponse::kClose, true);
  EXPECT_EQ(fetched.error, "response cut short: connection closed after 4 of 10 body bytes");
  EXPECT_EQ(fetched.output, "hell");
}

TEST(Fetch, TruncatedChunkedThrows) {
  const std::string response = kChunked.substr(0, 60);
  Fetched fetched = fetch_from(response, AfterResponse::kClose);
  EXPECT_EQ(fetched.error, "response cut short: connection closed before the last chunk");
  EXPECT_EQ(fetched.output, response);
}

TEST(Fetch, ClosedBeforeAnyResponse) {
  Fetched fetched = fetch_from("", AfterResponse::kClose);
  EXPECT_EQ(fetched.error, "response cut short: connection closed before a status line");
  EXPECT_EQ(fetched.output, "");
  EXPECT_EQ(fetched.request, kRequest);
}

TEST(Fetch, MalformedStatusLineThrowsAfterWriting) {
  const std::string response = "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok";
  Fetched fetched = fetch_from(response, AfterResponse::kHoldOpen);
  EXPECT_EQ(fetched.error,
            "malformed response: bad status code in status line \"HTTP/1.1 2OO OK\"");
  EXPECT_EQ(fetched.output, response);  // all that arrived, to see what was wrong
}

TEST(Fetch, MalformedChunkSizeThrowsAfterWriting) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nmore";
  Fetched fetched = fetch_from(response, AfterResponse::kHoldOpen);
  EXPECT_EQ(fetched.error, "malformed response: bad chunk size \"zz\"");
  EXPECT_EQ(fetched.output, response);
  fetched = fetch_from(response, AfterResponse::kHoldOpen, true);
  EXPECT_EQ(fetched.error, "malformed response: bad chunk size \"zz\"");
  EXPECT_EQ(fetched.output, "abc");  // the body decoded before the error
}

TEST(Fetch, SilentPeerTimesOut) {
  Fetched fetched = fetch_from({}, AfterResponse::kHoldOpen, options_with(false, 200));
  EXPECT_EQ(fetched.error_code, ETIMEDOUT) << fetched.error;
  EXPECT_NE(fetched.error.find("nothing moved"), std::string::npos) << fetched.error;
  EXPECT_GE(fetched.elapsed, Millis(150));
  EXPECT_EQ(fetched.output, "");
  EXPECT_EQ(fetched.request, kRequest);  // the request went out before the silence
}

TEST(Fetch, SlowPeerWithinTimeoutSucceeds) {
  // -w bounds silence, not the whole transfer: 64 one-byte pieces 20 ms
  // apart under a 1 s limit take longer than 1 s and still succeed.
  std::vector<std::string> pieces;
  for (char c : kContentLength)
    pieces.emplace_back(1, c);
  Fetched fetched = fetch_from(pieces, AfterResponse::kHoldOpen, options_with(false, 1000));
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(fetched.output, kContentLength);
  EXPECT_GT(fetched.elapsed, Millis(1000));
}

// -w bounds writing the response too: stdout a pipe nobody reads (full
// here from the start) is silence like any other. A blocking write() would
// wait for a reader forever.
TEST(Fetch, OutputNobodyReadsTimesOut) {
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0) << std::strerror(errno);
  Fd client(ends[0]);
  const std::string body(1 << 20, 'b');
  ScriptedServer server(Fd(ends[1]), {"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + body},
                        AfterResponse::kClose);
  ASSERT_EQ(pipe(ends), 0) << std::strerror(errno);
  Fd unread(ends[0]), output(ends[1]);
  check(fcntl(output.get(), F_SETFL, O_NONBLOCK), "fcntl O_NONBLOCK");
  while (write(output.get(), body.data(), body.size()) > 0) {  // until full: EAGAIN
  }
  check(fcntl(output.get(), F_SETFL, 0), "fcntl");  // blocking, as stdout is
  auto outcome = std::async(std::launch::async, [&]() -> std::string {
    Counts counts;
    try {
      fetch(client.get(), kRequest, output.get(), options_with(false, 1000), counts);
      return "returned";
    } catch (const std::exception& e) {
      return e.what();
    }
  });
  // The outcome, not the time, tells: given up after -w, fetch() reports
  // the timeout; stuck in a blocking write(), it only returns once the read
  // end closes below, and then with EPIPE.
  (void)outcome.wait_for(support::kExitTimeout);
  unread.reset();
  EXPECT_EQ(outcome.get(), "nothing moved for 1 s: Connection timed out");
  client.reset();  // the server's write fails: its thread ends
  EXPECT_TRUE(server.wait_done());
}

TEST(Fetch, VerboseNarratesRequestAndResponseHead) {
  FetchOptions options = options_with(false);
  options.verbose = true;
  testing::internal::CaptureStderr();
  Fetched fetched = fetch_from({kContentLength}, AfterResponse::kClose, options);
  const std::string narration = testing::internal::GetCapturedStderr();
  EXPECT_EQ(fetched.error, "");
  EXPECT_EQ(narration,
            "> GET /x HTTP/1.1\n"
            "> Host: test\n"
            "> Connection: close\n"
            "> \n"
            "< HTTP/1.1 200 OK\n"
            "< Content-Type: text/plain\n"
            "< Content-Length: 6\n"
            "* closing connection\n");
}

}  // namespace
