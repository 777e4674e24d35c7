// stage4_test.cpp: the built stage4-http, run as the exercise runs it.
//
// URL mode against servers whose every byte the test chooses (a scripted
// server thread: chunked, held open, close-delimited, cut short, malformed,
// silent) and against a real nginx that the test starts on loopback with a
// configuration of its own; -C against a server that records the bytes it
// receives, and by hand against nginx with the connection kept alive; the
// usage errors; and stage 3's job, megabytes both ways, still done. Exact
// bytes everywhere, loopback only, every process stopped by its PID, every
// wait bounded: a stage4-http that hangs fails a test, it never hangs it.
//
// nginx comes from Debian's nginx (or nginx-light) package; without it the
// nginx tests skip, saying how to install it, or fail when CI=true.
//
// See also: docs/design.md (stage 4, messages); support/stage4_peers.hpp;
// http_client_test.cpp (the same logic without a process).

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data.hpp"
#include "http_samples.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stage4_peers.hpp"
#include "stages.hpp"

namespace {

using namespace support;
using Clock = std::chrono::steady_clock;

const std::string kProgram = stage_program("stage4-http");

// How long a response that is complete may take to end the program: far
// less than -w's default of 30 s, which is what a program that waits for the
// server to close would take.
constexpr Millis kPrompt{5000};

// What one run of stage4-http did; stdout goes to a file, so any amount.
struct Outcome {
  Exit exit = Exit::code(-1);
  std::string out;
  std::string err;
  Millis elapsed{0};
};

Outcome run_stage4(const std::vector<std::string>& args, Millis timeout = kExitTimeout) {
  const auto start = Clock::now();
  Process process = Process::start(kProgram, args, Stdin::null(), Stdout::file());
  Outcome result;
  result.exit = process.wait(timeout);
  result.elapsed = std::chrono::duration_cast<Millis>(Clock::now() - start);
  result.out = process.stdout_text();
  result.err = process.stderr_text();
  return result;
}

// The request stage4-http sends for a target on a server of the test.
std::string request(const std::string& target, const std::string& authority) {
  return "GET " + target + " HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n\r\n";
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---------------------------------------------------------------- command line

TEST(Stage4CommandLine, HttpsIsAUsageErrorSayingTls) {
  EXPECT_TRUE(is_usage_error(kProgram, {"https://127.0.0.1/"},
                             "https:// needs TLS, which this program does not speak; try http://"));
  EXPECT_TRUE(is_usage_error(kProgram, {"-v", "HTTPS://127.0.0.1:8443/x"},
                             "https:// needs TLS, which this program does not speak; try http://"));
}

TEST(Stage4CommandLine, OtherSchemesAreUsageErrors) {
  EXPECT_TRUE(
      is_usage_error(kProgram, {"ftp://127.0.0.1/"}, "unsupported scheme ftp://: only http://"));
}

TEST(Stage4CommandLine, CrlfWithUrlIsAUsageError) {
  EXPECT_TRUE(is_usage_error(kProgram, {"-C", "http://127.0.0.1/"},
                             "-C is for requests typed by hand, not with a URL"));
  EXPECT_TRUE(is_usage_error(kProgram, {"http://127.0.0.1/", "-C"},
                             "-C is for requests typed by hand, not with a URL"));
}

TEST(Stage4CommandLine, BodyWithoutUrlIsAUsageError) {
  EXPECT_TRUE(is_usage_error(kProgram, {"--body", "127.0.0.1", "80"}, "--body goes with a URL"));
  EXPECT_TRUE(is_usage_error(kProgram, {"--body", "-l", "0"}, "--body goes with a URL"));
  EXPECT_TRUE(is_usage_error(kProgram, {"--body"}, "--body goes with a URL"));
}

TEST(Stage4CommandLine, ListenWithUrlIsAUsageError) {
  EXPECT_TRUE(is_usage_error(kProgram, {"-l", "http://127.0.0.1/"}, "-l does not go with a URL"));
}

TEST(Stage4CommandLine, BadUrlsAreUsageErrors) {
  EXPECT_TRUE(is_usage_error(kProgram, {"http://127.0.0.1:99999/"},
                             "invalid port \"99999\": greater than 65535"));
  EXPECT_TRUE(is_usage_error(kProgram, {"http://127.0.0.1:0/"}, "invalid URL: port 0"));
  EXPECT_TRUE(is_usage_error(kProgram, {"http:///x"}, "invalid URL: no host"));
  EXPECT_TRUE(is_usage_error(kProgram, {"http://127.0.0.1/a b"},
                             "invalid URL: spaces or control characters"));
  EXPECT_TRUE(is_usage_error(kProgram, {"http://me@127.0.0.1/"},
                             "invalid URL: user names and passwords are not supported"));
}

TEST(Stage4CommandLine, HelpShowsTheUrlForm) {
  Result help = run(kProgram, {"--help"});
  EXPECT_EQ(help.exit, Exit::code(0));
  EXPECT_NE(help.out.find("[--body] http://HOST[:PORT][/PATH]"), std::string::npos) << help.out;
  EXPECT_EQ(help.err, "");
}

// A long option given a value it does not take is named as typed
// (support/stages.hpp, kLongOptionsGivenAValue: found by fuzzing).
TEST(Stage4CommandLine, LongOptionGivenAValueIsNamedAsTyped) {
  EXPECT_TRUE(are_usage_errors(kProgram, kLongOptionsGivenAValue));
  EXPECT_TRUE(is_usage_error(kProgram, {"--body=1", "http://x/"}, "unknown option --body=1"));
}

// ------------------------------------------------- URL mode, scripted servers

TEST(Stage4Url, SendsTheExactRequest) {
  ScriptedServer server(kContentLength);
  Outcome got = run_stage4({server.url("/path?q#fragment")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_EQ(server.received(), request("/path?q", "127.0.0.1:" + std::to_string(server.port())));
  EXPECT_EQ(got.out, kContentLength);
  EXPECT_EQ(got.err, "");
}

TEST(Stage4Url, SendsTheExactRequestOverIpv6) {
  ScriptedServer server(kContentLength, AfterResponse::kClose, AF_INET6);
  Outcome got = run_stage4({server.url("")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_EQ(server.received(), request("/", "[::1]:" + std::to_string(server.port())));
  EXPECT_EQ(got.out, kContentLength);
}

TEST(Stage4Url, ChunkedAsReceived) {
  // In pieces that arrive in separate reads, junk right after the end in
  // the same read, and the connection held open: the output stops exactly
  // at the final CRLF.
  ScriptedServer server({kChunked.substr(0, 60), kChunked.substr(60, 50),
                         kChunked.substr(110) + "HTTP/1.1 200 OK\r\n"},
                        AfterResponse::kHoldOpen);
  Outcome got = run_stage4({server.url("/")}, kPrompt);
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_EQ(got.out, kChunked);
  EXPECT_EQ(got.err, "");
}

TEST(Stage4Url, ChunkedBodyOnly) {
  ScriptedServer server({kChunked.substr(0, 60), kChunked.substr(60)}, AfterResponse::kHoldOpen);
  Outcome got = run_stage4({"--body", server.url("/")}, kPrompt);
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_EQ(got.out, kChunkedBody);
}

TEST(Stage4Url, ServerHoldingTheConnectionOpenDoesNotMakeItHang) {
  ScriptedServer server(kContentLength, AfterResponse::kHoldOpen);
  Outcome got = run_stage4({server.url("/")}, kPrompt);
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_LT(got.elapsed, Millis(3000));
  EXPECT_EQ(got.out, kContentLength);
  // It closed its end: the server read the end of its stream.
  EXPECT_TRUE(server.wait_done(kPrompt));
  EXPECT_TRUE(server.client_closed());
}

TEST(Stage4Url, Http10CloseDelimited) {
  const std::string response = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nthe body\nends at the close";
  {
    ScriptedServer server(response);
    Outcome got = run_stage4({server.url("/")});
    EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
    EXPECT_EQ(got.out, response);
  }
  {
    ScriptedServer server(response);
    Outcome got = run_stage4({"--body", server.url("/")});
    EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
    EXPECT_EQ(got.out, "the body\nends at the close");
  }
}

TEST(Stage4Url, ErrorStatusIsStillAComplete) {
  const std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nRetry-After: 1\r\n\r\nbusy\n";
  ScriptedServer server(response, AfterResponse::kHoldOpen);
  Outcome got = run_stage4({server.url("/")}, kPrompt);
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_EQ(got.out, response);
}

TEST(Stage4Url, TruncatedContentLength) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhell";
  ScriptedServer server(response);
  Outcome got = run_stage4({server.url("/")});
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.out, response);  // what arrived is printed
  EXPECT_EQ(got.err,
            "stage4-http: response cut short: connection closed after 4 of 10 body bytes\n");
}

TEST(Stage4Url, TruncatedContentLengthBodyOnly) {
  ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhell");
  Outcome got = run_stage4({"--body", server.url("/")});
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.out, "hell");
  EXPECT_EQ(got.err,
            "stage4-http: response cut short: connection closed after 4 of 10 body bytes\n");
}

TEST(Stage4Url, ClosedWithoutAResponse) {
  ScriptedServer server("");
  Outcome got = run_stage4({server.url("/")});
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err, "stage4-http: response cut short: connection closed before a status line\n");
}

TEST(Stage4Url, MalformedStatusLine) {
  // Not a web server at all: what it said is shown, then why it is wrong.
  const std::string greeting = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
  ScriptedServer server(greeting, AfterResponse::kHoldOpen);
  Outcome got = run_stage4({server.url("/")}, kPrompt);
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.out, greeting);
  EXPECT_EQ(got.err,
            "stage4-http: malformed response: bad status line \"SSH-2.0-OpenSSH_9.2p1 "
            "Debian-2\"\n");
}

TEST(Stage4Url, BadChunkSize) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n";
  ScriptedServer server(response, AfterResponse::kHoldOpen);
  Outcome got = run_stage4({server.url("/")}, kPrompt);
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.out, response);
  EXPECT_EQ(got.err, "stage4-http: malformed response: bad chunk size \"zz\"\n");
}

TEST(Stage4Url, SilentServerTimesOutWithW) {
  ScriptedServer server("", AfterResponse::kHoldOpen);
  Outcome got = run_stage4({"-w", "1", server.url("/")}, kPrompt);
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err, "stage4-http: nothing moved for 1 s: Connection timed out\n");
  EXPECT_GE(got.elapsed, Millis(900));
  EXPECT_LT(got.elapsed, Millis(4000));
  EXPECT_EQ(server.received(), request("/", "127.0.0.1:" + std::to_string(server.port())));
}

// -w bounds writing the response too: with stdout a pipe nobody reads
// (`| sleep 60`), a large response stops after -w seconds of silence on
// stdout, with the message of any silence. A blocking write() would wait
// for a reader forever, out of -w's reach (the harness would kill it).
TEST(Stage4Url, StdoutNobodyReadsTimesOutWithW) {
  const std::string body = random_bytes(1 << 20, 46);
  ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n\r\n" + body);
  Process client =
      Process::start(kProgram, {"-w", "1", server.url("/")}, Stdin::null(), Stdout::stalled());
  EXPECT_EQ(client.wait(), Exit::code(1));
  EXPECT_EQ(client.stderr_text(), "stage4-http: nothing moved for 1 s: Connection timed out\n");
}

TEST(Stage4Url, ConnectionRefused) {
  const int port = unused_port(AF_INET);
  Outcome got = run_stage4({"http://127.0.0.1:" + std::to_string(port) + "/"});
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err, "stage4-http: connect to 127.0.0.1 port " + std::to_string(port) +
                         ": Connection refused\n");
}

// With -v, curl's way: where it tries, then the refusal once, as the error
// itself (no "* connect to ... failed" line that repeats it).
TEST(Stage4Url, VerboseConnectionRefusedIsSaidOnce) {
  const std::string where = "127.0.0.1 port " + std::to_string(unused_port(AF_INET));
  const std::string url = "http://127.0.0.1:" + where.substr(where.rfind(' ') + 1) + "/";
  Outcome got = run_stage4({"-v", url});
  EXPECT_EQ(got.exit, Exit::code(1));
  EXPECT_EQ(got.err, "* resolving 127.0.0.1\n* trying " + where + "\nstage4-http: connect to " +
                         where + ": Connection refused\n" + bytes_summary(0, 0));
}

// An address that never answers (a SilentListener): -v says where it waits
// before the wait, which -w (30 s by default here) would otherwise end.
TEST(Stage4Url, SaysWhereItTriesWhileConnectWaits) {
  SilentListener server;
  REQUIRE_SILENT(server);
  const std::string where = "127.0.0.1 port " + std::to_string(server.port());
  Process client =
      Process::start(kProgram, {"-v", "http://127.0.0.1:" + std::to_string(server.port()) + "/"});
  ASSERT_TRUE(says_while_running(client, "* trying " + where + "\n"));  // connect() waits
  server.close();  // the next SYN the kernel resends is refused
  EXPECT_EQ(client.wait(), Exit::code(1));
  EXPECT_EQ(client.stderr_text(), "* resolving 127.0.0.1\n* trying " + where +
                                      "\nstage4-http: connect to " + where +
                                      ": Connection refused\n" + bytes_summary(0, 0));
}

// -w bounds all the attempts together, as in stage 3: with the time spent
// on the first address of two.test (silent; support/fake_hosts_shim.cpp),
// the second is not tried, and the error names the one that waited.
TEST(Stage4Url, TheAddressThatUsedUpTheTimeIsTheOneReported) {
  SilentFirstOfTwo two;
  REQUIRE_SILENT(two.first);
  REQUIRE_SHIM(two.env);
  Process client = Process::start(kProgram, {"-v", "-w", "1", "http://two.test:" + two.port + "/"},
                                  Stdin::null(), Stdout::file(), two.env);
  EXPECT_EQ(client.wait(), Exit::code(1));
  const std::string where = "127.0.0.1 port " + two.port;
  EXPECT_EQ(client.stderr_text(), "* resolving two.test\n* trying " + where +
                                      "\nstage4-http: connect to " + where +
                                      ": Connection timed out\n" + bytes_summary(0, 0))
      << "two.test is 127.0.0.1 (silent) then 127.0.0.2, port " << two.port << ", with -w 1";
}

// HOST PORT mode says it as stages 2 and 3 do, without the "* ", and that the
// peer closed its end, as stage 3 does.
TEST(Stage4Connect, SaysWhereItTriesBeforeConnecting) {
  LoopbackServer server(AF_INET);
  const std::string where = "127.0.0.1 port " + std::to_string(server.port());
  Process client = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())});
  Fd connection = server.accept();
  EXPECT_EQ(receive_all(connection.get()), "");  // stdin is empty: the end at once
  connection.reset();
  EXPECT_EQ(client.wait(), Exit::code(0));
  EXPECT_EQ(
      client.stderr_text(),
      connected_lines(where) + "the peer closed its end of the connection\n" + bytes_summary(0, 0));
}

TEST(Stage4Url, VerboseNarratesLikeCurl) {
  ScriptedServer server(kContentLength);
  const std::string port = std::to_string(server.port());
  Outcome got = run_stage4({"-v", server.url("/")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_EQ(got.out, kContentLength);  // narration never mixes with the response
  const std::vector<std::string> lines = {
      "* resolving 127.0.0.1",
      "* trying 127.0.0.1 port " + port,
      "* connected to 127.0.0.1 port " + port,
      "> GET / HTTP/1.1",
      "> Host: 127.0.0.1:" + port,
      "> Connection: close",
      "> ",
      "< HTTP/1.1 200 OK",
      "< Content-Type: text/plain",
      "< Content-Length: 6",
      "* closing connection",
  };
  std::string expected;
  for (const std::string& line : lines)
    expected += line + "\n";
  expected += bytes_summary(request("/", "127.0.0.1:" + port).size(), kContentLength.size());
  EXPECT_EQ(got.err, expected);
}

// ------------------------------------------------------- -C, scripted servers

TEST(Stage4Crlf, TypedRequestArrivesWithCrlfLines) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  ScriptedServer server(response, AfterResponse::kHoldOpen);
  Process client = Process::start(kProgram, {"-C", "127.0.0.1", std::to_string(server.port())},
                                  Stdin::pipe(), Stdout::pipe());
  // Typed with LF only, stdin kept open: the request must go out now, not
  // at the end of input.
  client.write_stdin("GET / HTTP/1.1\nHost: x\n\n");
  EXPECT_TRUE(server.wait_received("\r\n\r\n", kPrompt)) << server.received();
  EXPECT_EQ(server.received(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.wait_for_stdout(response.size(), kPrompt), response);
  EXPECT_TRUE(client.running());  // the conversation goes on until input ends
  client.close_stdin();
  EXPECT_EQ(client.wait(kPrompt), Exit::code(0)) << client.stderr_text();
  EXPECT_TRUE(server.wait_done(kPrompt));
  EXPECT_EQ(server.received(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST(Stage4Crlf, ExistingCrIsNotDoubled) {
  ScriptedServer server("", AfterResponse::kHoldOpen);
  Process client = Process::start(kProgram, {"-C", "127.0.0.1", std::to_string(server.port())},
                                  Stdin::pipe(), Stdout::pipe());
  client.write_stdin("a\r\nb\n");
  EXPECT_TRUE(server.wait_received("a\r\nb\r\n", kPrompt)) << server.received();
  // A CR at the end of one read and its LF at the start of the next.
  client.write_stdin("c\r");
  EXPECT_TRUE(server.wait_received("c\r", kPrompt)) << server.received();
  client.write_stdin("\nd\n\n");
  client.close_stdin();
  EXPECT_EQ(client.wait(kPrompt), Exit::code(0)) << client.stderr_text();
  EXPECT_TRUE(server.wait_done(kPrompt));
  EXPECT_EQ(server.received(), "a\r\nb\r\nc\r\nd\r\n\r\n");
}

TEST(Stage4Crlf, WithoutCrlfBytesGoUnchanged) {
  ScriptedServer server("", AfterResponse::kHoldOpen);
  Process client = Process::start(kProgram, {"127.0.0.1", std::to_string(server.port())},
                                  Stdin::pipe(), Stdout::pipe());
  client.write_stdin("GET / HTTP/1.1\nHost: x\n\na\r\n");
  client.close_stdin();
  EXPECT_EQ(client.wait(kPrompt), Exit::code(0)) << client.stderr_text();
  EXPECT_TRUE(server.wait_done(kPrompt));
  EXPECT_EQ(server.received(), "GET / HTTP/1.1\nHost: x\n\na\r\n");
}

TEST(Stage4Crlf, FileThroughAListener) {
  // stage4-http on both ends, -C on the sending one only, input from a file.
  TempDir dir;
  write_file(dir.file("typed"), "line one\nline two\r\n\nend");
  Process bob = Process::start(kProgram, {"-v", "-l", "127.0.0.1", "0"});
  const int port = bob.wait_for_listening_port();
  Process alice = Process::start(kProgram, {"-C", "127.0.0.1", std::to_string(port)},
                                 Stdin::file(dir.file("typed")));
  EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_EQ(bob.stdout_text(), "line one\r\nline two\r\n\r\nend");
}

// ------------------------------------------------------------- a real nginx

class Stage4Nginx : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_PROGRAM(nginx_program(), "nginx");
    write_file(www_.file("index.html"), kIndex);
    big_ = random_bytes(1 << 20, 4);
    write_file(www_.file("big.bin"), big_);
    nginx_.emplace(www_.path());
  }

  std::string url(const std::string& host, const std::string& target) const {
    return "http://" + host + ":" + std::to_string(nginx_->port()) + target;
  }

  const std::string kIndex = "<!doctype html>\n<title>stage4</title>\n<p>Hello from nginx.</p>\n";
  TempDir www_;
  std::string big_;
  std::optional<Nginx> nginx_;
};

// The response head, up to and including the empty line.
std::string head_of(const std::string& response) {
  const std::size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? response : response.substr(0, end + 4);
}

TEST_F(Stage4Nginx, RootOverIpv4) {
  Outcome got = run_stage4({url("127.0.0.1", "/")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_TRUE(starts_with(got.out, "HTTP/1.1 200 OK\r\n")) << got.out;
  const std::string head = head_of(got.out);
  EXPECT_NE(head.find("\r\nContent-Length: " + std::to_string(kIndex.size()) + "\r\n"),
            std::string::npos)
      << head;
  EXPECT_EQ(got.out.substr(head.size()), kIndex);
  EXPECT_EQ(got.err, "");
}

TEST_F(Stage4Nginx, RootOverIpv6) {
  Outcome got = run_stage4({url("[::1]", "/")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_TRUE(starts_with(got.out, "HTTP/1.1 200 OK\r\n")) << got.out;
  EXPECT_EQ(got.out.substr(head_of(got.out).size()), kIndex);
}

TEST_F(Stage4Nginx, BigFileBodyByteForByte) {
  Outcome got = run_stage4({"--body", url("127.0.0.1", "/big.bin")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_TRUE(same_bytes(big_, got.out));
}

TEST_F(Stage4Nginx, BigFileAsReceived) {
  Outcome got = run_stage4({url("127.0.0.1", "/big.bin")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_TRUE(starts_with(got.out, "HTTP/1.1 200 OK\r\n"));
  const std::string head = head_of(got.out);
  EXPECT_NE(head.find("\r\nContent-Length: 1048576\r\n"), std::string::npos) << head;
  EXPECT_TRUE(same_bytes(big_, std::string_view(got.out).substr(head.size())));
}

TEST_F(Stage4Nginx, NotFoundIsStillAComplete) {
  Outcome got = run_stage4({url("127.0.0.1", "/no-such-page.html")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_TRUE(starts_with(got.out, "HTTP/1.1 404 Not Found\r\n")) << got.out;
  EXPECT_EQ(got.err, "");
}

TEST_F(Stage4Nginx, VerboseNarration) {
  const std::string port = std::to_string(nginx_->port());
  Outcome got = run_stage4({"-v", url("127.0.0.1", "/")});
  EXPECT_EQ(got.exit, Exit::code(0)) << got.err;
  EXPECT_TRUE(starts_with(got.out, "HTTP/1.1 200 OK\r\n")) << got.out;
  for (const std::string& line : std::vector<std::string>{
           "* resolving 127.0.0.1\n* trying 127.0.0.1 port " + port +
               "\n* connected to 127.0.0.1 port " + port + "\n",
           "> GET / HTTP/1.1\n", "> Host: 127.0.0.1:" + port + "\n", "> Connection: close\n",
           "< HTTP/1.1 200 OK\n", "< Content-Length: " + std::to_string(kIndex.size()) + "\n",
           "* closing connection\n"}) {
    EXPECT_NE(("\n" + got.err).find("\n" + line), std::string::npos) << line << "in:\n" << got.err;
  }
  // The request is what was counted as sent; all that nginx sent is printed.
  const std::string sent = request("/", "127.0.0.1:" + port);
  EXPECT_TRUE(ends_with(got.err, bytes_summary(sent.size(), got.out.size()))) << got.err;
}

TEST_F(Stage4Nginx, KeepAliveByHandWithCrlf) {
  // The exercise's last step: a request typed by hand, HTTP/1.1 without
  // "Connection: close", so nginx keeps the connection open for the next
  // one. (nginx 1.22 also takes bare LF lines: -C matters for stricter
  // servers, and Stage4Crlf checks the bytes it sends.)
  Process client = Process::start(kProgram, {"-C", "127.0.0.1", std::to_string(nginx_->port())},
                                  Stdin::pipe(), Stdout::pipe());
  client.write_stdin("GET / HTTP/1.1\nHost: x\n\n");
  std::string out;
  // A client that has ended gets no answer: no point waiting for one.
  eventually([&] {
    out = client.stdout_text();
    return ends_with(out, kIndex) || !client.running();
  });
  out = client.stdout_text();
  ASSERT_TRUE(ends_with(out, kIndex)) << out << client.stderr_text();
  EXPECT_TRUE(starts_with(out, "HTTP/1.1 200 OK\r\n")) << out;
  EXPECT_NE(head_of(out).find("\r\nConnection: keep-alive\r\n"), std::string::npos) << out;
  EXPECT_TRUE(client.running());

  // Same connection, second request.
  client.write_stdin("GET /no-such-page.html HTTP/1.1\nHost: x\n\n");
  ASSERT_TRUE(eventually([&] {
    out = client.stdout_text();
    return out.find("</html>") != std::string::npos;
  })) << out;
  EXPECT_NE(out.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos) << out;
  EXPECT_TRUE(client.running());

  // End of input: shutdown(SHUT_WR), nginx closes, the program ends.
  client.close_stdin();
  EXPECT_EQ(client.wait(kPrompt), Exit::code(0)) << client.stderr_text();
  EXPECT_TRUE(nginx_->running()) << nginx_->error_log();
}

// ------------------------------------------------------- stage 3's job, still

TEST(Stage4Duplex, MegabytesBothWaysByteForByte) {
  TempDir dir;
  const std::string to_alice = random_bytes(3 << 20, 41);
  const std::string to_bob = random_bytes(3 << 20, 42);
  write_file(dir.file("bob-in"), to_alice);
  write_file(dir.file("alice-in"), to_bob);
  Process bob =
      Process::start(kProgram, {"-v", "-l", "127.0.0.1", "0"}, Stdin::file(dir.file("bob-in")));
  const int port = bob.wait_for_listening_port();
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(port)},
                                 Stdin::file(dir.file("alice-in")));
  EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(to_bob, bob.stdout_text()));
  EXPECT_TRUE(same_bytes(to_alice, alice.stdout_text()));
  const std::string counts = bytes_summary(to_alice.size(), to_bob.size());
  EXPECT_NE(bob.stderr_text().find(counts), std::string::npos) << bob.stderr_text();
}

// As Stage3Failures.PeerResetWithStdoutStalledEndsWithinW: after a reset,
// printing what arrived to a stdout nobody reads stops after -w seconds,
// and the reset is reported.
TEST(Stage4Duplex, PeerResetWithStdoutStalledEndsWithinW) {
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"-w", "5", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::terminal(), Stdout::stalled());
  Fd connection = server.accept();
  send_all(connection.get(), random_bytes(64 << 10, 47));  // less than the down buffer holds
  ASSERT_TRUE(acknowledged(connection.get()));
  reset(connection);
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_EQ(alice.stderr_text(), "stage4-http: read from network: Connection reset by peer\n");
}

}  // namespace
