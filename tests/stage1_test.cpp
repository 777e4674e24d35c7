// stage1_test.cpp: the built stage1-listen, run as Bob runs it.
//
// The test plays Alice itself (a loopback client), or runs the real OpenBSD
// nc as Alice; then it checks the bytes Bob printed, byte for byte, the -v
// lines word for word, and the exit status. Every listener uses port 0, so
// the system picks a free port and -v tells which; only loopback addresses
// are used.
//
// See also: docs/design.md (command lines, messages, exit codes); support/.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "data.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stages.hpp"

namespace {

using namespace support;

const std::string kProgram = stage_program("stage1-listen");

// ---------------------------------------------------------------- command line

TEST(Stage1CommandLine, HelpGoesToStdoutAndExitsZero) {
  for (const char* option : {"-h", "--help"}) {
    SCOPED_TRACE(option);
    Result help = run(kProgram, {option});
    EXPECT_EQ(help.exit, Exit::code(0));
    EXPECT_EQ(help.out.rfind("usage: stage1-listen [-v] [-4|-6] -l [ADDRESS] PORT\n", 0), 0u)
        << help.out;
    EXPECT_EQ(help.err, "");
  }
  // Help wins over the rest of a command line that parses.
  EXPECT_EQ(run(kProgram, {"-v", "-h", "-l", "3000"}).out, usage_text(kProgram));
}

TEST(Stage1CommandLine, UsageErrorsExitTwoWithReasonAndUsage) {
  const std::vector<RefusedCommandLine> cases = {
      {{}, "this stage only listens: -l is required"},
      {{"3000"}, "this stage only listens: -l is required"},
      {{"127.0.0.1", "3000"}, "this stage only listens: -l is required"},
      {{"-x", "-l", "3000"}, "unknown option -x"},
      {{"-l", "3000", "-x"}, "unknown option -x"},
      {{"--bogus", "-l", "3000"}, "unknown option --bogus"},
      {{"-l"}, "expected -l [ADDRESS] PORT"},
      {{"-l", "127.0.0.1", "3000", "extra"}, "expected -l [ADDRESS] PORT"},
      {{"-l", ""}, "invalid port \"\": empty"},
      {{"-l", "65536"}, "invalid port \"65536\": greater than 65535"},
      {{"-l", "99999999999999999999"}, "invalid port \"99999999999999999999\": greater than 65535"},
      {{"-l", "--", "-1"}, "invalid port \"-1\": not a decimal number"},
      {{"-l", "+1"}, "invalid port \"+1\": not a decimal number"},
      {{"-l", " 1"}, "invalid port \" 1\": not a decimal number"},
      {{"-l", "1 "}, "invalid port \"1 \": not a decimal number"},
      {{"-l", "3000x"}, "invalid port \"3000x\": not a decimal number"},
      {{"-l", "0x10"}, "invalid port \"0x10\": not a decimal number"},
      {{"-l", "http"}, "invalid port \"http\": not a decimal number"},
      {{"-l", "127.0.0.1", "65536"}, "invalid port \"65536\": greater than 65535"},
      {{"-l", "localhost", "0"},
       "invalid address \"localhost\": not a numeric IPv4 or IPv6 address"},
      {{"-l", "300.1.2.3", "0"},
       "invalid address \"300.1.2.3\": not a numeric IPv4 or IPv6 address"},
      {{"-4", "-l", "::1", "0"}, "invalid address \"::1\": not a numeric IPv4 address"},
      {{"-6", "-l", "127.0.0.1", "0"}, "invalid address \"127.0.0.1\": not a numeric IPv6 address"},
  };
  EXPECT_TRUE(are_usage_errors(kProgram, cases));
}

// An unknown option in the middle of a group of options (-xv) is named as
// the option, not as the word getopt was in (optopt, not argv[optind - 1]).
TEST(Stage1CommandLine, UnknownOptionInAGroupIsNamed) {
  EXPECT_TRUE(is_usage_error(kProgram, {"-xv", "-l", "0"}, "unknown option -x"));
}

// A long option given a value it does not take is named as typed
// (support/stages.hpp, kLongOptionsGivenAValue: found by fuzzing).
TEST(Stage1CommandLine, LongOptionGivenAValueIsNamedAsTyped) {
  EXPECT_TRUE(are_usage_errors(kProgram, kLongOptionsGivenAValue));
}

// ---------------------------------------------------------------- receiving

// Alice (the test) sends several megabytes, every byte value and runs of
// NUL included; Bob prints exactly those bytes, and -v tells it all.
TEST(Stage1Listen, PrintsEveryByteTheClientSends) {
  const std::string data = random_bytes(4 << 20);
  Process bob = Process::start(kProgram, {"-v", "-l", "127.0.0.1", "0"});
  const int port = bob.wait_for_listening_port();
  Fd alice = connect_to(AF_INET, port);
  const int alice_port = local_port(alice.get());
  send_all(alice.get(), data);
  alice.reset();

  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, bob.stdout_text()));
  EXPECT_EQ(bob.stderr_text(), "listening on 127.0.0.1 port " + std::to_string(port) +
                                   "\nconnection from 127.0.0.1 port " +
                                   std::to_string(alice_port) + "\n" +
                                   bytes_summary(0, data.size()));
}

TEST(Stage1Listen, WithoutVerboseStderrStaysEmpty) {
  const int port = unused_port();
  Process bob = Process::start(kProgram, {"-l", "127.0.0.1", std::to_string(port)});
  Fd alice;
  // Or Bob has ended (a part not written): no one will ever answer.
  ASSERT_TRUE(eventually([&] { return try_connect(AF_INET, port, &alice) == 0 || !bob.running(); }))
      << bob.stderr_text();
  ASSERT_TRUE(alice) << "Bob ended before a client could connect: " << bob.stderr_text();
  send_all(alice.get(), "Hello\n");
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_EQ(bob.stdout_text(), "Hello\n");
  EXPECT_EQ(bob.stderr_text(), "");
}

TEST(Stage1Listen, ClientThatSendsNothing) {
  Process bob = Process::start(kProgram, {"-v", "-l", "::1", "0"});
  const int port = bob.wait_for_listening_port();
  Fd alice = connect_to(AF_INET6, port);
  const int alice_port = local_port(alice.get());
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_EQ(bob.stdout_text(), "");
  EXPECT_EQ(bob.stderr_text(), "listening on ::1 port " + std::to_string(port) +
                                   "\nconnection from ::1 port " + std::to_string(alice_port) +
                                   "\n" + bytes_summary(0, 0));
}

// Bytes are printed as they arrive, not when the client closes or a line ends.
TEST(Stage1Listen, PrintsWithoutWaitingForTheEndOrANewline) {
  Process bob = Process::start(kProgram, {"-l", "127.0.0.1", "0", "-v"});
  Fd alice = connect_to(AF_INET, bob.wait_for_listening_port());
  send_all(alice.get(), "Hel");
  EXPECT_EQ(bob.wait_for_stdout(3), "Hel");
  send_all(alice.get(), "lo\n");
  EXPECT_EQ(bob.wait_for_stdout(6), "Hello\n");
  alice.reset();
  EXPECT_EQ(bob.wait(), Exit::code(0));
}

// ---------------------------------------------------------------- addresses

// Without ADDRESS: one socket for IPv4 and IPv6 clients alike; an IPv4
// client is shown as plain IPv4, not ::ffff:127.0.0.1.
TEST(Stage1Listen, DefaultListenerAcceptsAnIPv4Client) {
  Process bob = Process::start(kProgram, {"-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  Fd alice = connect_to(AF_INET, port);
  const int alice_port = local_port(alice.get());
  send_all(alice.get(), "over IPv4\n");
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_EQ(bob.stdout_text(), "over IPv4\n");
  EXPECT_EQ(bob.stderr_text(), "listening on :: port " + std::to_string(port) +
                                   "\nconnection from 127.0.0.1 port " +
                                   std::to_string(alice_port) + "\n" + bytes_summary(0, 10));
}

TEST(Stage1Listen, DefaultListenerAcceptsAnIPv6Client) {
  Process bob = Process::start(kProgram, {"-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  Fd alice = connect_to(AF_INET6, port);
  const int alice_port = local_port(alice.get());
  send_all(alice.get(), "over IPv6\n");
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_EQ(bob.stdout_text(), "over IPv6\n");
  EXPECT_EQ(bob.stderr_text(), "listening on :: port " + std::to_string(port) +
                                   "\nconnection from ::1 port " + std::to_string(alice_port) +
                                   "\n" + bytes_summary(0, 10));
}

TEST(Stage1Listen, MinusFourListensOnIPv4Only) {
  Process bob = Process::start(kProgram, {"-4", "-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  EXPECT_EQ(bob.stderr_text(), "listening on 0.0.0.0 port " + std::to_string(port) + "\n");
  EXPECT_EQ(try_connect(AF_INET6, port), ECONNREFUSED);
  Fd alice = connect_to(AF_INET, port);
  send_all(alice.get(), "4");
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_EQ(bob.stdout_text(), "4");
}

TEST(Stage1Listen, MinusSixListensOnIPv6Only) {
  Process bob = Process::start(kProgram, {"-6", "-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  EXPECT_EQ(bob.stderr_text(), "listening on :: port " + std::to_string(port) + "\n");
  EXPECT_EQ(try_connect(AF_INET, port), ECONNREFUSED);
  Fd alice = connect_to(AF_INET6, port);
  send_all(alice.get(), "6");
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_EQ(bob.stdout_text(), "6");
}

TEST(Stage1Listen, ListensOnTheGivenAddressOnly) {
  Process bob = Process::start(kProgram, {"-v", "-l", "::1", "0"});
  const int port = bob.wait_for_listening_port();
  EXPECT_EQ(bob.stderr_text(), "listening on ::1 port " + std::to_string(port) + "\n");
  EXPECT_EQ(try_connect(AF_INET, port), ECONNREFUSED);
  Fd alice = connect_to(AF_INET6, port);
  alice.reset();
  EXPECT_EQ(bob.wait(), Exit::code(0));
}

// Once the first client is accepted the listening socket is closed, as with
// nc -l: a second client is refused.
TEST(Stage1Listen, AcceptsOneClientOnly) {
  Process bob = Process::start(kProgram, {"-v", "-l", "127.0.0.1", "0"});
  const int port = bob.wait_for_listening_port();
  Fd alice = connect_to(AF_INET, port);
  ASSERT_TRUE(bob.wait_for_stderr("connection from"));
  // The listener closes just after that line; until then a connection may
  // still be queued: close it and try again.
  EXPECT_TRUE(eventually([&] { return try_connect(AF_INET, port) == ECONNREFUSED; }));
  send_all(alice.get(), "first");
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0));
  EXPECT_EQ(bob.stdout_text(), "first");
}

// ---------------------------------------------------------------- failures

// A port someone listens on is an error, never shared (SO_REUSEADDR does
// not allow that).
TEST(Stage1Failures, AddressInUse) {
  LoopbackServer busy(AF_INET);
  const std::string port = std::to_string(busy.port());
  Process bob = Process::start(kProgram, {"-l", "127.0.0.1", port});
  EXPECT_EQ(bob.wait(), Exit::code(1));
  EXPECT_EQ(bob.stderr_text(),
            "stage1-listen: bind to 127.0.0.1 port " + port + ": Address already in use\n");
  EXPECT_EQ(bob.stdout_text(), "");

  // The dual-stack wildcard needs the IPv4 port too.
  Process wildcard = Process::start(kProgram, {"-v", "-l", port});
  EXPECT_EQ(wildcard.wait(), Exit::code(1));
  EXPECT_EQ(wildcard.stderr_text(), "stage1-listen: bind to :: port " + port +
                                        ": Address already in use\n" + bytes_summary(0, 0));
}

TEST(Stage1Failures, SecondListenerOnTheSamePort) {
  Process first = Process::start(kProgram, {"-v", "-l", "0"});
  const std::string port = std::to_string(first.wait_for_listening_port());
  Process second = Process::start(kProgram, {"-l", port});
  EXPECT_EQ(second.wait(), Exit::code(1));
  EXPECT_EQ(second.stderr_text(),
            "stage1-listen: bind to :: port " + port + ": Address already in use\n");
  EXPECT_TRUE(first.running());
}

// stdout gone (a closed pipe): with SIGPIPE ignored, the write fails with
// EPIPE and the program says so, instead of dying silently.
TEST(Stage1Failures, StdoutGoneIsReported) {
  Process bob =
      Process::start(kProgram, {"-l", "127.0.0.1", "0", "-v"}, Stdin::null(), Stdout::pipe());
  const int port = bob.wait_for_listening_port();
  bob.close_stdout();
  Fd alice = connect_to(AF_INET, port);
  send_all(alice.get(), "nobody reads this\n");
  EXPECT_EQ(bob.wait(), Exit::code(1));
  EXPECT_TRUE(matches(bob.stderr_text(),
                      "listening on 127\\.0\\.0\\.1 port \\d+\nconnection from 127\\.0\\.0\\.1 "
                      "port \\d+\nstage1-listen: write to stdout: Broken pipe\n" +
                          quote(bytes_summary(0, 0))));
}

// ---------------------------------------------------------------- with nc

// The exercise with the real thing on Alice's side. -N: OpenBSD nc shuts
// the connection down at the end of its input, otherwise Bob never sees
// the end of the stream.
TEST(Stage1WithNc, OpenBsdNcAsClient) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  TempDir dir;
  const std::string data = random_bytes(2 << 20, 3);
  write_file(dir.file("data"), data);
  Process bob = Process::start(kProgram, {"-v", "-l", "0"});
  const int port = bob.wait_for_listening_port();
  Process alice = Process::start("nc", {"-N", "127.0.0.1", std::to_string(port)},
                                 Stdin::file(dir.file("data")));
  EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, bob.stdout_text()));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "::", std::to_string(port), "127.0.0.1",
                                bytes_summary(0, data.size())));
}

TEST(Stage1WithNc, OpenBsdNcAsClientOverIPv6) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  TempDir dir;
  write_file(dir.file("hello"), "Hello\n");
  Process bob = Process::start(kProgram, {"-6", "-l", "0", "-v"});
  const int port = bob.wait_for_listening_port();
  Process alice =
      Process::start("nc", {"-N", "::1", std::to_string(port)}, Stdin::file(dir.file("hello")));
  EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_EQ(bob.stdout_text(), "Hello\n");
}

}  // namespace
