// support_test.cpp: tests of the test harness itself (tests/support/).
//
// The stage tests trust the harness to report exit statuses and signals
// faithfully, to give a child an idle terminal as stdin, never to block on a
// child's output and never to leave a child behind. Each of those promises
// is checked here with ordinary programs (sh, cat, sleep, head).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "chat_peers.hpp"
#include "data.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stages.hpp"

namespace {

using namespace support;

bool gone(pid_t pid) {
  return kill(pid, 0) == -1 && errno == ESRCH;
}

TEST(Harness, ExitStatusStdoutAndStderr) {
  Result result = run("sh", {"-c", "printf 'to stdout'; printf 'to stderr' >&2; exit 3"});
  EXPECT_EQ(result.exit, Exit::code(3));
  EXPECT_EQ(result.out, "to stdout");
  EXPECT_EQ(result.err, "to stderr");
}

TEST(Harness, DeathBySignal) {
  EXPECT_EQ(run("sh", {"-c", "kill -TERM $$"}).exit, Exit::signal(SIGTERM));
  EXPECT_EQ(::testing::PrintToString(Exit::signal(SIGKILL)), "killed by signal 9 (Killed)");
  EXPECT_EQ(::testing::PrintToString(Exit::code(2)), "exit status 2");
}

TEST(Harness, AProgramThatCannotRunThrows) {
  try {
    Process::start("/nonexistent/program", {});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot run /nonexistent/program: No such file or directory");
  }
}

TEST(Harness, TimeoutKillsAndReaps) {
  Process sleeper = Process::start("sleep", {"30"});
  const pid_t pid = sleeper.pid();
  EXPECT_EQ(sleeper.wait(Millis(100)), Exit::timed_out());
  EXPECT_TRUE(gone(pid));
  EXPECT_FALSE(sleeper.running());
}

TEST(Harness, DestructorKillsAndReaps) {
  pid_t pid = -1;
  {
    Process sleeper = Process::start("sleep", {"30"});
    pid = sleeper.pid();
    EXPECT_TRUE(sleeper.running());
  }
  EXPECT_TRUE(gone(pid));
}

TEST(Harness, SigkillWhenSigtermIsIgnored) {
  Process stubborn = Process::start("sh", {"-c", "trap '' TERM; exec sleep 30"});
  // Let sh install its trap before it is asked to stop.
  ASSERT_TRUE(eventually([&] { return stubborn.running(); }));
  std::this_thread::sleep_for(Millis(200));
  EXPECT_EQ(stubborn.stop(), Exit::signal(SIGKILL));
  EXPECT_TRUE(gone(stubborn.pid()));
}

TEST(Harness, StdinPipeAndStdoutPipe) {
  Process cat = Process::start("cat", {}, Stdin::pipe(), Stdout::pipe());
  cat.write_stdin("abc");
  EXPECT_EQ(cat.wait_for_stdout(3), "abc");
  cat.write_stdin(std::string("\0def", 4));
  cat.close_stdin();
  EXPECT_EQ(cat.wait(), Exit::code(0));
  EXPECT_EQ(cat.stdout_text(), std::string("abc\0def", 7));
}

// wait() reads the pipe while it waits: a child writing far more than a
// pipe holds does not block, and every byte is kept.
TEST(Harness, WaitDrainsALargeStdoutPipe) {
  Process head =
      Process::start("head", {"-c", "5000000", "/dev/zero"}, Stdin::null(), Stdout::pipe());
  EXPECT_EQ(head.wait(), Exit::code(0));
  EXPECT_EQ(head.stdout_text(), std::string(5000000, '\0'));
}

// A stalled stdout is full from the start and never read: the child's first
// write to it blocks (until the deadline stops it), and neither fails with
// EPIPE (sh would die of SIGPIPE) nor EAGAIN (sh would report it and exit).
TEST(Harness, StalledStdoutBlocksTheFirstWrite) {
  Process writer = Process::start("sh", {"-c", "echo before >&2; echo x; echo after >&2"},
                                  Stdin::null(), Stdout::stalled());
  ASSERT_TRUE(writer.wait_for_stderr("before\n"));
  EXPECT_EQ(writer.wait(Millis(300)), Exit::timed_out());
  EXPECT_EQ(writer.stderr_text(), "before\n");
  EXPECT_EQ(writer.stdout_text(), "");
}

TEST(Harness, StdinFromAFileStdoutToAFile) {
  TempDir dir;
  const std::string data = random_bytes(1 << 20);
  write_file(dir.file("in"), data);
  Process cat =
      Process::start("cat", {}, Stdin::file(dir.file("in")), Stdout::file(dir.file("out")));
  EXPECT_EQ(cat.wait(), Exit::code(0));
  EXPECT_TRUE(same_bytes(data, read_file(dir.file("out"))));
  EXPECT_EQ(cat.stdout_path(), dir.file("out"));
}

TEST(Harness, StdinKinds) {
  const std::string probe = "if test -t 0; then echo terminal; else echo other; fi";
  EXPECT_EQ(run("sh", {"-c", probe}, Stdin::terminal()).out, "terminal\n");
  EXPECT_EQ(run("sh", {"-c", probe}, Stdin::pipe()).out, "other\n");
  EXPECT_EQ(run("sh", {"-c", probe}, Stdin::null()).out, "other\n");
}

// The terminal is idle until typed into; a line is delivered at Enter;
// Ctrl-D at the start of a line is end of input; Ctrl-C is SIGINT.
TEST(Harness, TypingIntoTheTerminal) {
  Process cat = Process::start("cat", {}, Stdin::terminal(), Stdout::pipe());
  std::this_thread::sleep_for(Millis(50));
  EXPECT_TRUE(cat.running());
  EXPECT_EQ(cat.stdout_text(), "");
  cat.write_stdin("Hello\n");
  EXPECT_EQ(cat.wait_for_stdout(6), "Hello\n");
  cat.write_stdin("\x04");
  EXPECT_EQ(cat.wait(), Exit::code(0));

  Process interrupted = Process::start("cat", {}, Stdin::terminal(), Stdout::pipe());
  interrupted.write_stdin("\x03");
  EXPECT_EQ(interrupted.wait(), Exit::signal(SIGINT));
}

// A child inherits only 0, 1 and 2, whatever the test has open.
TEST(Harness, ChildrenInheritNoOtherDescriptor) {
  if (access("/proc/self/fd", F_OK) != 0) GTEST_SKIP() << "no /proc/self/fd here";
  LoopbackServer server;
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0);  // not close-on-exec
  Fd one(ends[0]), two(ends[1]);
  Process cat = Process::start("cat", {}, Stdin::pipe(), Stdout::pipe());
  // ls opens one descriptor of its own (3) to read the folder.
  Result ls = run("sh", {"-c", "exec ls /proc/self/fd"});
  std::istringstream words(ls.out);
  std::set<std::string> fds{std::istream_iterator<std::string>(words), {}};
  EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "3"})) << ls.out;
  // cat inherited no copy of its own stdin's write end: closing ours ends it.
  cat.close_stdin();
  EXPECT_EQ(cat.wait(Millis(5000)), Exit::code(0));
}

TEST(Harness, ListeningPort) {
  Process listener =
      Process::start("sh", {"-c", "echo 'listening on :: port 4242' >&2; exec sleep 30"});
  EXPECT_EQ(listener.wait_for_listening_port(), 4242);
  Process nc_like =
      Process::start("sh", {"-c", "echo 'Listening on 127.0.0.1 4343' >&2; exec sleep 30"});
  EXPECT_EQ(nc_like.wait_for_listening_port(kStartTimeout, "Listening on "), 4343);
}

// A client program that ends without connecting (stopped at a stub) ends
// the wait with why; one that connected and ended is still accepted.
TEST(Harness, AcceptFromAClientThatEndsWithoutConnecting) {
  LoopbackServer server(AF_INET);
  Process quitter = Process::start("sh", {"-c", "exit 3"});
  try {
    server.accept(quitter, Millis(60000));
    ADD_FAILURE() << "accepted a connection nobody made";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("sh ended (exit status 3) without connecting"),
              std::string::npos)
        << error.what();
  }
  const std::string port = std::to_string(server.port());
  Process connecter = Process::start("bash", {"-c", "exec 3<>/dev/tcp/127.0.0.1/" + port});
  EXPECT_EQ(connecter.wait(), Exit::code(0));
  EXPECT_GE(server.accept(connecter).get(), 0);
}

TEST(Harness, ListeningPortWhenTheProgramEndsFirst) {
  Process failing = Process::start("sh", {"-c", "echo 'bind: Address already in use' >&2; exit 1"});
  try {
    failing.wait_for_listening_port();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("exit status 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Address already in use"), std::string::npos) << e.what();
  }
  Process silent = Process::start("sleep", {"30"});
  EXPECT_THROW(silent.wait_for_listening_port(Millis(100)), std::runtime_error);
}

TEST(Harness, MissingProgram) {
  EXPECT_EQ(missing_program("no-such-program-here", "some-package"),
            "no-such-program-here not found: install some-package "
            "(apt-get install some-package)");
  EXPECT_EQ(missing_program("sh", "dash"), "");
}

TEST(Harness, RandomBytesHoldEveryByteValue) {
  const std::string data = random_bytes(4096, 3);
  EXPECT_EQ(data.size(), 4096u);
  EXPECT_EQ(data, random_bytes(4096, 3));
  EXPECT_NE(data, random_bytes(4096, 4));
  EXPECT_EQ(std::set<char>(data.begin(), data.end()).size(), 256u);
  EXPECT_EQ(data.substr(256, 64), std::string(64, '\0'));
}

TEST(Harness, SameBytesTellsWhereTheyDiffer) {
  EXPECT_TRUE(same_bytes("abc", "abc"));
  const auto result = same_bytes("abcdef", "abcxef");
  EXPECT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("first difference at offset 3"), std::string::npos)
      << result.message();
}

TEST(Harness, LoopbackPeers) {
  for (int family : {AF_INET, AF_INET6}) {
    LoopbackServer server(family);
    Fd client = connect_to(family, server.port());
    Fd accepted = server.accept();
    send_all(client.get(), "ping");
    shutdown_write(client.get());
    EXPECT_EQ(receive_all(accepted.get()), "ping");
    accepted.reset();
    EXPECT_EQ(receive_all(client.get()), "");
  }
  LoopbackServer idle;
  EXPECT_THROW(idle.accept(Millis(50)), std::runtime_error);
  EXPECT_EQ(try_connect(AF_INET, unused_port(AF_INET)), ECONNREFUSED);
}

// Both ends of a loopback connection by their ports; what one end sent and
// the other has not read waits in the other's receive queue.
TEST(Harness, TcpQueuesShowWhatWaitsUnread) {
  LoopbackServer server(AF_INET);
  Fd client = connect_to(AF_INET, server.port());
  Fd accepted = server.accept();
  EXPECT_EQ(remote_port(client.get()), server.port());
  EXPECT_EQ(remote_port(accepted.get()), local_port(client.get()));
  send_all(client.get(), "waiting");
  ASSERT_TRUE(acknowledged(client.get()));
  const TcpQueues queues = tcp_queues(local_port(accepted.get()), local_port(client.get()));
  EXPECT_EQ(queues.unread, 7);
  EXPECT_EQ(queues.unsent, 0);
  EXPECT_EQ(tcp_queues(unused_port(AF_INET), 1).unread, -1);
}

TEST(Harness, LinesOfLeaveOutAnUnfinishedLine) {
  EXPECT_EQ(lines_of("one\n\nthree\nfou"), (Lines{"one", "", "three"}));
  EXPECT_EQ(lines_of(""), Lines{});
}

// A listener's -v for one client, whatever port the client had; the rest
// word for word, regex characters and all.
TEST(Harness, ServedOneClientTakesAnyClientPort) {
  const std::string err = "listening on :: port 3000\nconnection from ::1 port 51234\nsent 0 (x)\n";
  EXPECT_TRUE(served_one_client(err, "::", "3000", "::1", "sent 0 (x)\n"));
  EXPECT_FALSE(served_one_client(err, "::", "3001", "::1", "sent 0 (x)\n"));
  EXPECT_FALSE(served_one_client(err, "::", "3000", "127.0.0.1", "sent 0 (x)\n"));
  EXPECT_FALSE(served_one_client(err, "::", "3000", "::1", "sent 0 (y)\n"));
}

TEST(Harness, QuoteEscapesRegexCharacters) {
  EXPECT_TRUE(matches("connect to ::1 port 80 (x)",
                      "connect to " + quote("::1") + " port \\d+ " + quote("(x)")));
  EXPECT_TRUE(matches("1.2.3.4", quote("1.2.3.4")));
  EXPECT_FALSE(matches("1x2.3.4", quote("1.2.3.4")));
}

// The child gets the test's environment plus the changes asked for, and the
// test's own environment stays as it was.
TEST(Harness, EnvironmentAddsAndReplacesVariables) {
  setenv("NC_TEST_KEPT", "kept", 1);
  setenv("NC_TEST_REPLACED", "old", 1);
  Process shell = Process::start(
      "sh",
      {"-c",
       "printf '%s %s %s ' \"$NC_TEST_KEPT\" \"$NC_TEST_REPLACED\" \"$NC_TEST_ADDED\"; "
       "env | grep -c '^NC_TEST_REPLACED='"},
      Stdin::null(), Stdout::pipe(), {"NC_TEST_REPLACED=new", "NC_TEST_ADDED=added"});
  EXPECT_EQ(shell.wait(), Exit::code(0));
  EXPECT_EQ(shell.stdout_text(), "kept new added 1\n");
  EXPECT_STREQ(std::getenv("NC_TEST_REPLACED"), "old");
  EXPECT_EQ(std::getenv("NC_TEST_ADDED"), nullptr);
  unsetenv("NC_TEST_KEPT");
  unsetenv("NC_TEST_REPLACED");
  EXPECT_THROW(Process::start("true", {}, Stdin::null(), Stdout::null(), {"NO_EQUALS_SIGN"}),
               std::invalid_argument);
}

// The port of the other end of a connected socket.
int remote_port(int fd) {
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return -1;
  return ntohs(address.ss_family == AF_INET
                   ? reinterpret_cast<const sockaddr_in*>(&address)->sin_port
                   : reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

// ChatPeers: connects without blocking, cuts what arrives into whole lines
// (NUL and CR kept), sends what is queued, and tells end of stream, a
// reset and a refused connect apart.
TEST(Harness, ChatPeersReadWholeLinesAndSend) {
  for (int family : {AF_INET, AF_INET6}) {
    SCOPED_TRACE(family == AF_INET ? "IPv4" : "IPv6");
    LoopbackServer server(family);
    ChatPeers peers(family, server.port());
    const std::size_t first = peers.connect(2);
    Fd one = server.accept(), two = server.accept();
    ASSERT_TRUE(peers.pump_until([&] { return peers[0].connected && peers[1].connected; }));
    const std::string address = family == AF_INET ? "127.0.0.1" : "[::1]";
    EXPECT_EQ(first, 0u);
    EXPECT_EQ(peers[0].name, address + ":" + std::to_string(peers[0].port));
    // The accepted sockets in the order of the connects: match them by port.
    if (remote_port(one.get()) != peers[0].port) std::swap(one, two);
    ASSERT_EQ(remote_port(one.get()), peers[0].port);

    send_all(one.get(), "one\ntw");
    ASSERT_TRUE(peers.pump_until([&] { return peers[0].partial == "tw"; }));
    send_all(one.get(), std::string("o\0\r\nthree\n", 10));
    ASSERT_TRUE(peers.wait_for_lines(0, 3));
    EXPECT_EQ(peers[0].lines,
              (std::vector<std::string>{"one", std::string("two\0\r", 5), "three"}));
    EXPECT_TRUE(peers.has_line(0, "three"));
    EXPECT_EQ(peers[0].received, 16u);

    peers.send(0, "hello\n");
    peers.shutdown_write(0);
    EXPECT_EQ(receive_all(one.get()), "hello\n");
    EXPECT_EQ(peers[0].sent, 6u);
    one.reset();
    ASSERT_TRUE(peers.pump_until([&] { return peers[0].ended; }));
    EXPECT_EQ(peers[0].error, 0);

    linger abort_on_close{1, 0};  // close with RST
    ASSERT_EQ(setsockopt(two.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close),
              0);
    two.reset();
    ASSERT_TRUE(peers.pump_until([&] { return peers[1].ended; }));
    EXPECT_EQ(peers[1].error, ECONNRESET);
    EXPECT_TRUE(peers[1].lines.empty());
  }
  ChatPeers refused(AF_INET, unused_port(AF_INET));
  refused.connect(1);
  ASSERT_TRUE(refused.pump_until([&] { return refused[0].ended; }));
  EXPECT_EQ(refused[0].error, ECONNREFUSED);
}

// A peer that does not read leaves the bytes in the kernel; the test's own
// close and reset end it without waiting.
TEST(Harness, ChatPeersThatStopReadingOrLeave) {
  LoopbackServer server(AF_INET);
  ChatPeers peers(AF_INET, server.port());
  peers.connect(3);
  Fd a = server.accept(), b = server.accept(), c = server.accept();
  ASSERT_TRUE(peers.pump_until(
      [&] { return peers[0].connected && peers[1].connected && peers[2].connected; }));
  peers[0].reading = false;
  for (Fd* fd : {&a, &b, &c})
    send_all(fd->get(), "line\n");
  ASSERT_TRUE(peers.wait_for_lines(1, 1));
  ASSERT_TRUE(peers.wait_for_lines(2, 1));
  peers.pump(Millis(50));
  EXPECT_TRUE(peers[0].lines.empty());
  peers[0].reading = true;
  ASSERT_TRUE(peers.wait_for_lines(0, 1));
  peers.close(1);
  peers.reset(2);
  EXPECT_TRUE(peers[1].ended);
  EXPECT_FALSE(peers[1].fd);
  std::string rest;
  for (Fd* fd : {&b, &c}) {
    char byte;
    rest += std::to_string(recv(fd->get(), &byte, 1, 0)) + " ";
  }
  EXPECT_EQ(rest, "0 -1 ");  // end of stream, then a reset
}

TEST(Harness, RaiseDescriptorLimitToTheHardLimit) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  const long raised = raise_descriptor_limit();
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, after.rlim_max);
  EXPECT_EQ(after.rlim_max, before.rlim_max);
  EXPECT_GE(raised, static_cast<long>(std::min<rlim_t>(before.rlim_cur, 1L << 30)));
}

}  // namespace
