// stage2_test.cpp: the built stage2-connect, as Alice (HOST PORT) and as Bob
// (-l), against stage1-listen, against itself, against scripted loopback
// peers and against the real OpenBSD nc in both roles.
//
// Only loopback addresses and the name "localhost" are ever resolved or
// connected to; the unknown host is "no..such..host", which glibc rejects
// without asking any name server. Listeners use port 0.
//
// See also: docs/design.md (command lines, messages, exit codes); support/.

#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "address.hpp"
#include "data.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stages.hpp"

namespace {

using namespace support;

const std::string kProgram = stage_program("stage2-connect");
const std::string kListener = stage_program("stage1-listen");

// The addresses getaddrinfo gives for `host` (SOCK_STREAM, `family`), each
// as describe() shows it, in order; or the gai error code.
struct Lookup {
  int error = 0;
  std::vector<std::string> addresses;
  std::vector<int> families;
};

Lookup look_up(const std::string& host, int port, int family = AF_UNSPEC) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  Lookup lookup;
  lookup.error = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (lookup.error != 0) return lookup;
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    lookup.addresses.push_back(describe(address->ai_addr));
    lookup.families.push_back(address->ai_family);
  }
  freeaddrinfo(found);
  return lookup;
}

// ---------------------------------------------------------------- command line

TEST(Stage2CommandLine, HelpGoesToStdoutAndExitsZero) {
  for (const char* option : {"-h", "--help"}) {
    SCOPED_TRACE(option);
    Result help = run(kProgram, {option});
    EXPECT_EQ(help.exit, Exit::code(0));
    EXPECT_EQ(help.out.rfind("usage: stage2-connect [-v] [-4|-6] -l [ADDRESS] PORT\n"
                             "       stage2-connect [-v] [-4|-6] HOST PORT\n",
                             0),
              0u)
        << help.out;
    EXPECT_EQ(help.err, "");
  }
}

TEST(Stage2CommandLine, UsageErrorsExitTwoWithReasonAndUsage) {
  const std::string kOperands = "expected -l [ADDRESS] PORT or HOST PORT";
  const std::vector<RefusedCommandLine> cases = {
      {{}, kOperands},
      {{"localhost"}, kOperands},
      {{"localhost", "3000", "extra"}, kOperands},
      {{"-v"}, kOperands},
      {{"-l"}, kOperands},
      {{"-l", "127.0.0.1", "3000", "extra"}, kOperands},
      {{"-x", "localhost", "3000"}, "unknown option -x"},
      {{"localhost", "3000", "-w", "5"}, "unknown option -w"},
      {{"--bogus", "localhost", "3000"}, "unknown option --bogus"},
      {{"localhost", "0"}, "port 0 is only for listening"},
      {{"localhost", ""}, "invalid port \"\": empty"},
      {{"localhost", "65536"}, "invalid port \"65536\": greater than 65535"},
      {{"localhost", "99999999999999999999"},
       "invalid port \"99999999999999999999\": greater than 65535"},
      {{"localhost", "--", "-1"}, "invalid port \"-1\": not a decimal number"},
      {{"localhost", "+80"}, "invalid port \"+80\": not a decimal number"},
      {{"localhost", " 80"}, "invalid port \" 80\": not a decimal number"},
      {{"localhost", "80 "}, "invalid port \"80 \": not a decimal number"},
      {{"localhost", "80x"}, "invalid port \"80x\": not a decimal number"},
      {{"localhost", "0x50"}, "invalid port \"0x50\": not a decimal number"},
      {{"localhost", "http"}, "invalid port \"http\": not a decimal number"},
      {{"-l", "65536"}, "invalid port \"65536\": greater than 65535"},
      {{"-l", "x"}, "invalid port \"x\": not a decimal number"},
      {{"-l", "localhost", "0"},
       "invalid address \"localhost\": not a numeric IPv4 or IPv6 address"},
      {{"-4", "-l", "::", "0"}, "invalid address \"::\": not a numeric IPv4 address"},
      {{"-6", "-l", "0.0.0.0", "0"}, "invalid address \"0.0.0.0\": not a numeric IPv6 address"},
  };
  EXPECT_TRUE(are_usage_errors(kProgram, cases));
}

// See Stage1CommandLine.UnknownOptionInAGroupIsNamed.
TEST(Stage2CommandLine, UnknownOptionInAGroupIsNamed) {
  EXPECT_TRUE(is_usage_error(kProgram, {"-xv", "localhost", "3000"}, "unknown option -x"));
}

// A long option given a value it does not take is named as typed
// (support/stages.hpp, kLongOptionsGivenAValue: found by fuzzing).
TEST(Stage2CommandLine, LongOptionGivenAValueIsNamedAsTyped) {
  EXPECT_TRUE(are_usage_errors(kProgram, kLongOptionsGivenAValue));
}

// ---------------------------------------------------------------- Alice to Bob

// stage2-connect HOST PORT < file, to stage1-listen -l PORT (every address):
// the file arrives byte for byte, and both sides say what happened.
class Stage2ToStage1 : public ::testing::TestWithParam<const char*> {};

TEST_P(Stage2ToStage1, SendsAFileByteForByte) {
  const std::string host = GetParam();
  TempDir dir;
  const std::string data = random_bytes(3 << 20, 11);
  write_file(dir.file("data"), data);
  Process bob = Process::start(kListener, {"-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  const Lookup lookup = look_up(host, port);
  ASSERT_EQ(lookup.error, 0) << gai_strerror(lookup.error);
  // Bob listens on every address: the first one getaddrinfo gives connects.
  const std::string& connected = lookup.addresses.front();
  const std::string peer = connected.substr(0, connected.find(' '));

  Process alice =
      Process::start(kProgram, {"-v", host, std::to_string(port)}, Stdin::file(dir.file("data")));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, bob.stdout_text()));
  EXPECT_EQ(alice.stdout_text(), "");
  EXPECT_EQ(alice.stderr_text(), connected_lines(connected) + bytes_summary(data.size(), 0));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "::", std::to_string(port), peer,
                                bytes_summary(0, data.size())));
}

std::string host_name(const ::testing::TestParamInfo<const char*>& host) {
  const std::string text = host.param;
  return text == "::1" ? "IPv6Loopback" : text == "localhost" ? "Localhost" : "IPv4Loopback";
}

INSTANTIATE_TEST_SUITE_P(Hosts, Stage2ToStage1, ::testing::Values("127.0.0.1", "::1", "localhost"),
                         host_name);

// The exercise with this stage on both sides: Bob runs stage2-connect -l.
TEST(Stage2Listen, BobAndAliceBothRunStage2) {
  TempDir dir;
  const std::string data = random_bytes(1 << 20, 5);
  write_file(dir.file("data"), data);
  Process bob = Process::start(kProgram, {"-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(port)},
                                 Stdin::file(dir.file("data")));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, bob.stdout_text()));
  EXPECT_EQ(alice.stderr_text(), connected_lines("127.0.0.1 port " + std::to_string(port)) +
                                     bytes_summary(data.size(), 0));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "::", std::to_string(port), "127.0.0.1",
                                bytes_summary(0, data.size())));
}

TEST(Stage2Listen, PrintsWhatAScriptedClientSends) {
  Process bob = Process::start(kProgram, {"-v", "-l", "::1", "0"});
  const int port = bob.wait_for_listening_port();
  Fd alice = connect_to(AF_INET6, port);
  const int alice_port = local_port(alice.get());
  const std::string data = random_bytes(100000, 9);
  send_all(alice.get(), data);
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_TRUE(same_bytes(data, bob.stdout_text()));
  EXPECT_EQ(bob.stderr_text(), "listening on ::1 port " + std::to_string(port) +
                                   "\nconnection from ::1 port " + std::to_string(alice_port) +
                                   "\n" + bytes_summary(0, data.size()));
}

// ---------------------------------------------------------------- sending

// What is typed is sent at once: read() returns what the pipe holds,
// without waiting for a newline or the end of input.
TEST(Stage2Connect, SendsWithoutWaitingForANewline) {
  LoopbackServer bob(AF_INET);
  Process alice =
      Process::start(kProgram, {"127.0.0.1", std::to_string(bob.port())}, Stdin::pipe());
  Fd connection = bob.accept(alice);
  alice.write_stdin("Hel");
  char buffer[16] = {};
  std::string received;
  ASSERT_TRUE(eventually([&] {
    ssize_t got = recv(connection.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (got > 0) received.append(buffer, static_cast<std::size_t>(got));
    return got == 0 || received.size() >= 3;  // 0: Alice has ended, nothing more comes
  }));
  ASSERT_EQ(received, "Hel") << alice.stderr_text();
  alice.write_stdin("lo\n");
  alice.close_stdin();
  EXPECT_EQ(receive_all(connection.get()), "lo\n");  // then the end of the stream
  EXPECT_EQ(alice.wait(), Exit::code(0));
  EXPECT_EQ(alice.stderr_text(), "");
}

TEST(Stage2Connect, LargeInputThroughAPipe) {
  LoopbackServer bob(AF_INET6);
  Process alice =
      Process::start(kProgram, {"-v", "::1", std::to_string(bob.port())}, Stdin::pipe());
  Fd connection = bob.accept(alice);
  const std::string data = random_bytes(2 << 20, 13);
  std::string received;
  // The test writes and reads in turns, so neither side's buffers fill up.
  for (std::size_t at = 0; at < data.size(); at += 65536) {
    alice.write_stdin(std::string_view(data).substr(at, 65536));
    const std::size_t expected = std::min(data.size(), at + 65536);
    char buffer[65536];
    ASSERT_TRUE(eventually(
        [&] {
          ssize_t got = recv(connection.get(), buffer, sizeof buffer, MSG_DONTWAIT);
          if (got > 0) received.append(buffer, static_cast<std::size_t>(got));
          return received.size() >= expected;
        },
        kStartTimeout, Millis(1)));
  }
  alice.close_stdin();
  received += receive_all(connection.get());
  EXPECT_TRUE(same_bytes(data, received));
  EXPECT_EQ(alice.wait(), Exit::code(0));
  EXPECT_EQ(alice.stderr_text(), connected_lines("::1 port " + std::to_string(bob.port())) +
                                     bytes_summary(data.size(), 0));
}

TEST(Stage2Connect, EmptyInputClosesAtOnce) {
  LoopbackServer bob(AF_INET);
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(bob.port())});
  Fd connection = bob.accept(alice);
  EXPECT_EQ(receive_all(connection.get()), "");
  EXPECT_EQ(alice.wait(), Exit::code(0));
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + std::to_string(bob.port())) + bytes_summary(0, 0));
}

// ---------------------------------------------------------------- -4 and -6

TEST(Stage2Connect, MinusFourAndMinusSixConnectWithTheirFamily) {
  for (int family : {AF_INET, AF_INET6}) {
    const std::string option = family == AF_INET ? "-4" : "-6";
    SCOPED_TRACE(option);
    LoopbackServer bob(family);
    Process alice = Process::start(
        kProgram, {option, "-v", loopback_address(family), std::to_string(bob.port())},
        Stdin::pipe());
    Fd connection = bob.accept(alice);
    alice.write_stdin(option);
    alice.close_stdin();
    EXPECT_EQ(receive_all(connection.get()), option);
    EXPECT_EQ(alice.wait(), Exit::code(0));
    EXPECT_EQ(alice.stderr_text(),
              connected_lines(loopback_address(family) + " port " + std::to_string(bob.port())) +
                  bytes_summary(2, 0));
  }
}

// -4 with an IPv6 address (or -6 with IPv4) leaves getaddrinfo nothing to
// return: its own message, exit 1.
TEST(Stage2Connect, MinusFourAndMinusSixRejectTheOtherFamily) {
  const int port = unused_port();
  for (const auto& [option, host, family] :
       {std::tuple{"-4", "::1", AF_INET}, std::tuple{"-6", "127.0.0.1", AF_INET6}}) {
    SCOPED_TRACE(std::string(option) + " " + host);
    const Lookup lookup = look_up(host, port, family);
    ASSERT_NE(lookup.error, 0);
    Result alice = run(kProgram, {option, host, std::to_string(port)});
    EXPECT_EQ(alice.exit, Exit::code(1));
    EXPECT_EQ(alice.err,
              "stage2-connect: " + std::string(host) + ": " + gai_strerror(lookup.error) + "\n");
  }
}

TEST(Stage2Listen, MinusSixRefusesAnIPv4Client) {
  Process bob = Process::start(kProgram, {"-6", "-v", "-l", "0"});
  const std::string port = std::to_string(bob.wait_for_listening_port());
  EXPECT_EQ(bob.stderr_text(), "listening on :: port " + port + "\n");
  Result ipv4 = run(kProgram, {"127.0.0.1", port});
  EXPECT_EQ(ipv4.exit, Exit::code(1));
  EXPECT_EQ(ipv4.err,
            "stage2-connect: connect to 127.0.0.1 port " + port + ": Connection refused\n");
  Result ipv6 = run(kProgram, {"::1", port}, Stdin::null());
  ASSERT_EQ(ipv6.exit, Exit::code(0)) << ipv6.err;  // else Bob waits for it forever
  EXPECT_EQ(bob.wait(), Exit::code(0));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "::", port, "::1", bytes_summary(0, 0)));
}

// Every address getaddrinfo returns is tried in order: a listener on the
// second address of "localhost" is still reached, after a -v line for the
// first. Runs only where localhost has both an IPv4 and an IPv6 address.
TEST(Stage2Connect, TriesEveryAddressInOrder) {
  const int probe = unused_port();
  const Lookup lookup = look_up("localhost", probe);
  ASSERT_EQ(lookup.error, 0);
  if (lookup.families.size() < 2 || lookup.families[0] == lookup.families[1]) {
    GTEST_SKIP() << "localhost has a single address family here";
  }
  LoopbackServer bob(lookup.families[1]);
  const std::string port = std::to_string(bob.port());
  const Lookup addresses = look_up("localhost", bob.port());
  Process alice = Process::start(kProgram, {"-v", "localhost", port});
  Fd connection = bob.accept(alice);
  EXPECT_EQ(receive_all(connection.get()), "");
  EXPECT_EQ(alice.wait(), Exit::code(0));
  EXPECT_EQ(alice.stderr_text(), "trying " + addresses.addresses[0] + "\nconnect to " +
                                     addresses.addresses[0] + " failed: Connection refused\n" +
                                     connected_lines(addresses.addresses[1]) + bytes_summary(0, 0));
}

// Every address refused: each failure is said once. The last one is the
// error itself, so no -v "failed" line repeats it. Runs only where
// localhost has two addresses, as above.
TEST(Stage2Failures, EveryAddressRefusedSaysEachFailureOnce) {
  const int port = unused_port(AF_INET);
  const Lookup lookup = look_up("localhost", port);
  ASSERT_EQ(lookup.error, 0);
  if (lookup.addresses.size() < 2) GTEST_SKIP() << "localhost has a single address here";
  Result alice = run(kProgram, {"-v", "localhost", std::to_string(port)});
  EXPECT_EQ(alice.exit, Exit::code(1));
  std::string expected;
  for (std::size_t i = 0; i + 1 < lookup.addresses.size(); ++i) {
    expected += "trying " + lookup.addresses[i] + "\nconnect to " + lookup.addresses[i] +
                " failed: Connection refused\n";
  }
  const std::string& last = lookup.addresses.back();
  expected += "trying " + last + "\nstage2-connect: connect to " + last + ": Connection refused\n" +
              bytes_summary(0, 0);
  EXPECT_EQ(alice.err, expected);
}

// ---------------------------------------------------------------- failures

TEST(Stage2Failures, ConnectionRefused) {
  const std::string port = std::to_string(unused_port(AF_INET));
  Result quiet = run(kProgram, {"127.0.0.1", port});
  EXPECT_EQ(quiet.exit, Exit::code(1));
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err,
            "stage2-connect: connect to 127.0.0.1 port " + port + ": Connection refused\n");

  // With -v, where it tries first; the refusal once, as the error itself.
  Result verbose = run(kProgram, {"-v", "127.0.0.1", port});
  EXPECT_EQ(verbose.exit, Exit::code(1));
  const std::string where = "127.0.0.1 port " + port;
  EXPECT_EQ(verbose.err, "trying " + where + "\nstage2-connect: connect to " + where +
                             ": Connection refused\n" + bytes_summary(0, 0));
}

// An address that never answers (a firewall that drops SYNs) keeps
// connect() waiting for minutes, while the kernel resends its SYN: -v has
// said where, before it waits. A SilentListener plays that address on
// loopback; closing it makes the next SYN refused, which ends the wait.
TEST(Stage2Failures, SaysWhereItTriesWhileConnectWaits) {
  SilentListener server;
  REQUIRE_SILENT(server);
  const std::string where = "127.0.0.1 port " + std::to_string(server.port());
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())});
  ASSERT_TRUE(says_while_running(alice, "trying " + where + "\n"));  // connect() waits
  server.close();
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_EQ(alice.stderr_text(), "trying " + where + "\nstage2-connect: connect to " + where +
                                     ": Connection refused\n" + bytes_summary(0, 0));
}

TEST(Stage2Failures, UnknownHost) {
  const Lookup lookup = look_up("no..such..host", 3000);
  ASSERT_NE(lookup.error, 0);
  const std::string reason = gai_strerror(lookup.error);
  Result quiet = run(kProgram, {"no..such..host", "3000"});
  EXPECT_EQ(quiet.exit, Exit::code(1));
  EXPECT_EQ(quiet.err, "stage2-connect: no..such..host: " + reason + "\n");
  Result verbose = run(kProgram, {"-v", "no..such..host", "3000"});
  EXPECT_EQ(verbose.exit, Exit::code(1));
  EXPECT_EQ(verbose.err, "stage2-connect: no..such..host: " + reason + "\n" + bytes_summary(0, 0));
}

// Bob closes the connection while Alice still sends: the next writes fail
// (EPIPE, or ECONNRESET once the peer's reset has arrived); SIGPIPE is
// ignored, so Alice says so and exits 1.
TEST(Stage2Failures, PeerGoneWhileSending) {
  LoopbackServer bob(AF_INET);
  Process alice =
      Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(bob.port())}, Stdin::pipe());
  bob.accept(alice).reset();
  const std::string chunk(1024, 'x');
  // Keeps typing until Alice notices; bounded in count and time.
  EXPECT_TRUE(eventually(
      [&] {
        if (!alice.running()) return true;
        try {
          alice.write_stdin(chunk);
        } catch (const std::runtime_error&) {  // Alice exited meanwhile: EPIPE
        }
        return false;
      },
      Millis(10000), Millis(2)));
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_TRUE(matches(alice.stderr_text(),
                      connected_lines("127\\.0\\.0\\.1 port " + std::to_string(bob.port())) +
                          "stage2-connect: write to network: "
                          "(Broken pipe|Connection reset by peer)\n"
                          "sent \\d+ bytes, received 0 bytes\n"));
}

TEST(Stage2Failures, AddressInUse) {
  LoopbackServer busy(AF_INET6);
  const std::string port = std::to_string(busy.port());
  Result bob = run(kProgram, {"-v", "-l", "::1", port});
  EXPECT_EQ(bob.exit, Exit::code(1));
  EXPECT_EQ(bob.out, "");
  EXPECT_EQ(bob.err, "stage2-connect: bind to ::1 port " + port + ": Address already in use\n" +
                         bytes_summary(0, 0));
}

// ---------------------------------------------------------------- with nc

// The real OpenBSD nc as Bob: `nc -l ADDRESS PORT`. It listens on port 0
// and, with -v -n, prints "Listening on 127.0.0.1 PORT": no port is ever
// guessed, so there is no race for it.
TEST(Stage2WithNc, OpenBsdNcAsServer) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  TempDir dir;
  const std::string data = random_bytes(2 << 20, 17);
  write_file(dir.file("data"), data);
  Process bob = Process::start("nc", {"-v", "-n", "-l", "127.0.0.1", "0"}, Stdin::null(),
                               Stdout::file(dir.file("received")));
  const int port = bob.wait_for_listening_port(kStartTimeout, "Listening on ");
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(port)},
                                 Stdin::file(dir.file("data")));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  // OpenBSD nc -l ends when the client's stream ends.
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, read_file(dir.file("received"))));
  EXPECT_EQ(alice.stderr_text(), connected_lines("127.0.0.1 port " + std::to_string(port)) +
                                     bytes_summary(data.size(), 0));
}

// The real OpenBSD nc as Alice, with -N so that it shuts the connection
// down at the end of its input (without -N, Bob never sees the end).
TEST(Stage2WithNc, OpenBsdNcAsClient) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  TempDir dir;
  const std::string data = random_bytes(2 << 20, 19);
  write_file(dir.file("data"), data);
  Process bob = Process::start(kProgram, {"-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  Process alice =
      Process::start("nc", {"-N", "::1", std::to_string(port)}, Stdin::file(dir.file("data")));
  EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, bob.stdout_text()));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "::", std::to_string(port), "::1",
                                bytes_summary(0, data.size())));
}

}  // namespace
