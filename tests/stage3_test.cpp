// stage3_test.cpp: the built stage3-duplex, both ways at once: against
// itself, against the real OpenBSD nc in both roles, and against scripted
// loopback peers that half-close, reply only at the end, stay silent, reset
// the connection, or read nothing at all; with stdin a file, /dev/null or an
// idle terminal, and stdout a file or a pipe that goes away.
//
// Only loopback addresses are used, with ports the system chooses. The one
// connect that must time out does so on loopback too: a listener whose
// accept queue is full makes Linux drop further SYNs, so connect() waits.
//
// See also: docs/design.md (stage 3, messages, exit codes); duplex_test.cpp for
// the copy loop itself; support/.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "data.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stages.hpp"

namespace {

// What a reset test that lost the peer's last bytes says.
constexpr const char* kReadToTheEnd =
    "what the peer sent before its reset must reach stdout: POLLHUP or POLLERR with data "
    "unread still means read() until it fails (docs/stage3-duplex.md#pollhup)";

using namespace support;
using Clock = std::chrono::steady_clock;

const std::string kProgram = stage_program("stage3-duplex");

// The end of -v after the peer closed its end first (docs/stage3-duplex.md):
// said when it happens, then the counts. A failure says its error instead.
const std::string kPeerClosed = "the peer closed its end of the connection\n";

std::string summary_after_close(std::size_t sent, std::size_t received) {
  return kPeerClosed + bytes_summary(sent, received);
}

// A peer that sends without end, from a thread of its own, until the
// connection fails (the program has gone) or stop() is called.
class Flood {
 public:
  explicit Flood(int fd)
      : fd_(fd), thread_([fd] {
          const std::string chunk = random_bytes(64 << 10, 44);
          while (send(fd, chunk.data(), chunk.size(), 0) > 0) {
          }
        }) {}
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;
  ~Flood() { stop(); }
  // shutdown() wakes a send() blocked on a full connection.
  void stop() {
    if (!thread_.joinable()) return;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
  }

 private:
  int fd_;
  std::thread thread_;
};

// -------------------------------------------------------------- command line

TEST(Stage3CommandLine, HelpGoesToStdoutAndExitsZero) {
  for (const char* option : {"-h", "--help"}) {
    SCOPED_TRACE(option);
    Result help = run(kProgram, {option});
    EXPECT_EQ(help.exit, Exit::code(0));
    EXPECT_EQ(help.out.rfind("usage: stage3-duplex [-v] [-4|-6] [-w SECONDS] -l [ADDRESS] PORT\n"
                             "       stage3-duplex [-v] [-4|-6] [-w SECONDS] HOST PORT\n",
                             0),
              0u)
        << help.out;
    EXPECT_NE(help.out.find("  -w SECONDS "), std::string::npos) << help.out;
    EXPECT_EQ(help.err, "");
  }
}

TEST(Stage3CommandLine, UsageErrorsExitTwoWithReasonAndUsage) {
  const std::string kOperands = "expected -l [ADDRESS] PORT or HOST PORT";
  const std::vector<RefusedCommandLine> cases = {
      {{}, kOperands},
      {{"localhost"}, kOperands},
      {{"-l"}, kOperands},
      {{"localhost", "3000", "extra"}, kOperands},
      {{"-w"}, "option -w needs a value"},
      {{"-l", "0", "-w"}, "option -w needs a value"},
      {{"localhost", "3000", "-w"}, "option -w needs a value"},
      {{"-w", "0", "localhost", "3000"}, "invalid timeout \"0\": at least 1 second"},
      {{"-w", "x", "localhost", "3000"}, "invalid timeout \"x\": not a decimal number"},
      {{"-wx", "-l", "0"}, "invalid timeout \"x\": not a decimal number"},
      {{"-w", "", "localhost", "3000"}, "invalid timeout \"\": empty"},
      {{"-w", "1x", "localhost", "3000"}, "invalid timeout \"1x\": not a decimal number"},
      {{"-w", "-1", "localhost", "3000"}, "invalid timeout \"-1\": not a decimal number"},
      {{"-w", "+1", "localhost", "3000"}, "invalid timeout \"+1\": not a decimal number"},
      {{"-w", "86401", "localhost", "3000"}, "invalid timeout \"86401\": greater than 86400"},
      {{"-w", "99999999999999999999", "localhost", "3000"},
       "invalid timeout \"99999999999999999999\": greater than 86400"},
      {{"-x", "localhost", "3000"}, "unknown option -x"},
      {{"localhost", "0"}, "port 0 is only for listening"},
      {{"localhost", "65536"}, "invalid port \"65536\": greater than 65535"},
      {{"-l", "localhost", "0"},
       "invalid address \"localhost\": not a numeric IPv4 or IPv6 address"},
  };
  EXPECT_TRUE(are_usage_errors(kProgram, cases));
}

// The largest accepted -w is valid, not only its neighbours rejected.
TEST(Stage3CommandLine, TimeoutOfADayIsAccepted) {
  LoopbackServer server(AF_INET);
  Process alice =
      Process::start(kProgram, {"-w", "86400", "127.0.0.1", std::to_string(server.port())});
  Fd connection = server.accept();
  shutdown_write(connection.get());
  EXPECT_EQ(receive_all(connection.get()), "");
  EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_EQ(alice.stderr_text(), "");
}

// A long option given a value it does not take is named as typed
// (support/stages.hpp, kLongOptionsGivenAValue: found by fuzzing).
TEST(Stage3CommandLine, LongOptionGivenAValueIsNamedAsTyped) {
  EXPECT_TRUE(are_usage_errors(kProgram, kLongOptionsGivenAValue));
}

// -------------------------------------------------------------- both ways

// Bob (-l) and Alice, both stage3-duplex, each with a file as stdin: both
// files cross at the same time, and each side counts exactly what it moved.
class Stage3BothWays : public ::testing::TestWithParam<const char*> {};

TEST_P(Stage3BothWays, FilesCrossByteForByte) {
  const std::string address = GetParam();
  TempDir dir;
  const std::string from_alice = random_bytes((5 << 20) + 17, 31);
  const std::string from_bob = random_bytes((4 << 20) + 3, 32);
  write_file(dir.file("alice"), from_alice);
  write_file(dir.file("bob"), from_bob);
  Process bob = Process::start(kProgram, {"-v", "-l", address, "0"}, Stdin::file(dir.file("bob")));
  const std::string port = std::to_string(bob.wait_for_listening_port());
  Process alice = Process::start(kProgram, {"-v", address, port}, Stdin::file(dir.file("alice")));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(from_alice, bob.stdout_text()));
  EXPECT_TRUE(same_bytes(from_bob, alice.stdout_text()));
  EXPECT_EQ(alice.stderr_text(), connected_lines(std::string(address) + " port " + port) +
                                     summary_after_close(from_alice.size(), from_bob.size()));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), address, port, address,
                                summary_after_close(from_bob.size(), from_alice.size())));
}

std::string address_name(const ::testing::TestParamInfo<const char*>& address) {
  return std::string(address.param) == "::1" ? "IPv6" : "IPv4";
}

INSTANTIATE_TEST_SUITE_P(Loopback, Stage3BothWays, ::testing::Values("127.0.0.1", "::1"),
                         address_name);

// The exercise's file transfer: `stage3-duplex -l PORT >file </dev/null` and
// `stage3-duplex HOST PORT <file`. Bob's empty stdin ends his direction at
// once; Alice, whose stdin is a file, keeps sending to its end.
TEST(Stage3Transfer, WholeFileArrivesAtAListenerWithEmptyStdin) {
  TempDir dir;
  const std::string data = random_bytes(8 << 20, 33);
  write_file(dir.file("data"), data);
  Process bob = Process::start(kProgram, {"-v", "-l", "0"}, Stdin::null(),
                               Stdout::file(dir.file("received")));
  const std::string port = std::to_string(bob.wait_for_listening_port());
  Process alice =
      Process::start(kProgram, {"-v", "127.0.0.1", port}, Stdin::file(dir.file("data")));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, read_file(dir.file("received"))));
  EXPECT_EQ(alice.stdout_text(), "");
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + port) + summary_after_close(data.size(), 0));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "::", port, "127.0.0.1",
                                summary_after_close(0, data.size())));
}

// The same roles swapped: Bob sends a file, Alice's stdin is empty.
TEST(Stage3Transfer, WholeFileArrivesFromAListener) {
  TempDir dir;
  const std::string data = random_bytes(6 << 20, 34);
  write_file(dir.file("data"), data);
  Process bob = Process::start(kProgram, {"-l", "::1", "0", "-v"}, Stdin::file(dir.file("data")));
  const std::string port = std::to_string(bob.wait_for_listening_port());
  Process alice = Process::start(kProgram, {"::1", port}, Stdin::null());
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(data, alice.stdout_text()));
  EXPECT_EQ(alice.stderr_text(), "");
  EXPECT_EQ(bob.stdout_text(), "");
}

// ------------------------------------------------------------------- with nc

// OpenBSD nc as Bob, both directions at once; nc -N shuts its side down at
// the end of its file, as stage3-duplex does without being asked.
TEST(Stage3WithNc, OpenBsdNcAsServerBothWays) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  TempDir dir;
  const std::string from_alice = random_bytes(3 << 20, 35);
  const std::string from_bob = random_bytes((2 << 20) + 1, 36);
  write_file(dir.file("alice"), from_alice);
  write_file(dir.file("bob"), from_bob);
  Process bob = Process::start("nc", {"-v", "-n", "-N", "-l", "127.0.0.1", "0"},
                               Stdin::file(dir.file("bob")), Stdout::file(dir.file("at-bob")));
  const std::string port =
      std::to_string(bob.wait_for_listening_port(kStartTimeout, "Listening on "));
  Process alice =
      Process::start(kProgram, {"-v", "127.0.0.1", port}, Stdin::file(dir.file("alice")));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(from_alice, read_file(dir.file("at-bob"))));
  EXPECT_TRUE(same_bytes(from_bob, alice.stdout_text()));
  EXPECT_EQ(alice.stderr_text(), connected_lines("127.0.0.1 port " + port) +
                                     summary_after_close(from_alice.size(), from_bob.size()));
}

// OpenBSD nc as Alice (-N: without it, Bob would never see her end).
TEST(Stage3WithNc, OpenBsdNcAsClientBothWays) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  TempDir dir;
  const std::string from_alice = random_bytes((3 << 20) + 7, 37);
  const std::string from_bob = random_bytes(4 << 20, 38);
  write_file(dir.file("alice"), from_alice);
  write_file(dir.file("bob"), from_bob);
  Process bob = Process::start(kProgram, {"-v", "-l", "0"}, Stdin::file(dir.file("bob")));
  const std::string port = std::to_string(bob.wait_for_listening_port());
  Process alice = Process::start("nc", {"-N", "::1", port}, Stdin::file(dir.file("alice")),
                                 Stdout::file(dir.file("at-alice")));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_TRUE(same_bytes(from_alice, bob.stdout_text()));
  EXPECT_TRUE(same_bytes(from_bob, read_file(dir.file("at-alice"))));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "::", port, "::1",
                                summary_after_close(from_bob.size(), from_alice.size())));
}

// ----------------------------------------------------------- scripted peers

// A server that answers only once the request has ended, as HTTP/1.0 or a
// checksum service would: the reply comes after shutdown(SHUT_WR), and
// still reaches stdout. Here the reply is the request reversed.
TEST(Stage3Peers, ReplyThatComesOnlyAfterTheEndOfTheRequest) {
  TempDir dir;
  const std::string request = random_bytes(2 << 20, 39);
  write_file(dir.file("request"), request);
  LoopbackServer server(AF_INET6);
  Process alice = Process::start(kProgram, {"-v", "::1", std::to_string(server.port())},
                                 Stdin::file(dir.file("request")));
  Fd connection = server.accept();
  const std::string received = receive_all(connection.get());
  ASSERT_TRUE(same_bytes(request, received));
  const std::string reply(received.rbegin(), received.rend());
  send_all(connection.get(), reply);
  connection.reset();
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_TRUE(same_bytes(reply, alice.stdout_text()));
  EXPECT_EQ(alice.stderr_text(), connected_lines("::1 port " + std::to_string(server.port())) +
                                     summary_after_close(request.size(), reply.size()));
}

// Started with stdin closed (<&-), the program must not get its socket as
// descriptor 0 and send the peer's bytes back to it: stdin reads as empty,
// and what the peer says is printed.
TEST(Stage3Peers, ClosedStdinIsEmptyNotTheSocket) {
  LoopbackServer server(AF_INET);
  const std::string port = std::to_string(server.port());
  Process alice =
      Process::start("/bin/sh", {"-c", "exec \"$0\" -v 127.0.0.1 \"$1\" <&-", kProgram, port});
  Fd connection = server.accept();
  const std::string said = "hello from peer\n";
  send_all(connection.get(), said);
  shutdown_write(connection.get());
  EXPECT_EQ(receive_all(connection.get()), "");
  connection.reset();
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_EQ(alice.stdout_text(), said);
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + port) + summary_after_close(0, said.size()));
}

// The peer closes while stdin is a terminal where nobody types: the
// conversation is over. What the peer said is printed, and the program
// exits 0 without waiting for the keyboard.
TEST(Stage3Peers, PeerLeavesWhileTheTerminalIsIdle) {
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::terminal());
  Fd connection = server.accept();
  const std::string farewell = "Bob: bye, Alice\n" + random_bytes(200000, 40);
  send_all(connection.get(), farewell);
  connection.reset();
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_TRUE(same_bytes(farewell, alice.stdout_text()));
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + std::to_string(server.port())) +
                summary_after_close(0, farewell.size()));
}

// The same on the listening side, with a line typed before the peer leaves:
// it is sent, and the peer's answer printed.
TEST(Stage3Peers, ClientLeavesWhileBobsTerminalIsIdle) {
  Process bob = Process::start(kProgram, {"-v", "-l", "127.0.0.1", "0"}, Stdin::terminal());
  const int port = bob.wait_for_listening_port();
  Fd connection = connect_to(AF_INET, port);
  bob.write_stdin("hello from Bob\n");
  std::string heard;
  char buffer[64];
  ASSERT_TRUE(eventually([&] {
    ssize_t got = recv(connection.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (got > 0) heard.append(buffer, static_cast<std::size_t>(got));
    return got == 0 || heard.size() >= 15;  // 0: Bob has ended, nothing more comes
  }));
  ASSERT_EQ(heard, "hello from Bob\n") << bob.stderr_text();
  const std::string answer = "hello from Alice, bye\n";
  send_all(connection.get(), answer);
  connection.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_EQ(bob.stdout_text(), answer);
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "127.0.0.1", std::to_string(port), "127.0.0.1",
                                summary_after_close(15, answer.size())));
}

// A peer that half-closes at once (it has nothing to say) but keeps
// reading: stdin, a large file, is sent to its very end all the same.
TEST(Stage3Peers, PeerThatHalfClosesFirstStillReceivesTheWholeFile) {
  TempDir dir;
  const std::string data = random_bytes(12 << 20, 41);
  write_file(dir.file("data"), data);
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::file(dir.file("data")));
  Fd connection = server.accept();
  shutdown_write(connection.get());
  EXPECT_TRUE(same_bytes(data, receive_all(connection.get())));
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_EQ(alice.stdout_text(), "");
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + std::to_string(server.port())) +
                summary_after_close(data.size(), 0));
}

// -v says that the peer closed its end when that happens, not when the
// program ends: with stdin a pipe that stays open, the peer's end comes
// first, and the program keeps running until stdin ends.
TEST(Stage3Peers, VerboseSaysThePeerClosedWhenItHappens) {
  LoopbackServer server(AF_INET);
  const std::string port = std::to_string(server.port());
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", port}, Stdin::pipe());
  Fd connection = server.accept();
  shutdown_write(connection.get());
  ASSERT_TRUE(alice.wait_for_stderr(kPeerClosed)) << alice.stderr_text();
  EXPECT_TRUE(alice.running()) << "stdin is still open: the program must still be sending";
  alice.write_stdin("late\n");
  alice.close_stdin();
  EXPECT_EQ(receive_all(connection.get()), "late\n");
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + port) + summary_after_close(5, 0));
}

// ------------------------------------------------------------------------ -w

// Connected, then nothing moves either way for a second: exit 1, saying so.
TEST(Stage3Timeout, SilentPeerEndsTheProgramAfterOneSecond) {
  LoopbackServer server(AF_INET);
  const auto start = Clock::now();
  Process alice = Process::start(kProgram, {"-w", "1", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::terminal());
  Fd connection = server.accept();
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_GE(Clock::now() - start, std::chrono::seconds(1)) << "gave up before one second";
  EXPECT_EQ(alice.stderr_text(), "stage3-duplex: nothing moved for 1 s: Connection timed out\n");
  EXPECT_EQ(alice.stdout_text(), "");
}

// The listening side too, once a client has connected, with -v.
TEST(Stage3Timeout, SilentClientEndsTheListenerAfterOneSecond) {
  Process bob = Process::start(kProgram, {"-v", "-w", "1", "-l", "::1", "0"}, Stdin::pipe());
  const int port = bob.wait_for_listening_port();
  Fd connection = connect_to(AF_INET6, port);
  EXPECT_EQ(bob.wait(), Exit::code(1));
  EXPECT_TRUE(served_one_client(
      bob.stderr_text(), "::1", std::to_string(port), "::1",
      "stage3-duplex: nothing moved for 1 s: Connection timed out\n" + bytes_summary(0, 0)));
}

// -w measures silence, not the whole conversation: a byte every 200 ms
// keeps a one-second limit from ever expiring.
TEST(Stage3Timeout, TrickleKeepsTheConnectionAlive) {
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"-w", "1", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::terminal());
  Fd connection = server.accept();
  std::string sent;
  for (int i = 0; i < 12; ++i) {  // 2.4 s in all
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    send_all(connection.get(), std::string(1, static_cast<char>('a' + i)));
    sent += static_cast<char>('a' + i);
  }
  connection.reset();
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  EXPECT_EQ(alice.stdout_text(), sent);
}

// -w also bounds connect(), to an address that never answers (a
// SilentListener, on loopback). -v says where it waits first, and the
// timeout once: the final error, with no "failed" line that repeats it.
TEST(Stage3Timeout, ConnectThatGetsNoAnswerGivesUpAfterOneSecond) {
  SilentListener server;
  REQUIRE_SILENT(server);
  const auto start = Clock::now();
  Result alice = run(kProgram, {"-v", "-w", "1", "127.0.0.1", std::to_string(server.port())},
                     Stdin::terminal());
  const auto waited = Clock::now() - start;
  EXPECT_EQ(alice.exit, Exit::code(1));
  const std::string where = "127.0.0.1 port " + std::to_string(server.port());
  EXPECT_EQ(alice.err, "trying " + where + "\n" + "stage3-duplex: connect to " + where +
                           ": Connection timed out\n" + bytes_summary(0, 0));
  EXPECT_GE(waited, std::chrono::seconds(1));
}

// -w bounds all the attempts together. A name with two addresses, the
// first silent (support/fake_hosts_shim.cpp, with_host()): once -w is spent on the
// first, the second would have no time at all, and be blamed for a wait
// that was not its own. It is not tried: the error names the attempt that
// waited.
TEST(Stage3Timeout, TheAddressThatUsedUpTheTimeIsTheOneReported) {
  SilentFirstOfTwo two;
  REQUIRE_SILENT(two.first);
  REQUIRE_SHIM(two.env);
  Process alice = Process::start(kProgram, {"-v", "-w", "1", "two.test", two.port},
                                 Stdin::terminal(), Stdout::file(), two.env);
  EXPECT_EQ(alice.wait(), Exit::code(1));
  const std::string where = "127.0.0.1 port " + two.port;
  EXPECT_EQ(alice.stderr_text(), "trying " + where + "\nstage3-duplex: connect to " + where +
                                     ": Connection timed out\n" + bytes_summary(0, 0))
      << "two.test is 127.0.0.1 (silent) then 127.0.0.2, port " << two.port << ", with -w 1";
}

// Without -w, a connect to an address that never answers waits for the
// kernel's SYN retries (minutes): -v has said where, before it waits.
TEST(Stage3Connect, SaysWhereItTriesWhileConnectWaits) {
  SilentListener server;
  REQUIRE_SILENT(server);
  const std::string where = "127.0.0.1 port " + std::to_string(server.port());
  Process alice =
      Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())}, Stdin::pipe());
  ASSERT_TRUE(says_while_running(alice, "trying " + where + "\n"));  // connect() waits
  server.close();  // the next SYN the kernel resends is refused
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_EQ(alice.stderr_text(), "trying " + where + "\nstage3-duplex: connect to " + where +
                                     ": Connection refused\n" + bytes_summary(0, 0));
}

// ---------------------------------------------------------------- failures

// A reset: one line naming the read that failed, exit 1, and everything the
// peer sent before it on stdout.
TEST(Stage3Failures, PeerResetIsReportedAfterPrintingWhatCameBefore) {
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::terminal());
  Fd connection = server.accept();
  const std::string before = random_bytes(1 << 20, 42);
  send_all(connection.get(), before);
  ASSERT_TRUE(acknowledged(connection.get()));
  reset(connection);
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_TRUE(same_bytes(before, alice.stdout_text())) << kReadToTheEnd;
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + std::to_string(server.port())) +
                "stage3-duplex: read from network: Connection reset by "
                "peer\n" +
                bytes_summary(0, before.size()))
      << kReadToTheEnd;
}

// A reset while stdin still has bytes to send: the write fails first.
// Whatever the message, what the peer sent before the reset (and this
// machine acknowledged) belongs on stdout.
//
// As DuplexTest.PeerResetWhileSending...: stdout is a pipe not read until
// after the reset, so most of those bytes are still in the kernel's receive
// queue when the write to the network fails; they must still be printed.
// Bytes waiting in the receive queue of the other end of `connection`, a
// program's socket on this machine over IPv4 loopback: the kernel's own count
// (/proc/net/tcp), -1 when that socket is not found.
long receive_queue_of_peer(int connection) {
  return tcp_queues(remote_port(connection), local_port(connection)).unread;
}

TEST(Stage3Failures, PeerResetWhileSendingStillPrintsWhatCameBefore) {
  TempDir dir;
  const std::string big(64 << 20, 'u');
  write_file(dir.file("big"), big);
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::file(dir.file("big")), Stdout::pipe());
  Fd connection = server.accept();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // stdin fills the connection
  // Offer the bytes until the kernel takes no more, then wait until all it
  // took are acknowledged, or no more are: only those can reach stdout.
  // More than any buffer the program may choose (up to 1 MiB) and stdout's
  // pipe hold, so that some bytes wait in the kernel at the reset.
  const std::string before = random_bytes(4 << 20, 43);
  std::size_t offered = 0;
  auto last_progress = Clock::now();
  while (offered < before.size() && Clock::now() - last_progress < std::chrono::milliseconds(200)) {
    ssize_t sent =
        send(connection.get(), before.data() + offered, before.size() - offered, MSG_DONTWAIT);
    if (sent > 0) {
      offered += static_cast<std::size_t>(sent);
      last_progress = Clock::now();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int unacknowledged = -1;
  for (int unchanged = 0; unchanged < 100;) {  // 100 ms without progress
    int now = 0;
    check(ioctl(connection.get(), SIOCOUTQ, &now), "ioctl SIOCOUTQ");
    unchanged = now == unacknowledged ? unchanged + 1 : 0;
    unacknowledged = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::size_t delivered = offered - static_cast<std::size_t>(unacknowledged);
  // Precondition: more came than stdout's pipe and the program's down
  // buffer hold (whatever its size), so that some bytes wait in the kernel.
  ASSERT_GT(receive_queue_of_peer(connection.get()), 0)
      << "precondition: nothing waits in the program's receive queue (" << delivered
      << " bytes delivered)";
  reset(connection);
  EXPECT_EQ(alice.wait(), Exit::code(1));  // drains stdout meanwhile
  EXPECT_TRUE(same_bytes(std::string_view(before).substr(0, delivered), alice.stdout_text()))
      << kReadToTheEnd;
  const std::string where = connected_lines("127.0.0.1 port " + std::to_string(server.port()));
  EXPECT_TRUE(matches(alice.stderr_text(),
                      quote(where) +
                          "stage3-duplex: (read from|write to) network: Connection reset by peer\n"
                          "sent \\d+ bytes, received " +
                          std::to_string(delivered) + " bytes\n"))
      << alice.stderr_text();
}

// A reset with stdout a pipe nobody reads (`| sleep 60`) and -w: what
// arrived is printed while stdout takes it, and once it has taken nothing
// for -w seconds the program gives up and reports the reset, which is what
// ended the conversation. Stalled in a blocking write(), it would wait for
// a reader forever, out of -w's reach (the harness would kill it).
TEST(Stage3Failures, PeerResetWithStdoutStalledEndsWithinW) {
  LoopbackServer server(AF_INET);
  const std::string port = std::to_string(server.port());
  Process alice = Process::start(kProgram, {"-v", "-w", "5", "127.0.0.1", port}, Stdin::terminal(),
                                 Stdout::stalled());
  Fd connection = server.accept();
  // The reset must come after connect() has returned in the program, not
  // during it (then it is connect's error, whatever the loop does).
  ASSERT_TRUE(alice.wait_for_stderr("connected to")) << alice.stderr_text();
  // Less than any down buffer (4 KiB or more) holds: the program still reads
  // the socket, so it sees the reset while all of this waits for stdout.
  send_all(connection.get(), random_bytes(2 << 10, 45));
  // Acknowledged, or the program has ended already (a part not written):
  // then on to the checks, which show what it said.
  ASSERT_TRUE(
      eventually([&] { return !alice.running() || acknowledged(connection.get(), Millis(0)); }));
  reset(connection);
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_TRUE(matches(alice.stderr_text(),
                      quote(connected_lines("127.0.0.1 port " + port)) +
                          "stage3-duplex: read from network: Connection reset by peer\n"
                          "sent 0 bytes, received \\d+ bytes\n"))
      << alice.stderr_text();
}

// stdout goes away (its reader closes the pipe after a few bytes) while
// the peer keeps sending: one line, exit 1, no crash by SIGPIPE, no hang.
TEST(Stage3Failures, StdoutGoneIsReported) {
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"-v", "127.0.0.1", std::to_string(server.port())},
                                 Stdin::terminal(), Stdout::pipe());
  Fd connection = server.accept();
  Flood flood(connection.get());
  const std::string first = alice.wait_for_stdout(10);
  ASSERT_GE(first.size(), 10u);
  alice.close_stdout();
  EXPECT_EQ(alice.wait(), Exit::code(1));
  EXPECT_TRUE(matches(alice.stderr_text(),
                      connected_lines("127\\.0\\.0\\.1 port " + std::to_string(server.port())) +
                          "stage3-duplex: write to stdout: Broken pipe\n"
                          "sent 0 bytes, received \\d+ bytes\n"));
  flood.stop();
}

// The peer closes completely while stdin still has a lot to send: the
// write to the network fails, and the program says so (nothing is silently
// dropped).
TEST(Stage3Failures, PeerGoneWhileSendingIsReported) {
  TempDir dir;
  write_file(dir.file("big"), std::string(32 << 20, 'x'));
  LoopbackServer server(AF_INET);
  Process alice = Process::start(kProgram, {"127.0.0.1", std::to_string(server.port())},
                                 Stdin::file(dir.file("big")));
  Fd connection = server.accept();
  char first[1000];
  ASSERT_GT(recv(connection.get(), first, sizeof first, MSG_WAITALL), 0);
  connection.reset();  // unread bytes: the kernel answers with a reset
  EXPECT_EQ(alice.wait(), Exit::code(1));
  const std::string err = alice.stderr_text();
  EXPECT_TRUE(err == "stage3-duplex: write to network: Connection reset by peer\n" ||
              err == "stage3-duplex: write to network: Broken pipe\n" ||
              err == "stage3-duplex: read from network: Connection reset by peer\n")
      << err;
}

// ------------------------------------------------------------ bounded memory

// 128 MiB each way through a pair of stage3-duplex, twice the bound below:
// memory stays at the buffers whatever the amount. Sparse files give the
// input without using disk; -v tells what moved. The peak resident size
// of the programs is printed, and held to a generous bound: the buffers are
// 2 x 128 KiB (2 x 1 MiB at most in a student's copy), the program a few MiB
// (more with sanitizers).
TEST(Stage3Memory, TwiceTheBoundEachWayInBoundedMemory) {
  const std::size_t amount = std::size_t{128} << 20;  // twice the bound below
  TempDir dir;
  const std::string path = dir.file("zeros");
  Fd file(check(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600), "open"));
  check(ftruncate(file.get(), static_cast<off_t>(amount)), "ftruncate");
  file.reset();

  Process bob =
      Process::start(kProgram, {"-v", "-l", "127.0.0.1", "0"}, Stdin::file(path), Stdout::null());
  const std::string port = std::to_string(bob.wait_for_listening_port());
  const auto start = Clock::now();
  Process alice =
      Process::start(kProgram, {"-v", "127.0.0.1", port}, Stdin::file(path), Stdout::null());
  long peak = 0;
  const auto deadline = start + std::chrono::seconds(60);
  for (bool running = true; running && Clock::now() < deadline;) {
    running = false;
    for (Process* side : {&alice, &bob}) {
      if (side->running()) {
        running = true;
        peak = std::max(peak, peak_rss_kib(side->pid()));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(alice.stderr_text(),
            connected_lines("127.0.0.1 port " + port) + summary_after_close(amount, amount));
  EXPECT_TRUE(served_one_client(bob.stderr_text(), "127.0.0.1", port, "127.0.0.1",
                                summary_after_close(amount, amount)));
  std::printf("stage3-duplex moved %zu MiB each way in %.2f s; peak RSS %ld KiB\n", amount >> 20,
              seconds, peak);
  RecordProperty("peak_rss_kib", static_cast<int>(peak));
  EXPECT_GT(peak, 0) << "no sample of /proc/PID/status";
  EXPECT_LT(peak, 64 * 1024) << "KiB";
}

}  // namespace
