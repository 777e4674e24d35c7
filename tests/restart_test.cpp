// restart_test.cpp: every stage that listens (1 to 5) can be started again
// on the same port right after a conversation ended with Ctrl-C: the reason
// SO_REUSEADDR is set.
//
// The seed's Bob ends a conversation with Ctrl-C and starts the listener
// again at once. The side that closes first keeps the connection in
// TIME_WAIT for a minute (tcp(7)); here that is Bob's, on the port he
// listens on. Without SO_REUSEADDR, bind() then fails with "Address already
// in use" until the TIME_WAIT ends. So the test makes exactly that: Bob
// (the program, on a terminal) serves a client, Ctrl-C ends him while the
// client is still connected, the client then closes, and `ss` must show the
// TIME-WAIT on Bob's port (else the test would prove nothing). Bob is then
// started again on that port and must serve a second client.
//
// Stages 1 to 4 die of the SIGINT (their default action); stage 5 catches
// it, says goodbye to its clients and exits 0. Either way Bob's side closes
// first.
//
// See also: docs/design.md ("SO_REUSEADDR is set"), socket(7) SO_REUSEADDR,
// tcp(7) (TIME_WAIT), ss(8).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "fd.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stages.hpp"

namespace {

using namespace support;

// What `ss -tan` says of TCP connections on local port `port` in TIME-WAIT:
// one line each, "" when there is none. Throws if ss fails.
std::string time_waits(int port) {
  const Result ss = run("ss", {"-H", "-t", "-a", "-n", "state", "time-wait", "sport", "=",
                               ":" + std::to_string(port)});
  if (ss.exit != Exit::code(0)) throw std::runtime_error("ss -Htan failed: " + ss.err);
  return ss.out;
}

// What the program shows of a line a client sent: stages 1 to 4 print it
// as it is; stages 5 and 6 print it on the host's screen with the client's name.
bool shows_line(const std::string& program, const std::string& out, const std::string& line) {
  if (program != "stage5-chat" && program != "stage6-class") return out == line;
  return out.find("> " + line) != std::string::npos;
}

class Restart : public ::testing::TestWithParam<const char*> {
 protected:
  std::string program() const { return GetParam(); }

  // Bob listens on `port` (0: any) with a terminal for stdin, as in class.
  Process start_bob(const std::string& port) {
    return Process::start(stage_program(program()), {"-v", "-l", port}, Stdin::terminal(),
                          Stdout::file());
  }

  // A client connects and sends `line`, and Bob shows it.
  ::testing::AssertionResult converse(Process& bob, int port, Fd& alice, const std::string& line) {
    alice = connect_to(AF_INET, port);
    send_all(alice.get(), line);
    // Or Bob has ended (a part not written): nothing more will be printed.
    if (eventually(
            [&] { return shows_line(program(), bob.stdout_text(), line) || !bob.running(); }) &&
        shows_line(program(), bob.stdout_text(), line))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "a client sent " << ::testing::PrintToString(line) << "; " << program() << " printed "
           << ::testing::PrintToString(bob.stdout_text()) << ", stderr:\n"
           << bob.stderr_text();
  }
};

TEST_P(Restart, AfterCtrlCTheSamePortServesAgainAtOnce) {
  REQUIRE_PROGRAM("ss", "iproute2");
  // The first conversation, ended by Ctrl-C on Bob's terminal.
  Process first = start_bob("0");
  const int port = first.wait_for_listening_port();
  Fd alice;
  ASSERT_TRUE(converse(first, port, alice, "first conversation\n"));
  first.write_stdin("\x03");  // Ctrl-C: SIGINT to the terminal's foreground
  const Exit ended = first.wait();
  ASSERT_TRUE(ended == Exit::signal(SIGINT) || ended == Exit::code(0))
      << program() << " after Ctrl-C: " << ended << "; stderr:\n"
      << first.stderr_text();
  // Alice sees the end of the stream (after stage 5's goodbye) and closes:
  // Bob's side closed first, so the TIME_WAIT is his.
  receive_all(alice.get());
  alice.reset();
  std::string waiting;
  ASSERT_TRUE(eventually([&] { return !(waiting = time_waits(port)).empty(); }))
      << "no connection in TIME-WAIT on port " << port
      << " after Bob's Ctrl-C and Alice's close: the test cannot show anything; "
         "`ss -tan` shows on that port:\n"
      << run("ss", {"-t", "-a", "-n", "sport", "=", ":" + std::to_string(port)}).out;

  // Bob starts again on the same port at once, while that TIME_WAIT lasts.
  Process second = start_bob(std::to_string(port));
  if (!second.wait_for_stderr("listening on ")) {
    FAIL() << program() << " -v -l " << port << ", started again right after Ctrl-C ended "
           << "a conversation on that port (in TIME-WAIT:\n"
           << waiting << "), did not listen: " << second.wait() << ", stderr:\n"
           << second.stderr_text() << "(SO_REUSEADDR lets a listener bind despite TIME_WAIT)";
  }
  Fd carol;
  ASSERT_TRUE(converse(second, port, carol, "second conversation\n"));
  carol.reset();
  if (program() == "stage5-chat" || program() == "stage6-class") {
    second.send_signal(SIGTERM);  // the room keeps listening
  }
  EXPECT_EQ(second.wait(), Exit::code(0)) << second.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Stages, Restart,
                         ::testing::Values("stage1-listen", "stage2-connect", "stage3-duplex",
                                           "stage4-http", "stage5-chat", "stage6-class"),
                         stage_only);

}  // namespace
