// stage5_test.cpp: the built stage5-chat hosting a room: the host typing on
// stdin beside OpenBSD nc and stage3-duplex as clients, and scripted clients
// by the thousand (support/chat_peers.hpp) that type one byte at a time,
// send a megabyte without a newline, NUL bytes and CRLF, reset mid-line,
// stop reading under a flood, fill the room (-m) or the server's descriptor
// table (EMFILE); and the signals that close it. What stage 6 adds (names,
// flood control, announcements for crowds) is in stage6_test.cpp.
//
// The oracle is the stage 5 contract (what each party sees, word for word,
// and the -v lines). Only loopback is used, with ports the system chooses.
// No test asserts on elapsed time: where "no busy loop" must be shown, the
// server's CPU time is read from /proc instead. A server stopped with
// SIGSTOP (to let a storm pile up in its backlog) is always continued.
//
// See also: docs/design.md (stage 5), docs/stage5-chat.md; support/rooms.hpp;
// stage3_test.cpp.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "chat_peers.hpp"
#include "data.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "rooms.hpp"
#include "stages.hpp"

namespace {

using namespace support;
using Clock = std::chrono::steady_clock;

const std::string kProgram = stage_program("stage5-chat");

// ---------------------------------------------------------------- helpers

std::string welcome(const std::string& name, std::size_t others) {
  return "* you are " + name + ", " + std::to_string(others) +
         (others == 1 ? " other" : " others") + " here";
}

// -------------------------------------------------------------- command line

TEST(Stage5CommandLine, HelpGoesToStdoutAndExitsZero) {
  for (const char* option : {"-h", "--help"}) {
    SCOPED_TRACE(option);
    Result help = run(kProgram, {option});
    EXPECT_EQ(help.exit, Exit::code(0));
    EXPECT_EQ(help.out.rfind("usage: stage5-chat [-v] [-4|-6] [-m MAX] -l [ADDRESS] PORT\n", 0), 0u)
        << help.out;
    EXPECT_NE(help.out.find("  -m MAX "), std::string::npos) << help.out;
    EXPECT_EQ(help.err, "");
  }
}

TEST(Stage5CommandLine, UsageErrorsExitTwoWithReasonAndUsage) {
  const std::string kOperands = "expected -l [ADDRESS] PORT";
  const struct {
    std::vector<std::string> args;
    std::string reason;
  } cases[] = {
      {{}, kOperands},
      {{"3000"}, kOperands},
      {{"localhost", "3000"}, kOperands},
      {{"-l"}, kOperands},
      {{"-l", "127.0.0.1", "3000", "extra"}, kOperands},
      {{"-m"}, "option -m needs a value"},
      {{"-l", "0", "-m"}, "option -m needs a value"},
      {{"-m", "0", "-l", "0"}, "invalid maximum \"0\": at least 1"},
      {{"-m", "x", "-l", "0"}, "invalid maximum \"x\": not a decimal number"},
      {{"-m", "", "-l", "0"}, "invalid maximum \"\": empty"},
      {{"-m", "-1", "-l", "0"}, "invalid maximum \"-1\": not a decimal number"},
      {{"-m", "1000001", "-l", "0"}, "invalid maximum \"1000001\": greater than 1000000"},
      {{"-m10x", "-l", "0"}, "invalid maximum \"10x\": not a decimal number"},
      {{"-x", "-l", "0"}, "unknown option -x"},
      {{"-w", "1", "-l", "0"}, "unknown option -w"},
      {{"-l", "65536"}, "invalid port \"65536\": greater than 65535"},
      {{"-l", "port"}, "invalid port \"port\": not a decimal number"},
      {{"-l", "localhost", "0"},
       "invalid address \"localhost\": not a numeric IPv4 or IPv6 address"},
      {{"-4", "-l", "::1", "0"}, "invalid address \"::1\": not a numeric IPv4 address"},
  };
  for (const auto& test : cases) {
    std::string command;
    for (const std::string& arg : test.args)
      command += " '" + arg + "'";
    SCOPED_TRACE("stage5-chat" + command);
    EXPECT_TRUE(is_usage_error(kProgram, test.args, test.reason));
  }
}

// The largest -m is valid, not only its neighbours rejected.
TEST(Stage5CommandLine, AMillionClientsIsAValidMaximum) {
  Room room = open_room(kProgram, {"-m", "1000000"});
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t alice = join(peers);
  EXPECT_EQ(peers[alice].lines, Lines{welcome(peers[alice].name, 0)});
  EXPECT_TRUE(closes(room.server, peers));
}

// An address in use is an error at start, never shared silently.
TEST(Stage5CommandLine, AddressInUseExitsOne) {
  LoopbackServer busy(AF_INET);
  const std::string port = std::to_string(busy.port());
  Result result = run(kProgram, {"-l", "127.0.0.1", port});
  EXPECT_EQ(result.exit, Exit::code(1));
  EXPECT_EQ(result.err,
            "stage5-chat: bind to 127.0.0.1 port " + port + ": Address already in use\n");
  EXPECT_EQ(result.out, "");
  // With -v too: a room that never opened served nobody, and says nothing of it.
  Result verbose = run(kProgram, {"-v", "-l", "127.0.0.1", port});
  EXPECT_EQ(verbose.exit, Exit::code(1));
  EXPECT_EQ(verbose.err,
            "stage5-chat: bind to 127.0.0.1 port " + port + ": Address already in use\n");
}

// Started with a soft descriptor limit of 64 under a higher hard one, the
// room raises the soft limit itself and lets in more clients than 64.
TEST(Stage5CommandLine, RaisesItsSoftDescriptorLimitToTheHardLimit) {
  const long hard = raise_descriptor_limit();
  if (hard < 1024) SKIP_OR_FAIL_IN_CI("hard RLIMIT_NOFILE " << hard << " is too low");
  Process server = Process::start("/bin/sh", {"-c", "ulimit -S -n 64; exec \"$0\" \"$@\"", kProgram,
                                              "-v", "-l", "127.0.0.1", "0"});
  const int port = server.wait_for_listening_port();
  std::ifstream limits("/proc/" + std::to_string(server.pid()) + "/limits");
  const std::string text((std::istreambuf_iterator<char>(limits)),
                         std::istreambuf_iterator<char>());
  const std::string value = hard >= (1L << 30) ? "unlimited" : std::to_string(hard);
  EXPECT_TRUE(std::regex_search(text, std::regex("Max open files +" + value + " +" + value + " ")))
      << text;
  ChatPeers peers(AF_INET, port);
  const std::size_t count = 200;
  peers.connect(count);
  EXPECT_TRUE(peers.pump_until([&] {
    for (std::size_t i = 0; i < count; ++i)
      if (peers[i].lines.empty()) return false;
    return true;
  })) << "not every client got in";
  EXPECT_FALSE(has_line(server.stderr_text(), "not accepting: accept: Too many open files"));
  EXPECT_TRUE(closes(server, peers));
  EXPECT_EQ(last_line(server.stderr_text()), summary(count, 0));
}

// ------------------------------------------------------------------- -v lines

// Dual-stack by default: an IPv4 client is named as plain IPv4, an IPv6 one
// in brackets; every arrival and departure is on stderr with its reason.
TEST(Stage5Verbose, ArrivalsDeparturesAndTheSummary) {
  Room room = open_room(kProgram, {}, Stdin::null(), "");
  const std::string port = std::to_string(room.port);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t alice = join(peers);
  const std::string a = peers[alice].name;
  const std::size_t bob = join(peers, AF_INET6);
  const std::string b = peers[bob].name;
  EXPECT_EQ(a, "127.0.0.1:" + std::to_string(peers[alice].port));
  EXPECT_EQ(b, "[::1]:" + std::to_string(peers[bob].port));
  EXPECT_EQ(peers[bob].lines, Lines{welcome(b, 1)});
  ASSERT_TRUE(heard(peers, alice, "* " + b + " joined"));
  peers.send(bob, "hello over IPv6\n");
  ASSERT_TRUE(heard(peers, alice, "<" + b + "> hello over IPv6"));
  peers.close(alice);
  ASSERT_TRUE(heard(peers, bob, "* " + a + " left"));
  peers.reset(bob);
  ASSERT_TRUE(on_screen(room.server, peers, "* " + b + " left: Connection reset by peer"));
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(room.server.stderr_text(),
            "listening on :: port " + port + "\nconnection from 127.0.0.1 port " + port_of(a) +
                "\nconnection from ::1 port " + port_of(b) + "\ndisconnected 127.0.0.1 port " +
                port_of(a) + ": end of stream\ndisconnected ::1 port " + port_of(b) +
                ": Connection reset by peer\n" + summary(2, 1));
  EXPECT_EQ(lines_of(room.server.stdout_text()),
            (Lines{"* " + a + " joined", "* " + b + " joined", "<" + b + "> hello over IPv6",
                   "* " + a + " left", "* " + b + " left: Connection reset by peer",
                   "* server closing"}));
}

// -4 listens on 0.0.0.0 only, -6 on :: only (IPV6_V6ONLY).
TEST(Stage5Verbose, FourAndSixListenOnOneFamily) {
  for (const char* only : {"-4", "-6"}) {
    SCOPED_TRACE(only);
    const bool v4 = std::string(only) == "-4";
    Room room = open_room(kProgram, {only}, Stdin::null(), "");
    EXPECT_TRUE(room.server.wait_for_stderr(std::string("listening on ") + (v4 ? "0.0.0.0" : "::") +
                                            " port " + std::to_string(room.port) + "\n"));
    EXPECT_EQ(try_connect(v4 ? AF_INET6 : AF_INET, room.port), ECONNREFUSED);
    ChatPeers peers(v4 ? AF_INET : AF_INET6, room.port, room.server);
    const std::size_t alice = join(peers, v4 ? AF_INET : AF_INET6);
    EXPECT_EQ(peers[alice].lines, Lines{welcome(peers[alice].name, 0)});
    EXPECT_TRUE(closes(room.server, peers));
  }
}

// Without -v, nothing on stderr, whatever happens.
TEST(Stage5Verbose, QuietWithoutV) {
  // No "listening on" line to read the port from: a port free a moment ago.
  const int port = unused_port(AF_INET);
  Process server = Process::start(kProgram, {"-l", "127.0.0.1", std::to_string(port)});
  ASSERT_TRUE(eventually([&] { return try_connect(AF_INET, port) == 0; }))
      << "not listening on port " << port << ": " << server.stderr_text();
  ChatPeers peers(AF_INET, port);
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  peers.send(alice, "psst\n");
  ASSERT_TRUE(heard(peers, bob, "<" + peers[alice].name + "> psst"));
  peers.reset(bob);
  ASSERT_TRUE(heard(peers, alice, "* " + peers[bob].name + " left: Connection reset by peer"));
  EXPECT_TRUE(closes(server, peers));
  EXPECT_EQ(server.stderr_text(), "");
}

// ------------------------------------------------------------ conversation

// The host types on stdin (a pipe, or a terminal), OpenBSD nc and
// stage3-duplex are the clients: each sees exactly what the contract says,
// the host's screen included, and -v counts the lines relayed.
class Stage5Conversation : public ::testing::TestWithParam<bool> {};

TEST_P(Stage5Conversation, HostNcAndStage3DuplexTalk) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  const bool terminal = GetParam();
  Room room = open_room(kProgram, {}, terminal ? Stdin::terminal() : Stdin::pipe());
  const std::string port = std::to_string(room.port);
  Process alice = Process::start("nc", {"-N", "127.0.0.1", port}, Stdin::pipe());
  ASSERT_TRUE(eventually([&] { return !lines_of(alice.stdout_text()).empty(); }));
  const std::string a = name_in_welcome(lines_of(alice.stdout_text())[0]);
  Process bob = Process::start(stage_program("stage3-duplex"), {"127.0.0.1", port}, Stdin::pipe());
  ASSERT_TRUE(eventually([&] { return !lines_of(bob.stdout_text()).empty(); }));
  const std::string b = name_in_welcome(lines_of(bob.stdout_text())[0]);
  ASSERT_TRUE(shows(alice, "* " + b + " joined"));

  room.server.write_stdin("hello class\n");
  ASSERT_TRUE(shows(alice, "<host> hello class"));
  ASSERT_TRUE(shows(bob, "<host> hello class"));
  alice.write_stdin("hi host\n");
  ASSERT_TRUE(shows(room.server, "<" + a + "> hi host"));
  ASSERT_TRUE(shows(bob, "<" + a + "> hi host"));
  bob.write_stdin("hi alice\n");
  ASSERT_TRUE(shows(alice, "<" + b + "> hi alice"));
  ASSERT_TRUE(shows(room.server, "<" + b + "> hi alice"));
  alice.close_stdin();  // nc -N: end of stream for the room
  ASSERT_TRUE(shows(bob, "* " + a + " left"));
  EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
  if (!terminal) room.server.close_stdin();  // the room keeps serving
  bob.write_stdin("just us now\n");
  ASSERT_TRUE(shows(room.server, "<" + b + "> just us now"));
  if (!terminal) {
    ASSERT_TRUE(room.server.running());
  }
  if (terminal) {
    room.server.write_stdin("bye\n");
    ASSERT_TRUE(shows(bob, "<host> bye"));
    room.server.write_stdin("\x03");  // Ctrl-C: SIGINT
  } else {
    room.server.send_signal(SIGTERM);
  }
  ASSERT_TRUE(shows(bob, "* server closing"));
  EXPECT_EQ(room.server.wait(), Exit::code(0));
  bob.close_stdin();  // stage3-duplex sends its stdin to the end
  EXPECT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();

  EXPECT_EQ(lines_of(alice.stdout_text()), (Lines{welcome(a, 0), "* " + b + " joined",
                                                  "<host> hello class", "<" + b + "> hi alice"}));
  Lines at_bob{welcome(b, 1), "<host> hello class", "<" + a + "> hi host", "* " + a + " left"};
  if (terminal) at_bob.push_back("<host> bye");
  at_bob.push_back("* server closing");
  EXPECT_EQ(lines_of(bob.stdout_text()), at_bob);
  EXPECT_EQ(lines_of(room.server.stdout_text()),
            (Lines{"* " + a + " joined", "* " + b + " joined", "<" + a + "> hi host",
                   "<" + b + "> hi alice", "* " + a + " left", "<" + b + "> just us now",
                   "* server closing"}));
  EXPECT_EQ(room.server.stderr_text(),
            "listening on 127.0.0.1 port " + port + "\nconnection from 127.0.0.1 port " +
                port_of(a) + "\nconnection from 127.0.0.1 port " + port_of(b) +
                "\ndisconnected 127.0.0.1 port " + port_of(a) +
                ": end of stream\ndisconnected 127.0.0.1 port " + port_of(b) +
                ": server closing\n" + summary(2, terminal ? 5 : 4));
}

std::string host_input(const ::testing::TestParamInfo<bool>& terminal) {
  return terminal.param ? "TypingOnATerminal" : "TypingIntoAPipe";
}

INSTANTIATE_TEST_SUITE_P(Host, Stage5Conversation, ::testing::Values(false, true), host_input);

// --------------------------------------------------------------- bytes

// CR just before LF is dropped (nc -C and telnet send CRLF); any other CR
// is shown (^M: stage5_visible_test.cpp); an empty line is relayed as one.
TEST(Stage5Bytes, CrBeforeLfIsDropped) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name;
  peers.send(sender, "hello\r\nworld\r\n\r\na\rb\r\n\r\r\n");
  ASSERT_TRUE(peers.wait_for_lines(receiver, 6));
  Process nc = Process::start("nc", {"-C", "127.0.0.1", std::to_string(room.port)}, Stdin::pipe());
  ASSERT_TRUE(peers.wait_for_lines(receiver, 7));
  const std::string n =
      peers[receiver].lines.back().substr(2, peers[receiver].lines.back().find(' ', 2) - 2);
  nc.write_stdin("typed with nc -C\n");
  ASSERT_TRUE(heard(peers, receiver, "<" + n + "> typed with nc -C"));
  EXPECT_EQ(peers[receiver].lines,
            (Lines{welcome(peers[receiver].name, 1), "<" + s + "> hello", "<" + s + "> world",
                   "<" + s + "> ", "<" + s + "> a^Mb", "<" + s + "> ^M", "* " + n + " joined",
                   "<" + n + "> typed with nc -C"}));
  EXPECT_TRUE(closes(room.server, peers));
  nc.close_stdin();  // OpenBSD nc ends when both directions have
  EXPECT_EQ(nc.wait(), Exit::code(0));
}

// NUL is shown as ^@, as any control character (stage5_visible_test.cpp),
// and does not end a line: what follows it is relayed too.
TEST(Stage5Bytes, NulBytesAreShown) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name;
  peers.send(sender, std::string("nul\0inside\0\n\0\n", 14));
  ASSERT_TRUE(peers.wait_for_lines(receiver, 3));
  EXPECT_EQ(peers[receiver].lines, (Lines{welcome(peers[receiver].name, 1),
                                          "<" + s + "> nul^@inside^@", "<" + s + "> ^@"}));
  ASSERT_TRUE(on_screen(room.server, peers, "<" + s + "> ^@"));
  EXPECT_TRUE(has_line(room.server.stdout_text(), "<" + s + "> nul^@inside^@"));
  EXPECT_TRUE(closes(room.server, peers));
}

// A megabyte of printable ASCII and tab as one line: what goes is what was
// sent, byte for byte (control characters are shown, not sent, and their
// pieces counted as shown: stage5_visible_test.cpp).
std::string megabyte_line() {
  std::string line = random_bytes(1000000, 51);
  for (char& c : line) {
    const auto byte = static_cast<unsigned char>(c);
    c = byte % 96 == 95 ? '\t' : static_cast<char>(' ' + byte % 96);
  }
  return line;
}

// What client `i` received from `name`, pieces joined, and how many pieces.
std::string reassembled(const ChatPeer& peer, const std::string& name, Lines* pieces) {
  std::string whole;
  const std::string prefix = "<" + name + "> ";
  for (const std::string& line : peer.lines) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    pieces->push_back(line.substr(prefix.size()));
    whole += pieces->back();
  }
  return whole;
}

// 1,000,000 bytes = 244 x 4096 + 576: 244 full pieces as they fill, the
// rest when the sender's stream ends, then its departure. Nothing lost.
TEST(Stage5LongLines, AMegabyteWithoutNewlineIsRelayedInPiecesThenTheRestAtTheEnd) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name;
  const std::string line = megabyte_line();
  peers.send(sender, line);
  peers.shutdown_write(sender);
  ASSERT_TRUE(heard(peers, receiver, "* " + s + " left"));
  Lines pieces;
  EXPECT_TRUE(same_bytes(line, reassembled(peers[receiver], s, &pieces)));
  ASSERT_EQ(pieces.size(), 245u);
  for (std::size_t i = 0; i < 244; ++i)
    EXPECT_EQ(pieces[i].size(), 4096u) << "piece " << i;
  EXPECT_EQ(pieces.back().size(), 576u);
  EXPECT_EQ(peers[receiver].lines.size(), 1 + 245 + 1u);  // welcome, pieces, departure
  EXPECT_EQ(peers[receiver].lines.back(), "* " + s + " left");
  ASSERT_TRUE(peers.pump_until([&] { return peers[sender].ended; }));
  EXPECT_EQ(peers[sender].lines, (Lines{welcome(s, 0), "* " + peers[receiver].name + " joined"}));
  EXPECT_EQ(peers[sender].error, 0) << std::strerror(peers[sender].error);
  EXPECT_TRUE(closes(room.server, peers));
  ChatPeer screen;
  screen.lines = lines_of(room.server.stdout_text());
  Lines screen_pieces;
  EXPECT_TRUE(same_bytes(line, reassembled(screen, s, &screen_pieces)));
  EXPECT_EQ(screen_pieces.size(), 245u);
}

// The same megabyte ended by LF: the rest goes when the LF arrives, and the
// next line follows whole.
TEST(Stage5LongLines, AMegabyteLineIsRelayedInPiecesAndTheRestAtItsNewline) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name;
  const std::string line = megabyte_line();
  peers.send(sender, line + "\nand a short one\n");
  ASSERT_TRUE(heard(peers, receiver, "<" + s + "> and a short one"));
  Lines pieces;
  EXPECT_TRUE(same_bytes(line + "and a short one", reassembled(peers[receiver], s, &pieces)));
  ASSERT_EQ(pieces.size(), 246u);
  EXPECT_EQ(pieces[243].size(), 4096u);
  EXPECT_EQ(pieces[244].size(), 576u);
  EXPECT_EQ(peers[receiver].lines.size(), 1 + 246u);
  EXPECT_TRUE(closes(room.server, peers));
}

// ------------------------------------------------------------- failures

// A client that resets mid-line: what it had sent of the line is relayed,
// then its departure with the reason; the room goes on.
TEST(Stage5Failures, ClientResetMidLine) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name, r = peers[receiver].name;
  peers.send(sender, "first line\nunfinished li");
  ASSERT_TRUE(heard(peers, receiver, "<" + s + "> first line"));
  ASSERT_TRUE(peers.pump_until([&] { return peers[sender].unsent.empty(); }));
  ASSERT_TRUE(acknowledged(peers[sender].fd.get()));
  peers.reset(sender);
  ASSERT_TRUE(heard(peers, receiver, "* " + s + " left: Connection reset by peer"));
  EXPECT_EQ(peers[receiver].lines,
            (Lines{welcome(r, 1), "<" + s + "> first line", "<" + s + "> unfinished li",
                   "* " + s + " left: Connection reset by peer"}));
  // The room keeps serving: a newcomer hears the one who stayed.
  const std::size_t newcomer = join(peers);
  EXPECT_EQ(peers[newcomer].lines, Lines{welcome(peers[newcomer].name, 1)});
  peers.send(receiver, "still here\n");
  ASSERT_TRUE(heard(peers, newcomer, "<" + r + "> still here"));
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_TRUE(has_line(room.server.stderr_text(),
                       "disconnected 127.0.0.1 port " + port_of(s) + ": Connection reset by peer"))
      << room.server.stderr_text();
  EXPECT_EQ(last_line(room.server.stderr_text()), summary(3, 3));
}

// A client that goes away with lines it never read: the kernel answers
// the room's next write with a reset (or EPIPE). That client alone leaves,
// with the reason; the others go on.
TEST(Stage5Failures, AClientGoneWithUnreadLinesEndsOnlyItself) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t gone = join(peers);
  peers[gone].reading = false;
  const std::size_t talker = join(peers);
  const std::size_t listener = join(peers);
  const std::string g = peers[gone].name, t = peers[talker].name;
  peers.send(talker, "you will not read this\n");
  ASSERT_TRUE(heard(peers, listener, "<" + t + "> you will not read this"));
  peers.close(gone);  // unread bytes: the kernel sends RST, not FIN
  for (int n = 0; n < 3; ++n)
    peers.send(talker, "line " + std::to_string(n) + "\n");
  ASSERT_TRUE(heard(peers, listener, "<" + t + "> line 2"));
  auto departure = [&] {
    const Lines& lines = peers[listener].lines;
    return std::find_if(lines.begin(), lines.end(), [&](const std::string& line) {
      return line.rfind("* " + g + " left: ", 0) == 0;
    });
  };
  ASSERT_TRUE(peers.pump_until([&] { return departure() != peers[listener].lines.end(); }))
      << "no departure for " << g;
  EXPECT_TRUE(*departure() == "* " + g + " left: Connection reset by peer" ||
              *departure() == "* " + g + " left: Broken pipe")
      << *departure();
  peers.send(listener, "still talking\n");
  ASSERT_TRUE(heard(peers, talker, "<" + peers[listener].name + "> still talking"));
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(last_line(room.server.stderr_text()), summary(3, 5));
}

// -m MAX: client MAX+1 is told and closed, unannounced; once someone
// leaves, the next one gets in.
TEST(Stage5Failures, RoomFull) {
  Room room = open_room(kProgram, {"-m", "2"});
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  const std::size_t carol = peers.connect(1);
  ASSERT_TRUE(peers.pump_until([&] { return peers[carol].ended; }));
  EXPECT_EQ(peers[carol].lines, Lines{"* room full (2 clients)"});
  EXPECT_EQ(peers[carol].partial, "");
  EXPECT_EQ(peers[carol].error, 0) << std::strerror(peers[carol].error);
  peers.send(bob, "is anyone new here?\n");
  ASSERT_TRUE(heard(peers, alice, "<" + peers[bob].name + "> is anyone new here?"));
  peers.close(bob);
  ASSERT_TRUE(heard(peers, alice, "* " + peers[bob].name + " left"));
  const std::size_t dave = join(peers);
  EXPECT_EQ(peers[dave].lines, Lines{welcome(peers[dave].name, 1)});
  ASSERT_TRUE(heard(peers, alice, "* " + peers[dave].name + " joined"));
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(
      peers[alice].lines,
      (Lines{welcome(peers[alice].name, 0), "* " + peers[bob].name + " joined",
             "<" + peers[bob].name + "> is anyone new here?", "* " + peers[bob].name + " left",
             "* " + peers[dave].name + " joined", "* server closing"}));
  const std::string err = room.server.stderr_text();
  EXPECT_TRUE(has_line(err, "connection from 127.0.0.1 port " + std::to_string(peers[carol].port) +
                                " refused: room full"))
      << err;
  EXPECT_FALSE(has_line(err, "connection from 127.0.0.1 port " + std::to_string(peers[carol].port)))
      << err;
  EXPECT_EQ(last_line(err), summary(3, 1));
}

// Out of descriptors: the server started with a hard limit of 32 lets in
// what fits; the others wait in the backlog while it sleeps (little CPU:
// no busy loop on a listening socket that stays readable), and get in as
// others leave.
TEST(Stage5Failures, OutOfDescriptorsWaitsWithoutSpinningAndLetsThemInLater) {
  Process server = Process::start("/bin/sh", {"-c", "ulimit -n 32; exec \"$0\" \"$@\"", kProgram,
                                              "-v", "-l", "127.0.0.1", "0"});
  const int port = server.wait_for_listening_port();
  {
    std::ifstream limits("/proc/" + std::to_string(server.pid()) + "/limits");
    std::string text((std::istreambuf_iterator<char>(limits)), std::istreambuf_iterator<char>());
    ASSERT_TRUE(std::regex_search(text, std::regex("Max open files +32 +32 "))) << text;
  }
  ChatPeers peers(AF_INET, port);
  const std::size_t count = 40;
  peers.connect(count);
  auto welcomed = [&] {
    std::size_t n = 0;
    for (std::size_t i = 0; i < peers.size(); ++i)
      n += !peers[i].lines.empty() && peers[i].lines[0].rfind("* you are ", 0) == 0;
    return n;
  };
  ASSERT_TRUE(server.wait_for_stderr("not accepting: accept: Too many open files\n"));
  // Those it let in before it ran out: each has a "connection from" line,
  // and each gets its welcome.
  const std::string log = server.stderr_text();
  std::size_t admitted = 0;
  for (std::size_t at = 0; (at = log.find("connection from ", at)) != std::string::npos; ++at) {
    ++admitted;
  }
  ASSERT_TRUE(peers.pump_until([&] { return welcomed() == admitted; }));
  ASSERT_GT(admitted, 20u);
  ASSERT_LT(admitted, count);
  std::printf("with 32 descriptors, %zu of %zu clients got in\n", admitted, count);
  // About 1.5 s of waiting: the server must sleep through it.
  const long before = cpu_ticks(server.pid());
  const auto until = Clock::now() + std::chrono::milliseconds(1500);
  peers.pump_until([&] { return Clock::now() >= until; });
  const long used = cpu_ticks(server.pid()) - before;
  const long per_second = sysconf(_SC_CLK_TCK);
  std::printf("server CPU while out of descriptors: %ld ticks of 1/%ld s\n", used, per_second);
  EXPECT_LE(used, per_second / 5)
      << "a busy loop while out of descriptors: after EMFILE the client stays queued, so a "
         "listener still watched wakes poll() at once; stop watching it a while (no pause on "
         "EMFILE)";
  EXPECT_TRUE(server.running());
  EXPECT_EQ(welcomed(), admitted);
  // As many leave as wait: every waiting client gets in.
  std::size_t to_close = count - admitted;
  for (std::size_t i = 0; i < count && to_close > 0; ++i) {
    if (!peers[i].lines.empty()) {
      peers.close(i);
      --to_close;
    }
  }
  ASSERT_TRUE(peers.pump_until([&] {
    for (std::size_t i = 0; i < count; ++i)
      if (!peers[i].ended && peers[i].lines.empty()) return false;
    return true;
  })) << "a waiting client never got in";
  ASSERT_TRUE(server.wait_for_stderr("accepting again\n"));
  EXPECT_TRUE(closes(server, peers));
  EXPECT_EQ(last_line(server.stderr_text()), summary(count, 0));
}

// ------------------------------------------------------------ slow readers

// A client that never reads, under a flood of 64 MiB from another: it is
// dropped once its queue would pass 256 KiB, the reader that keeps up gets
// every line in order, and the server's memory stays bounded.
TEST(Stage5SlowReaders, ANonReaderIsDroppedWhileTheOthersGetEveryLineInBoundedMemory) {
  // Under AddressSanitizer, freed memory is kept in a quarantine of 256 MiB
  // to catch use after free: memory the runtime holds, not the program. A
  // small one lets the bound below measure the program in that build too
  // (other programs ignore the variable).
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string quarantine =
      "ASAN_OPTIONS=" + std::string(asan && *asan ? std::string(asan) + ":" : "") +
      "quarantine_size_mb=1";
  // -r 0: a flood as fast as the reader takes it, not 5 lines a second.
  Room room = open_room(kProgram, {}, Stdin::null(), "127.0.0.1", Stdout::file(), {quarantine});
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sleeper = join(peers, AF_INET, 4096);
  peers[sleeper].reading = false;
  const std::size_t sender = join(peers);
  const std::size_t reader = join(peers);
  const std::string z = peers[sleeper].name, s = peers[sender].name, r = peers[reader].name;
  ASSERT_TRUE(heard(peers, sender, "* " + r + " joined"));

  // The sender keeps at most 128 lines (128 KiB) ahead of the reader, so
  // that the reader never falls behind by the server's bound.
  const std::size_t total = 64 << 10, size = 1024;
  auto flood_line = [&](std::size_t n) {
    char head[32];
    std::snprintf(head, sizeof head, "flood line %08zu ", n);
    std::string line = head;
    line.resize(size - 1, static_cast<char>('a' + n % 26));
    return line;
  };
  std::size_t queued = 0, checked = 1, arrived = 0;
  std::string trouble;
  long peak = 0;
  auto last_sample = Clock::now();
  const bool done = peers.pump_until(
      [&] {
        const Lines& got = peers[reader].lines;
        for (; checked < got.size() && trouble.empty(); ++checked) {
          if (got[checked] == "* " + z + " dropped: not reading") continue;
          if (got[checked] != "<" + s + "> " + flood_line(arrived++)) {
            trouble = "line " + std::to_string(checked) + ": " + got[checked].substr(0, 80);
          }
        }
        while (queued < total && queued < arrived + 128 && peers[sender].unsent.size() < 65536) {
          peers.send(sender, flood_line(queued++) + "\n");
        }
        if (Clock::now() - last_sample > Millis(20)) {
          peak = std::max(peak, peak_rss_kib(room.server.pid()));
          last_sample = Clock::now();
        }
        return !trouble.empty() || arrived == total;
      },
      Millis(60000));
  peak = std::max(peak, peak_rss_kib(room.server.pid()));
  std::printf(
      "stage5-chat relayed %zu of %zu lines (%zu MiB) past a client that does not read; "
      "peak RSS %ld KiB\n",
      arrived, total, (arrived * size) >> 20, peak);
  RecordProperty("peak_rss_kib", static_cast<int>(peak));
  EXPECT_GT(peak, 0) << "no sample of /proc/PID/status";
  EXPECT_LT(peak, 32 * 1024) << "KiB";
  ASSERT_EQ(trouble, "");
  ASSERT_TRUE(done) << arrived << " of " << total << " lines arrived";
  ASSERT_TRUE(heard(peers, reader, "* " + z + " dropped: not reading"));
  EXPECT_EQ(std::count(peers[reader].lines.begin(), peers[reader].lines.end(),
                       "* " + z + " dropped: not reading"),
            1);
  ASSERT_TRUE(heard(peers, sender, "* " + z + " dropped: not reading"));
  EXPECT_EQ(peers[sender].lines,
            (Lines{welcome(s, 1), "* " + r + " joined", "* " + z + " dropped: not reading"}));
  // The sleeper wakes up to what its kernel holds, then the end.
  peers[sleeper].reading = true;
  ASSERT_TRUE(peers.pump_until([&] { return peers[sleeper].ended; }));
  ASSERT_GE(peers[sleeper].lines.size(), 3u);
  EXPECT_EQ(Lines(peers[sleeper].lines.begin(), peers[sleeper].lines.begin() + 3),
            (Lines{welcome(z, 0), "* " + s + " joined", "* " + r + " joined"}));
  EXPECT_LT(peers[sleeper].received, std::size_t{16} << 20);

  EXPECT_TRUE(closes(room.server, peers));
  const std::string err = room.server.stderr_text();
  EXPECT_TRUE(has_line(
      err, "disconnected 127.0.0.1 port " + port_of(z) + ": not reading (output queue full)"))
      << err;
  EXPECT_EQ(last_line(err), summary(3, total));
  // The host's screen got every line too.
  const Lines screen = lines_of(room.server.stdout_text());
  std::size_t flood_on_screen = 0;
  for (const std::string& line : screen)
    flood_on_screen += line.rfind("<" + s + "> flood line ", 0) == 0;
  EXPECT_EQ(flood_on_screen, total);
  EXPECT_EQ(std::count(screen.begin(), screen.end(), "* " + z + " dropped: not reading"), 1);
}

// ------------------------------------------------------------------ scale

// 1,000 clients, half over IPv4 and half over IPv6, each says one line at
// the same moment: every line reaches every other client and the screen.
TEST(Stage5Scale, AThousandClientsEachHearEveryOther) {
  const std::size_t half = 500;
  if (raise_descriptor_limit() < static_cast<long>(2 * half + 64))
    SKIP_OR_FAIL_IN_CI("RLIMIT_NOFILE too low for " << 2 * half << " clients");
  Room room = open_room(kProgram, {}, Stdin::null(), "", Stdout::file());
  ChatPeers peers(AF_INET, room.port, room.server);
  peers.connect(half);
  peers.connect_over(AF_INET6, half);
  const std::size_t count = peers.size();
  ASSERT_TRUE(peers.pump_until([&] {
    for (std::size_t i = 0; i < count; ++i)
      if (peers[i].lines.empty()) return false;
    return true;
  })) << "not every client was welcomed";
  std::map<std::string, std::string> said;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string& name = peers[i].name;
    EXPECT_EQ(peers[i].lines[0].rfind("* you are " + name + ", ", 0), 0u) << peers[i].lines[0];
    said[name] = "this is " + name + " speaking";
  }
  ASSERT_EQ(said.size(), count);
  for (std::size_t i = 0; i < count; ++i)
    peers.send(i, said[peers[i].name] + "\n");
  // Each client's chat lines, counted as they come.
  std::vector<std::size_t> chat(count, 0), scanned(count, 0);
  ASSERT_TRUE(peers.pump_until(
      [&] {
        bool all = true;
        for (std::size_t i = 0; i < count; ++i) {
          for (; scanned[i] < peers[i].lines.size(); ++scanned[i])
            chat[i] += peers[i].lines[scanned[i]].rfind("* ", 0) != 0;
          all = all && chat[i] >= count - 1;
        }
        return all;
      },
      Millis(60000)))
      << "some lines never arrived";
  EXPECT_EQ(missing_chat_lines(peers, said), "");
  EXPECT_TRUE(closes(room.server, peers));
  std::size_t on_screen = 0;
  for (const std::string& line : lines_of(room.server.stdout_text())) {
    const std::size_t end = line.find("> ");
    if (line.rfind("<", 0) != 0 || end == std::string::npos) continue;
    const auto expected = said.find(line.substr(1, end - 1));
    on_screen += expected != said.end() && line.substr(end + 2) == expected->second;
  }
  EXPECT_EQ(on_screen, count);
  EXPECT_EQ(last_line(room.server.stderr_text()), summary(count, count));
}

// 50 clients type a line one byte per segment, all at once, interleaved:
// each line reaches the others whole, never mixed with another.
TEST(Stage5Scale, FiftyClientsTypingOneByteAtATime) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t count = 50;
  peers.connect(count);
  ASSERT_TRUE(peers.pump_until([&] {
    for (std::size_t i = 0; i < count; ++i)
      if (peers[i].lines.empty()) return false;
    return true;
  }));
  std::map<std::string, std::string> said;
  std::size_t longest = 0;
  for (std::size_t i = 0; i < count; ++i) {
    said[peers[i].name] =
        "client " + std::to_string(i) + " types this, one byte at a time" + std::string(i % 7, '!');
    longest = std::max(longest, said[peers[i].name].size() + 1);
  }
  for (std::size_t at = 0; at < longest; ++at) {
    for (std::size_t i = 0; i < count; ++i) {
      const std::string line = said[peers[i].name] + "\n";
      if (at < line.size()) peers.send(i, line.substr(at, 1));
    }
    peers.pump(Millis(0));  // one byte from each, each in its own segment
    ASSERT_TRUE(peers.pump_until([&] {
      for (std::size_t i = 0; i < count; ++i)
        if (!peers[i].unsent.empty()) return false;
      return true;
    })) << "the room stopped taking bytes at byte "
        << at << "; its stderr:\n"
        << room.server.stderr_text();
    std::this_thread::sleep_for(Millis(1));  // let the server read them apart
  }
  ASSERT_TRUE(peers.pump_until([&] {
    for (std::size_t i = 0; i < count; ++i) {
      const Lines& lines = peers[i].lines;
      if (std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
            return line.rfind("<", 0) == 0;
          }) < static_cast<long>(count - 1))
        return false;
    }
    return true;
  }));
  EXPECT_EQ(missing_chat_lines(peers, said), "");
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(last_line(room.server.stderr_text()), summary(count, count));
}

// ------------------------------------------------------------------ signals

// SIGTERM or SIGINT: every client is told, then closed; exit 0; -v says
// why each left and counts exactly the clients let in and lines relayed.
class Stage5Signals : public ::testing::TestWithParam<int> {};

TEST_P(Stage5Signals, EveryClientIsToldAndTheCountsAreExact) {
  Room room = open_room(kProgram, {}, Stdin::pipe());
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  const std::size_t carol = join(peers);
  const std::string a = peers[alice].name, b = peers[bob].name, c = peers[carol].name;
  peers.send(alice, "one\n");
  ASSERT_TRUE(heard(peers, carol, "<" + a + "> one"));
  peers.send(bob, "two\nthree\n");
  ASSERT_TRUE(heard(peers, carol, "<" + b + "> three"));
  room.server.write_stdin("four\n");
  ASSERT_TRUE(heard(peers, carol, "<host> four"));
  ASSERT_TRUE(heard(peers, alice, "<host> four"));
  ASSERT_TRUE(heard(peers, bob, "<host> four"));
  room.server.send_signal(GetParam());
  ASSERT_TRUE(peers.pump_until(
      [&] { return peers[alice].ended && peers[bob].ended && peers[carol].ended; }));
  EXPECT_EQ(room.server.wait(), Exit::code(0));
  EXPECT_EQ(peers[alice].lines,
            (Lines{welcome(a, 0), "* " + b + " joined", "* " + c + " joined", "<" + b + "> two",
                   "<" + b + "> three", "<host> four", "* server closing"}));
  EXPECT_EQ(peers[bob].lines, (Lines{welcome(b, 1), "* " + c + " joined", "<" + a + "> one",
                                     "<host> four", "* server closing"}));
  EXPECT_EQ(peers[carol].lines, (Lines{welcome(c, 2), "<" + a + "> one", "<" + b + "> two",
                                       "<" + b + "> three", "<host> four", "* server closing"}));
  for (std::size_t i : {alice, bob, carol}) {
    EXPECT_EQ(peers[i].partial, "");
    EXPECT_EQ(peers[i].error, 0) << std::strerror(peers[i].error);
  }
  EXPECT_EQ(lines_of(room.server.stdout_text()),
            (Lines{"* " + a + " joined", "* " + b + " joined", "* " + c + " joined",
                   "<" + a + "> one", "<" + b + "> two", "<" + b + "> three", "* server closing"}));
  const std::string port = std::to_string(room.port);
  std::string expected = "listening on 127.0.0.1 port " + port + "\n";
  for (const std::string& name : {a, b, c})
    expected += "connection from 127.0.0.1 port " + port_of(name) + "\n";
  const Lines err = lines_of(room.server.stderr_text());
  ASSERT_EQ(err.size(), 8u) << room.server.stderr_text();
  EXPECT_EQ(room.server.stderr_text().substr(0, expected.size()), expected);
  // The order of the goodbyes is the server's own.
  Lines goodbyes(err.begin() + 4, err.begin() + 7);
  std::sort(goodbyes.begin(), goodbyes.end());
  Lines expected_goodbyes;
  for (const std::string& name : {a, b, c})
    expected_goodbyes.push_back("disconnected 127.0.0.1 port " + port_of(name) +
                                ": server closing");
  std::sort(expected_goodbyes.begin(), expected_goodbyes.end());
  EXPECT_EQ(goodbyes, expected_goodbyes);
  EXPECT_EQ(err.back() + "\n", summary(3, 4));
}

std::string signal_name(const ::testing::TestParamInfo<int>& signal) {
  return signal.param == SIGTERM ? "Sigterm" : "Sigint";
}

INSTANTIATE_TEST_SUITE_P(Signal, Stage5Signals, ::testing::Values(SIGTERM, SIGINT), signal_name);

// A client that reads nothing at the end cannot keep the room from closing:
// what it will take within a second is flushed, then it is closed.
TEST(Stage5Closing, AClientThatDoesNotReadDoesNotHoldTheClosingUp) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sleeper = join(peers, AF_INET, 4096);
  peers[sleeper].reading = false;
  const std::size_t sender = join(peers);
  const std::string s = peers[sender].name;
  // Lines of 1000 bytes, 64 at a time, until the kernel holds no more for
  // the sleeper (its send queue stops growing): the last 64 then wait in
  // the room's own queue for it, well under the 256 KiB that would drop it.
  long held = -1;
  for (int chunk = 0; chunk < 200; ++chunk) {
    std::string lines;
    for (int n = 0; n < 64; ++n) {
      lines += std::to_string(chunk) + "." + std::string(990, 'x') + "\n";
    }
    peers.send(sender, lines);
    ASSERT_TRUE(on_screen(room.server, peers,
                          "<" + s + "> " + std::to_string(chunk) + "." + std::string(990, 'x')));
    const long now = send_queue(room.port, peers[sleeper].port);
    ASSERT_GE(now, 0) << "no connection to the sleeper in /proc/net/tcp";
    if (now == held) break;
    held = now;
  }
  ASSERT_EQ(room.server.stderr_text().find("not reading"), std::string::npos);
  // The room must not wait for the sleeper beyond its second of goodbye.
  EXPECT_TRUE(closes(room.server, peers));
  ASSERT_TRUE(heard(peers, sender, "* server closing"));
  // It was still in the room, not dropped, when the room closed.
  EXPECT_NE(
      room.server.stderr_text().find("disconnected 127.0.0.1 port " +
                                     std::to_string(peers[sleeper].port) + ": server closing"),
      std::string::npos)
      << room.server.stderr_text();
}

// ---------------------------------------------------------- the host's screen

// The host's stdout is a pipe nobody reads for a while: the room stops
// reading from clients (TCP pushes back on the sender) instead of dropping
// the screen or growing without bound; once the screen is read again,
// everything arrives, everywhere, and nobody was dropped.
TEST(Stage5HostScreen, AScreenThatFallsBehindHoldsTheRoomBackAndLosesNothing) {
  // -r 0: the screen alone holds the sender back here.
  Room room = open_room(kProgram, {}, Stdin::null(), "127.0.0.1", Stdout::pipe());
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sender = join(peers);
  const std::size_t reader = join(peers);
  const std::string s = peers[sender].name;
  const std::size_t total = 8192;  // 8 MiB, far more than the pipe and the bounds hold
  const std::string text(1000, 'h');
  for (std::size_t n = 0; n < total; ++n)
    peers.send(sender, text + "\n");
  // Pump, without reading the screen, until nothing moves for 300 ms.
  std::size_t last = 0;
  for (int unchanged = 0, rounds = 0; unchanged < 30 && rounds < 3000; ++rounds) {
    peers.pump(Millis(10));
    unchanged = peers[reader].received == last ? unchanged + 1 : 0;
    last = peers[reader].received;
  }
  EXPECT_LT(peers[reader].lines.size(), 1 + total) << "the room did not wait for its screen";
  EXPECT_FALSE(peers[sender].unsent.empty()) << "the sender was never held back";
  // Read the screen again: everything flows. The screen is read only while
  // the reader keeps up with it: the room moves at the screen's pace, so a
  // screen read faster than this test's reader (one thread pumps both, and a
  // loaded machine may starve it) would fill the reader's queue and drop it.
  std::size_t screen = 0;
  ASSERT_TRUE(peers.pump_until(
      [&] {
        if (peers[reader].lines.size() + 64 >= screen) {
          screen = lines_of(room.server.wait_for_stdout(0, Millis(0))).size();
        }
        return peers[reader].lines.size() >= 1 + total && screen >= 2 + total;
      },
      Millis(60000)))
      << peers[reader].lines.size() << " lines at the reader, " << screen << " on the screen";
  EXPECT_TRUE(closes(room.server, peers));
  const Lines lines = lines_of(room.server.stdout_text());
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "<" + s + "> " + text),
            static_cast<long>(total));
  EXPECT_EQ(last_line(room.server.stderr_text()), summary(2, total));
}

// ---------------------------------------------------------------- found in review

// A paste of short lines: each becomes a longer line for every reader (its
// sender's name in front), far more than a reader's queue holds if all of
// it were queued in one pass. Readers that keep reading are not dropped.
TEST(Stage5SlowReaders, APasteOfShortLinesDropsNoReaderThatReads) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t paster = join(peers);
  const std::size_t first = join(peers);
  const std::size_t second = join(peers);
  ASSERT_TRUE(heard(peers, paster, "* " + peers[second].name + " joined"));
  const std::string p = peers[paster].name;
  std::string paste;
  for (int i = 0; i < 20000; ++i) {
    paste += "x\n";  // 40 KB, some 440 KB for each reader
  }
  peers.send(paster, paste + "end\n");
  for (std::size_t reader : {first, second}) {
    ASSERT_TRUE(heard(peers, reader, "<" + p + "> end"));
    EXPECT_EQ(std::count(peers[reader].lines.begin(), peers[reader].lines.end(), "<" + p + "> x"),
              20000);
  }
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(room.server.stderr_text().find("not reading"), std::string::npos)
      << room.server.stderr_text();
}

// ------------------------------------------------- second angles (issue 16)

// A client on 127.0.0.1 with a small receive buffer, read by hand, byte by
// byte if need be: it can stop anywhere, mid-line included.
Fd hand_read_client(int port) {
  Fd client(check(socket(AF_INET, SOCK_STREAM, 0), "socket"));
  int size = 4096;
  check(setsockopt(client.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size), "SO_RCVBUF");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  check(connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
        "connect");
  return client;
}

// Reads exactly `size` bytes from `fd`, or what came before `timeout`.
std::string read_exactly(int fd, std::size_t size, Millis timeout = kExitTimeout) {
  std::string data;
  const auto deadline = Clock::now() + timeout;
  while (data.size() < size && Clock::now() < deadline) {
    pollfd ready{fd, POLLIN, 0};
    if (poll(&ready, 1, 10) != 1) continue;
    char buffer[4096];
    const ssize_t got = read(fd, buffer, std::min(sizeof buffer, size - data.size()));
    if (got <= 0) break;
    data.append(buffer, static_cast<std::size_t>(got));
  }
  return data;
}

// A room of two: the sender, and a reader that stops in the middle of a
// line. Nobody else reads, so nothing else makes the room notice: its
// queue for the reader must. The reader is dropped; what it reads is a
// clean prefix of the conversation in whole lines (never a line skipped,
// mixed or cut), then why it was dropped, then the end of the stream; the
// sender and the screen go on.
TEST(Stage5SlowReaders, AReaderThatStopsMidLineInARoomOfTwoIsDropped) {
  Room room = open_room(kProgram);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t sender = join(peers);
  const std::string s = peers[sender].name;
  Fd reader = hand_read_client(room.port);
  const std::string r = "127.0.0.1:" + std::to_string(local_port(reader.get()));
  ASSERT_TRUE(heard(peers, sender, "* " + r + " joined"));

  // What the reader would read if it kept reading: its welcome, then each
  // flood line with the sender's name.
  auto flood_line = [](std::size_t n) {
    char head[48];
    std::snprintf(head, sizeof head, "flood line %08zu ", n);
    std::string line = head;
    line.resize(999, static_cast<char>('a' + n % 26));
    return line + "\n";
  };
  std::string expected = welcome(r, 1) + "\n";
  peers.send(sender, flood_line(0));
  expected += "<" + s + "> " + flood_line(0);
  ASSERT_TRUE(peers.pump_until([&] { return peers[sender].unsent.empty(); }));
  const std::size_t mid_line = welcome(r, 1).size() + 1 + 500;
  const std::string head = read_exactly(reader.get(), mid_line);
  ASSERT_EQ(head, expected.substr(0, mid_line)) << "the reader's welcome and the first line";

  // The reader stops there. The sender floods, at most 32 MiB, far past the
  // room's bound for one reader plus what the kernel holds for it.
  const std::size_t most = 32 << 10;
  std::size_t queued = 1;
  const std::string dropped = "* " + r + " dropped: not reading";
  std::string last = flood_line(most - 1);
  last.pop_back();
  const bool told = peers.pump_until(
      [&] {
        while (queued < most && peers[sender].unsent.size() < 65536) {
          peers.send(sender, flood_line(queued++));
        }
        if (peers.has_line(sender, dropped) || peers[sender].ended) return true;
        // All sent, and the room has read it all (the screen shows the last).
        return queued == most && peers[sender].unsent.empty() &&
               has_line(room.server.stdout_text(), "<" + s + "> " + last);
      },
      Millis(60000));
  ASSERT_TRUE(told && peers.has_line(sender, dropped))
      << r << " stopped reading mid-line; " << s << " then sent " << queued
      << " lines of 1000 bytes (" << (queued >> 10) << " MiB), and was never told "
      << ::testing::PrintToString(dropped) << "; it got:\n"
      << ::testing::PrintToString(peers[sender].lines) << "\nstage5-chat stderr:\n"
      << room.server.stderr_text();

  // The reader wakes up (within the room's two seconds of goodbye) to what
  // its kernel holds, the end of the line it held half of, and last, why it
  // was dropped: whole lines only, each where it belongs in the conversation.
  const std::string rest = receive_all(reader.get());
  std::string got = head + rest;
  const std::string notice = "* you were dropped: not reading\n";
  ASSERT_GT(got.size(), notice.size());
  EXPECT_EQ(got.substr(got.size() - notice.size()), notice)
      << "the dropped reader's last bytes: "
      << ::testing::PrintToString(got.substr(got.size() - 80));
  got.resize(got.size() - notice.size());
  EXPECT_EQ(got.back(), '\n') << "the dropped reader was left with half a line";
  for (std::size_t n = 1; expected.size() < got.size() && n < queued; ++n)
    expected += "<" + s + "> " + flood_line(n);
  EXPECT_LT(got.size(), std::size_t{16} << 20) << "bytes the dropped reader got";
  const std::size_t same = static_cast<std::size_t>(
      std::mismatch(got.begin(), got.end(), expected.begin(), expected.end()).first - got.begin());
  EXPECT_EQ(same, got.size()) << "the dropped reader got " << got.size() << " bytes; from byte "
                              << same << " on, not the conversation: "
                              << ::testing::PrintToString(got.substr(same, 80)) << " instead of "
                              << ::testing::PrintToString(expected.substr(same, 80));

  // The room goes on without it.
  peers.send(sender, "still here\n");
  EXPECT_TRUE(on_screen(room.server, peers, "<" + s + "> still here"));
  EXPECT_TRUE(closes(room.server, peers));
  const std::string err = room.server.stderr_text();
  EXPECT_TRUE(has_line(
      err, "disconnected 127.0.0.1 port " + port_of(r) + ": not reading (output queue full)"))
      << err;
}

// ---------------------------------------------------------------- without IPv6

// As in stages 1-4: without IPv6 (support/no_ipv6_shim.cpp), the default
// listens on 0.0.0.0, -v says why, and IPv4 clients get into the room.
// -6 and :: still failing: no_ipv6_test.cpp, for every stage.
class Stage5WithoutIPv6 : public ::testing::TestWithParam<const char*> {};

TEST_P(Stage5WithoutIPv6, DefaultListenFallsBackToIPv4) {
  const std::vector<std::string> env = without_ipv6(GetParam());
  if (env.empty()) SKIP_OR_FAIL_IN_CI("the no-IPv6 shim is built on Linux only");
  Room room = open_room(kProgram, {}, Stdin::null(), "", Stdout::file(), env);
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t alice = join(peers);
  room.server.send_signal(SIGTERM);
  ASSERT_EQ(room.server.wait(), Exit::code(0)) << room.server.stderr_text();
  EXPECT_EQ(room.server.stderr_text(),
            ipv4_fallback_line(GetParam()) + "listening on 0.0.0.0 port " +
                std::to_string(room.port) + "\nconnection from 127.0.0.1 port " +
                std::to_string(peers[alice].port) + "\ndisconnected 127.0.0.1 port " +
                std::to_string(peers[alice].port) + ": server closing\n" + summary(1, 0));
}

INSTANTIATE_TEST_SUITE_P(Shim, Stage5WithoutIPv6, ::testing::Values("socket", "v6only"));

}  // namespace
