// stage6_test.cpp: the built stage6-class hosting a room: what stage 6 adds
// (names, flood control, the host's /who and /kick, announcements for
// crowds of 10,000 that join and leave in storms), and, through
// room_tests.inc, every behaviour of stage 5, run against stage 6 too.
//
// The oracle is the stage 6 contract (what each party sees, word for word,
// and the -v lines). Only loopback is used, with ports the system chooses.
// No test asserts on elapsed time: where "no busy loop" must be shown, the
// server's CPU time is read from /proc instead. A server stopped with
// SIGSTOP (to let a storm pile up in its backlog) is always continued.
//
// See also: docs/stage6-class.md; support/rooms.hpp; room_tests.inc.

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

// What sets stage 6 apart in the tests both stages run (room_tests.inc).
const std::string kStage = "stage6-class";
const bool kNicks = true;
const std::vector<std::string> kUnpaced{"-r", "0"};
const std::string kUsage = "usage: stage6-class [-v] [-4|-6] [-m MAX] [-r RATE] -l [ADDRESS] PORT";
const std::vector<std::string> kOptionsHelped{"-m MAX", "-r RATE"};
const std::vector<RefusedCommandLine> kOwnUsageErrors = {
    {{"-r"}, "option -r needs a value"},
    {{"-r", "x", "-l", "0"}, "invalid rate \"x\": not a decimal number"},
    {{"-r", "", "-l", "0"}, "invalid rate \"\": empty"},
    {{"-r", "-1", "-l", "0"}, "invalid rate \"-1\": not a decimal number"},
    {{"-r", "2.5", "-l", "0"}, "invalid rate \"2.5\": not a decimal number"},
    {{"-r", "1000001", "-l", "0"}, "invalid rate \"1000001\": greater than 1000000"},
};
const std::string kInvalidNick = "* invalid nick: 1 to 32 letters, digits, '-', '_' or '.'";

// ---------------------------------------------------------------- helpers

// The welcome: NAME, how many others are here, and their names in the
// room's order while the line (" and N more" included) stays within 80
// columns; then the hint.
std::string welcome(const std::string& name, const Lines& here = {}) {
  std::string line = "* you are " + name + ", " + std::to_string(here.size()) +
                     (here.size() == 1 ? " other" : " others") + " here";
  std::size_t named = 0;
  for (const std::string& other : here) {
    const std::string more = (named == 0 ? ": " : ", ") + other;
    const std::size_t rest = here.size() - named - 1;
    const std::string tail = rest > 0 ? " and " + std::to_string(rest) + " more" : "";
    if (line.size() + more.size() + tail.size() > 80) break;
    line += more;
    ++named;
  }
  if (named < here.size()) line += " and " + std::to_string(here.size() - named) + " more";
  return line + "; /nick NAME changes your name";
}

#define STAGE_SUITE(name) Stage6##name
#include "room_tests.inc"

// ------------------------------------------------------------------- /nick

using Stage6Nick = RoomTest;

TEST_F(Stage6Nick, RenamingRulesAndWhoIsTold) {
  open(kProgram);
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  const std::string a = peers[alice].name, b = peers[bob].name;
  ASSERT_TRUE(heard(peers, alice, msg::joined(b)));

  peers.send(alice, "/nick alice\n");
  ASSERT_TRUE(heard(peers, bob, msg::renamed(a, "alice")));
  ASSERT_TRUE(heard(peers, alice, msg::renamed(a, "alice")));
  // Refused: the sender alone is told, and keeps its name.
  const std::string too_long(33, 'x');
  for (const std::string& nick :
       {std::string("alice"), std::string("bad name"), too_long, std::string(""),
        std::string("a/b"), std::string("caf\xc3\xa9")}) {
    SCOPED_TRACE(nick);
    const std::size_t before = peers[bob].lines.size();
    peers.send(bob, "/nick " + nick + "\n");
    ASSERT_TRUE(peers.wait_for_lines(bob, before + 1));
    EXPECT_EQ(peers[bob].lines.back(), nick == "alice" ? "* nick alice is taken" : kInvalidNick);
  }
  // "host" is the host's: refused (the contract does not say with which of
  // the two answers, so either is right).
  const std::size_t before = peers[bob].lines.size();
  peers.send(bob, "/nick host\n");
  ASSERT_TRUE(peers.wait_for_lines(bob, before + 1));
  EXPECT_TRUE(peers[bob].lines.back() == "* nick host is taken" ||
              peers[bob].lines.back() == kInvalidNick)
      << peers[bob].lines.back();
  // 32 characters from the whole alphabet, CRLF ended: accepted.
  const std::string longest = "Az09_.-bcdefghijklmnopqrstuvwxyz";
  ASSERT_EQ(longest.size(), 32u);
  peers.send(bob, "/nick " + longest + "\r\n");
  ASSERT_TRUE(heard(peers, alice, msg::renamed(b, longest)));
  // Other "/" lines are text; a name set free can be taken.
  peers.send(alice, "/me waves\n/nickname x\n/nick alice2\n");
  ASSERT_TRUE(heard(peers, bob, "* alice is now alice2"));
  peers.send(bob, "/nick alice\n");
  ASSERT_TRUE(heard(peers, alice, msg::renamed(longest, "alice")));
  peers.send(alice, "hi\n");
  ASSERT_TRUE(heard(peers, bob, msg::said("alice2", "hi")));
  peers.close(alice);
  ASSERT_TRUE(heard(peers, bob, msg::left("alice2")));
  EXPECT_TRUE(closes(room.server, peers));

  EXPECT_EQ(peers[alice].lines,
            (Lines{welcome(a), msg::joined(b), msg::renamed(a, "alice"), msg::renamed(b, longest),
                   "* alice is now alice2", msg::renamed(longest, "alice")}));
  Lines at_bob{welcome(b, {a}), msg::renamed(a, "alice"), "* nick alice is taken"};
  for (int invalid = 0; invalid < 5; ++invalid)
    at_bob.push_back(kInvalidNick);
  at_bob.push_back(peers[bob].lines.at(at_bob.size()));  // the answer to "host", checked above
  for (const std::string& line :
       {msg::renamed(b, longest), std::string("<alice> /me waves"),
        std::string("<alice> /nickname x"), std::string("* alice is now alice2"),
        msg::renamed(longest, "alice"), msg::said("alice2", "hi"), msg::left("alice2"),
        msg::kServerClosing}) {
    at_bob.push_back(line);
  }
  EXPECT_EQ(peers[bob].lines, at_bob);
  EXPECT_EQ(lines_of(room.server.stdout_text()),
            (Lines{msg::joined(a), msg::joined(b), msg::renamed(a, "alice"),
                   msg::renamed(b, longest), "<alice> /me waves", "<alice> /nickname x",
                   "* alice is now alice2", msg::renamed(longest, "alice"),
                   msg::said("alice2", "hi"), msg::left("alice2"), msg::kServerClosing}));
}

// ------------------------------------------------------------------ scale

// 10,000 clients join in storms, then all leave at once, while one client
// that was there before watches: it is told in a few "* K clients joined"
// and "* K clients left" lines (not 10,000 each), their counts add up, and
// the room still serves newcomers afterwards. The server is paused while
// each storm gathers in its backlog, so that it meets the storm at once.
TEST_F(Stage6Scale, TenThousandJoinAndLeaveInStorms) {
  const long limit = raise_descriptor_limit();
  const std::size_t storm = std::min<std::size_t>(10000, limit > 200 ? limit - 200 : 0);
  if (storm < 10000) SKIP_OR_FAIL_IN_CI("RLIMIT_NOFILE " << limit << " is too low for 10,000");
  std::ifstream somaxconn_file("/proc/sys/net/core/somaxconn");
  std::size_t somaxconn = 128;
  somaxconn_file >> somaxconn;
  const std::size_t batch = std::max<std::size_t>(16, std::min<std::size_t>(1000, somaxconn / 2));
  std::printf("%zu clients, in batches of %zu\n", storm, batch);

  open(kProgram);
  const std::size_t watcher = join(peers);
  while (peers.size() - 1 < storm) {
    const std::size_t first = peers.size();
    const std::size_t n = std::min(batch, storm - (first - 1));
    Paused paused(room.server);
    peers.connect(n);
    ASSERT_TRUE(pump_until_all(peers, first, [&](std::size_t i) { return peers[i].connected; }))
        << "connections did not complete while the server was paused";
    paused.resume();
    ASSERT_TRUE(pump_until_all(peers, first, [&](std::size_t i) {
      return !peers[i].lines.empty();
    })) << "a batch was not welcomed";
  }
  for (std::size_t i = 1; i < peers.size(); ++i) {
    const Lines& lines = peers[i].lines;
    ASSERT_EQ(lines[0].rfind("* you are " + peers[i].name + ", ", 0), 0u) << lines[0];
  }
  auto count_announced = [&](const std::string& verb, std::size_t* lines) {
    std::size_t clients = 0;
    *lines = 0;
    for (const std::string& line : peers[watcher].lines) {
      const std::size_t n = announced(line, verb);
      clients += n;
      *lines += n > 0;
    }
    return clients;
  };
  std::size_t join_lines = 0;
  ASSERT_TRUE(peers.pump_until([&] { return count_announced("joined", &join_lines) >= storm; }));
  EXPECT_EQ(count_announced("joined", &join_lines), storm);
  std::printf("%zu joins announced in %zu lines\n", storm, join_lines);
  EXPECT_LE(join_lines, storm / 8) << "joins were announced one by one";

  {
    Paused paused(room.server);
    for (std::size_t i = 1; i < peers.size(); ++i)
      peers.close(i);
  }
  std::size_t leave_lines = 0;
  ASSERT_TRUE(peers.pump_until([&] { return count_announced("left", &leave_lines) >= storm; }))
      << count_announced("left", &leave_lines) << " departures announced";
  EXPECT_EQ(count_announced("left", &leave_lines), storm);
  std::printf("%zu departures announced in %zu lines\n", storm, leave_lines);
  EXPECT_LE(leave_lines, storm / 8) << "departures were announced one by one";

  // Still serving: two newcomers talk, the watcher and the screen hear it.
  const std::size_t one = join(peers);
  EXPECT_EQ(peers[one].lines, Lines{welcome(peers[one].name, {peers[0].name})});
  const std::size_t two = join(peers);
  peers.send(one, "after the storm\n");
  ASSERT_TRUE(heard(peers, two, msg::said(peers[one].name, "after the storm")));
  ASSERT_TRUE(heard(peers, watcher, msg::said(peers[one].name, "after the storm")));
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(last_line(room.server.stderr_text()), summary(storm + 3, 1));
  std::size_t screen_joins = 0, screen_leaves = 0;
  for (const std::string& line : lines_of(room.server.stdout_text())) {
    screen_joins += announced(line, "joined");
    screen_leaves += announced(line, "left");
  }
  EXPECT_EQ(screen_joins, storm + 3);
  EXPECT_EQ(screen_leaves, storm);
}

// ------------------------------------------------------------ flood control

// "flood line 0007": numbered, so that a line lost, doubled or out of
// order shows.
std::string numbered(std::size_t n) {
  char text[32];
  std::snprintf(text, sizeof text, "flood line %04zu", n);
  return text;
}

// Lines 0 to count-1, each with its "\n", as one paste.
std::string numbered_lines(std::size_t count) {
  std::string paste;
  for (std::size_t n = 0; n < count; ++n)
    paste += numbered(n) + "\n";
  return paste;
}

// "" when `said` is numbered(0), numbered(1), ... numbered(count - 1),
// else where it first differs.
std::string unlike_numbered(const Lines& said, std::size_t count) {
  for (std::size_t n = 0; n < std::min(said.size(), count); ++n) {
    if (said[n] != numbered(n))
      return "line " + std::to_string(n) + " is " + ::testing::PrintToString(said[n]) +
             ", expected " + numbered(n);
  }
  if (said.size() != count)
    return std::to_string(said.size()) + " lines, expected " + std::to_string(count);
  return "";
}

// What `yes` prints: `count` lines of "y".
std::string yes_lines(std::size_t count) {
  std::string text;
  for (std::size_t n = 0; n < count; ++n)
    text += "y\n";
  return text;
}

// `yes | nc` from client `flooder` for `how_long`: 32 KiB of "y" lines kept
// queued, so that its kernel's buffers and the room's inbox for it fill.
void flood_with_yes(ChatPeers& peers, std::size_t flooder, Millis how_long) {
  const std::string yes = yes_lines(1 << 15);
  const auto start = Clock::now();
  peers.pump_until(
      [&] {
        if (peers[flooder].unsent.size() < yes.size()) peers.send(flooder, yes);
        return Clock::now() - start > how_long;
      },
      how_long + Millis(3000));
}

// The notice comes with the first line over the burst, within milliseconds;
// 5 s leaves room for a slow machine, and a room that never holds a flooder
// (a copy without flood control) fails in 5 s instead of 20.
constexpr Millis kNoticeTimeout{5000};

using Stage6Flood = RoomTest;

// -r 100: a paste of 300 lines, then the end of the sender's stream (as
// nc -N sends). They go out 50 at once (the burst), then 100 a second
// (2.5 s): at any instant t after the paste, at most 50 + 100 t lines have
// arrived (a slow machine only makes it fewer). All 300 arrive, in order,
// once each, then the sender's departure; nobody is dropped. The first
// read takes most of the paste (4 KiB), so lines the room already holds
// are paced too, and so are those it reads while it holds them.
TEST_F(Stage6Flood, APasteAtAHundredLinesASecondIsPacedInOrderLosingNothing) {
  open(kProgram, {"-r", "100"});
  const std::size_t sender = join(peers);
  const std::size_t reader = join(peers);
  const std::string s = peers[sender].name, r = peers[reader].name;
  ASSERT_TRUE(heard(peers, sender, msg::joined(r)));
  const std::size_t total = 300;
  const double burst = 50, rate = 100;
  const auto start = Clock::now();
  peers.send(sender, numbered_lines(total));
  peers.shutdown_write(sender);
  std::size_t arrived = 0;
  std::string ahead;  // the first time more had arrived than the rate lets through
  const bool all = peers.pump_until(
      [&] {
        arrived = said_by(peers[reader].lines, s).size();
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        // +2: a token that was due a moment ago, and rounding.
        if (ahead.empty() && static_cast<double>(arrived) > burst + rate * seconds + 2) {
          ahead = std::to_string(arrived) + " lines " + std::to_string(seconds) +
                  " s after the paste, where at most " +
                  std::to_string(static_cast<int>(burst + rate * seconds)) + " may have";
        }
        return peers.has_line(reader, msg::left(s));
      },
      Millis(60000));
  EXPECT_EQ(ahead, "") << "not paced to -r 100: 100 lines a second after a burst of 50";
  ASSERT_TRUE(all) << arrived << " of " << total << " lines arrived, and no departure";
  EXPECT_EQ(unlike_numbered(said_by(peers[reader].lines, s), total), "");
  EXPECT_EQ(peers[reader].lines.size(), 1 + total + 1) << "the welcome, the paste, the departure";
  EXPECT_EQ(peers[reader].lines.back(), msg::left(s));
  EXPECT_EQ(peers[sender].lines, (Lines{welcome(s), msg::joined(r), msg::you_are_too_fast("100")}));
  EXPECT_TRUE(closes(room.server, peers));
  const Lines screen = lines_of(room.server.stdout_text());
  EXPECT_EQ(unlike_numbered(said_by(screen, s), total), "");
  EXPECT_EQ(std::count(screen.begin(), screen.end(), msg::too_fast(s, "100")), 1)
      << room.server.stdout_text().substr(0, 2000);
  const std::string err = room.server.stderr_text();
  EXPECT_EQ(err.find("not reading"), std::string::npos) << err;
  EXPECT_EQ(last_line(err), summary(2, total));
}

// While one client's paste is held back (it would take 12 s at -r 20),
// another client's line goes through at once: the room reads every other
// client as usual.
TEST_F(Stage6Flood, AnotherClientIsHeardDuringAFlood) {
  open(kProgram, {"-r", "20"});
  const std::size_t flooder = join(peers);
  const std::size_t reader = join(peers);
  const std::size_t talker = join(peers);
  const std::string f = peers[flooder].name, t = peers[talker].name;
  ASSERT_TRUE(heard(peers, reader, msg::joined(t)));
  const std::size_t total = 300;
  peers.send(flooder, numbered_lines(total));
  ASSERT_TRUE(on_screen(room.server, peers, msg::too_fast(f, "20"), kNoticeTimeout));
  peers.send(talker, "excuse me\n");
  EXPECT_TRUE(peers.pump_until([&] { return peers.has_line(reader, msg::said(t, "excuse me")); },
                               Millis(5000)))
      << "another client's line waited over 5 s behind a flood; the reader got "
      << said_by(peers[reader].lines, f).size() << " of its " << total << " lines";
  EXPECT_FALSE(peers.has_line(reader, msg::said(f, numbered(total - 1))))
      << "the whole flood arrived: it was not held back";
  ASSERT_TRUE(on_screen(room.server, peers, msg::said(t, "excuse me")));
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(room.server.stderr_text().find("not reading"), std::string::npos)
      << room.server.stderr_text();
}

// The host's keyboard is never limited: 300 lines typed (pasted) on stdin
// reach a client at once, even at -r 1, which would take over 4 minutes
// to let them through.
TEST_F(Stage6Flood, TheHostIsNeverHeldBack) {
  open(kProgram, {"-r", "1"}, Stdin::pipe());
  const std::size_t reader = join(peers);
  const std::size_t total = 300;
  room.server.write_stdin(numbered_lines(total));
  EXPECT_TRUE(peers.pump_until([&] { return said_by(peers[reader].lines, "host").size() >= total; },
                               Millis(30000)))
      << "after 30 s the reader had " << said_by(peers[reader].lines, "host").size() << " of the "
      << total << " lines the host typed";
  EXPECT_EQ(unlike_numbered(said_by(peers[reader].lines, "host"), total), "");
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(room.server.stdout_text().find("sending too fast"), std::string::npos)
      << room.server.stdout_text();
}

// -r 0: no limit. 1,000 lines reach the reader at once, where the default
// rate would take over three minutes; nobody is told of sending too fast.
TEST_F(Stage6Flood, RateZeroLetsAFloodThrough) {
  open(kProgram, {"-r", "0"});
  const std::size_t sender = join(peers);
  const std::size_t reader = join(peers);
  const std::string s = peers[sender].name;
  const std::size_t total = 1000;
  peers.send(sender, numbered_lines(total));
  EXPECT_TRUE(peers.pump_until([&] { return said_by(peers[reader].lines, s).size() >= total; },
                               Millis(30000)))
      << "after 30 s the reader had " << said_by(peers[reader].lines, s).size() << " of " << total
      << " lines";
  EXPECT_EQ(unlike_numbered(said_by(peers[reader].lines, s), total), "");
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_EQ(room.server.stdout_text().find("sending too fast"), std::string::npos);
  EXPECT_EQ(peers[sender].lines,
            (Lines{welcome(s), msg::joined(peers[reader].name), msg::kServerClosing}));
}

// `yes | nc` for three seconds at the default rate: the room reads the
// flooder only as fast as it relays its lines, so the rest waits in TCP
// (the flooder's own buffers fill and it is made to wait), the room's
// memory stays small, and it sleeps between lines (poll() times out when
// the next one is due) instead of spinning.
TEST_F(Stage6Flood, AYesFloodForSecondsKeepsTheRoomSmall) {
  // As in the slow reader's test: a small quarantine, so that the bound
  // measures the program under AddressSanitizer too.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string quarantine =
      "ASAN_OPTIONS=" + std::string(asan && *asan ? std::string(asan) + ":" : "") +
      "quarantine_size_mb=1";
  open(kProgram, {}, Stdin::null(), "127.0.0.1", Stdout::file(), {quarantine});
  const std::size_t flooder = join(peers);
  const std::size_t reader = join(peers);
  const std::string f = peers[flooder].name;
  const std::string yes = yes_lines(1 << 19);  // 1 MiB: far more than the room takes
  long peak = 0;
  std::size_t offered = 0, taken_halfway = 0;
  const long cpu_before = cpu_ticks(room.server.pid());
  const auto start = Clock::now();
  peers.pump_until(
      [&] {
        if (peers[flooder].unsent.size() < yes.size()) {
          peers.send(flooder, yes);
          offered += yes.size();
        }
        peak = std::max(peak, peak_rss_kib(room.server.pid()));
        if (taken_halfway == 0 && Clock::now() - start > Millis(1500))
          taken_halfway = peers[flooder].sent;
        return Clock::now() - start > Millis(3000);
      },
      Millis(10000));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const long cpu = cpu_ticks(room.server.pid()) - cpu_before;
  peak = std::max(peak, peak_rss_kib(room.server.pid()));
  const std::size_t relayed = said_by(peers[reader].lines, f).size();
  std::printf(
      "a yes flood for %.1f s: %zu MiB offered, %zu KiB taken by the kernel (%zu in the last "
      "1.5 s), %zu lines relayed; peak RSS %ld KiB, CPU %ld ticks of 1/%ld s\n",
      seconds, offered >> 20, peers[flooder].sent >> 10, peers[flooder].sent - taken_halfway,
      relayed, peak, cpu, sysconf(_SC_CLK_TCK));
  RecordProperty("peak_rss_kib", static_cast<int>(peak));
  EXPECT_GT(peak, 0) << "no sample of /proc/PID/status";
  EXPECT_LT(peak, 32 * 1024) << "KiB";
  EXPECT_LE(cpu, sysconf(_SC_CLK_TCK) / 2) << "clock ticks of CPU: a busy loop while holding back";
  EXPECT_LE(static_cast<double>(relayed), 50 + 5 * seconds + 2) << "not paced";
  EXPECT_FALSE(peers[flooder].unsent.empty()) << "the flooder was never made to wait";
  // Once the kernels' buffers are full (well within the first 1.5 s), the
  // flooder's kernel takes a few bytes a second: what the room relays.
  EXPECT_LT(peers[flooder].sent - taken_halfway, std::size_t{1} << 20)
      << "bytes taken from the flooder in the last 1.5 s: the room kept reading it";
  ASSERT_TRUE(on_screen(room.server, peers, msg::too_fast(f, "5"), kNoticeTimeout));
  EXPECT_TRUE(closes(room.server, peers));
}

// A flooder held back (its inbox full: 4 KiB of "y", 2,048 lines) that
// resets its connection (Ctrl-C on `yes | nc` may end so): the room hears
// of it at its next write, the reader's line here. Its held lines are
// dropped with it, as its kernel dropped the rest; none goes out at once.
// At any instant t after the flood began, the reader has had at most the
// burst, 50, plus 5 t of its lines; -v says how many were not relayed.
TEST_F(Stage6Flood, AFlooderThatResetsTakesItsHeldLinesWithIt) {
  open(kProgram);
  const std::size_t flooder = join(peers);
  const std::size_t reader = join(peers);
  const std::string f = peers[flooder].name;
  const auto start = Clock::now();
  auto most_allowed = [&] {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return 50 + 5 * seconds + 3;  // +3: a token due a moment ago, and rounding
  };
  flood_with_yes(peers, flooder, Millis(2000));
  ASSERT_TRUE(on_screen(room.server, peers, msg::too_fast(f, "5"), kNoticeTimeout));
  peers.reset(flooder);
  peers.send(reader, "hi\n");
  std::string ahead;
  const bool left = peers.pump_until(
      [&] {
        const std::size_t got = said_by(peers[reader].lines, f).size();
        if (ahead.empty() && static_cast<double>(got) > most_allowed())
          ahead = std::to_string(got) + " of its lines, where at most " +
                  std::to_string(static_cast<int>(most_allowed())) + " may have come";
        return peers.has_line(reader, msg::left(f, "Connection reset by peer")) ||
               peers.has_line(reader, msg::left(f, "Broken pipe"));
      },
      Millis(10000));
  peers.pump_until([] { return false; }, Millis(1000));  // lines relayed late come now
  const std::size_t got = said_by(peers[reader].lines, f).size();
  EXPECT_EQ(ahead, "") << "the flooder's held lines went out when it left";
  EXPECT_LE(static_cast<double>(got), most_allowed())
      << "the flooder's lines the reader got, and the most it may";
  EXPECT_TRUE(left) << "the reader was never told the flooder left; its last line: "
                    << (peers[reader].lines.empty() ? "" : peers[reader].lines.back());
  EXPECT_TRUE(closes(room.server, peers));
  const std::string err = room.server.stderr_text();
  const std::regex departure("disconnected 127\\.0\\.0\\.1 port " + port_of(f) +
                             ": [^\n]*, ([0-9]+) lines over the rate not relayed\n");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(err, match, departure)) << err;
  EXPECT_GT(std::stoul(match[1]), 1000u) << "a held inbox of 4 KiB of y holds about 2,000 lines";
}

// The same reset with nobody else speaking: the room does not read a held
// client, but still watches it for a reset (poll() reports POLLHUP and
// POLLERR unasked), so the flooder is seen out at once, not when its turn
// to be read comes (400 s of held lines later) or a minute has passed.
TEST_F(Stage6Flood, AHeldFlooderThatResetsIsSeenOutAtOnce) {
  open(kProgram);
  const std::size_t flooder = join(peers);
  const std::size_t reader = join(peers);
  const std::string f = peers[flooder].name;
  const auto start = Clock::now();
  flood_with_yes(peers, flooder, Millis(1000));
  ASSERT_TRUE(on_screen(room.server, peers, msg::too_fast(f, "5"), kNoticeTimeout));
  peers.reset(flooder);
  const std::string left = msg::left(f, "Connection reset by peer");
  EXPECT_TRUE(peers.pump_until([&] { return peers.has_line(reader, left); }, Millis(5000)))
      << "5 s after the flooder's reset, the reader had not read " << left << "; it had "
      << said_by(peers[reader].lines, f).size() << " of its lines";
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_LE(static_cast<double>(said_by(peers[reader].lines, f).size()), 50 + 5 * seconds + 3)
      << "the flooder's lines the reader got, and the most it may";
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_NE(room.server.stderr_text().find("disconnected 127.0.0.1 port " + port_of(f) +
                                           ": Connection reset by peer, "),
            std::string::npos)
      << room.server.stderr_text();
}

// ---------------------------------------------------------------- found in review

// A line already sent in pieces ends as words, however TCP cut it: its
// tail is never a command, and the CR before its LF is dropped even when
// the LF comes in a later read.
TEST_F(Stage6LongLines, TheTailOfALongLineIsWordsAndItsCrIsDropped) {
  open(kProgram);
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  ASSERT_TRUE(heard(peers, sender, msg::joined(peers[receiver].name)));
  const std::string s = peers[sender].name;
  const std::string x(4096, 'x'), z(4096, 'z');
  auto apart = [&] { peers.pump_until([] { return false; }, Millis(100)); };  // separate reads
  peers.send(sender, x + "/");
  ASSERT_TRUE(heard(peers, receiver, msg::said(s, x)));
  peers.send(sender, "nick mallory\n");
  ASSERT_TRUE(heard(peers, receiver, msg::said(s, "/nick mallory")));
  peers.send(sender, z + "\r");
  apart();
  peers.send(sender, "\nlast\n");
  ASSERT_TRUE(heard(peers, receiver, msg::said(s, "last")));
  EXPECT_EQ(Lines(peers[receiver].lines.begin() + 1, peers[receiver].lines.end()),
            (Lines{msg::said(s, x), msg::said(s, "/nick mallory"), msg::said(s, z),
                   msg::said(s, "last")}));
  EXPECT_TRUE(closes(room.server, peers));
}

// Alice and alice would look like one person; HOST like the host.
TEST_F(Stage6Nick, NamesThatDifferOnlyInCaseAreTaken) {
  open(kProgram);
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  const std::string a = peers[alice].name;
  peers.send(alice, "/nick Alice\n");
  ASSERT_TRUE(heard(peers, bob, msg::renamed(a, "Alice")));
  peers.send(bob, "/nick alice\n/nick HOST\n");
  ASSERT_TRUE(heard(peers, bob, "* nick HOST is taken"));
  EXPECT_TRUE(peers.has_line(bob, "* nick alice is taken"));
  peers.send(alice, "/nick ALICE\n");  // one's own name, another case: fine
  ASSERT_TRUE(heard(peers, bob, "* Alice is now ALICE"));
  EXPECT_TRUE(closes(room.server, peers));
}

// A name is 1 to 32 letters, digits, '-', '_' or '.': no escape sequence,
// no byte past ASCII, ever reaches a screen as a name.
TEST_F(Stage6Nick, NicksTakeNoControlCharacters) {
  open(kProgram);
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name;
  ASSERT_TRUE(peers.pump_until([&] { return peers[sender].lines.size() == 2; }));  // the join
  for (const std::string nick : {"\x1b[31mred", "bell\x07", "del\x7f", "csi\xc2\x9b", "ev\xc3\xa9"})
    peers.send(sender, "/nick " + nick + "\n");
  peers.send(sender, "after\n");
  ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(receiver, msg::said(s, "after")); }));
  EXPECT_EQ(Lines(peers[sender].lines.begin() + 1, peers[sender].lines.end()),
            (Lines{msg::joined(peers[receiver].name), kInvalidNick, kInvalidNick, kInvalidNick,
                   kInvalidNick, kInvalidNick}));
  EXPECT_EQ(Lines(peers[receiver].lines.begin() + 1, peers[receiver].lines.end()),
            (Lines{msg::said(s, "after")}));
  EXPECT_TRUE(closes(room.server, peers));
}

using Stage6Crowds = RoomTest;

// Joins told together: up to three are named, more are counted, and each
// goes only to those who were in the room before it: nobody hears of its
// own arrival, nor of those before it, which its welcome counted.
TEST_F(Stage6Crowds, ThreeJoinsAreNamedFourAreCounted) {
  open(kProgram);
  const std::size_t watcher = join(peers);
  // Clients arrive while the room is stopped, so it lets them all in in
  // one pass when it goes on.
  auto arrive = [&](std::size_t n) {
    Paused paused(room.server);
    const std::size_t first = peers.connect(n);
    EXPECT_TRUE(pump_until_all(peers, first, [&](std::size_t i) { return peers[i].connected; }));
    return first;
  };
  const std::size_t three = arrive(3);
  for (std::size_t i = three; i < three + 3; ++i) {
    ASSERT_TRUE(heard(peers, watcher, msg::joined(peers[i].name)));
  }
  const std::size_t four = arrive(4);
  for (std::size_t i : {watcher, three, three + 1, three + 2}) {
    ASSERT_TRUE(heard(peers, i, "* 4 clients joined"));
  }
  peers.send(watcher, "all here?\n");
  for (std::size_t i = three; i < peers.size(); ++i) {
    ASSERT_TRUE(heard(peers, i, msg::said(peers[watcher].name, "all here?")));
  }
  EXPECT_EQ(peers[watcher].lines.size(), 1 + 3 + 1u);  // welcome, 3 named, 1 counted
  for (std::size_t i = three; i < three + 3; ++i) {
    SCOPED_TRACE(peers[i].name);
    Lines before;
    for (std::size_t earlier = 0; earlier < i; ++earlier)
      before.push_back(peers[earlier].name);
    Lines expected{welcome(peers[i].name, before)};
    for (std::size_t later = i + 1; later < three + 3; ++later) {
      expected.push_back(msg::joined(peers[later].name));
    }
    expected.push_back("* 4 clients joined");
    expected.push_back(msg::said(peers[watcher].name, "all here?"));
    EXPECT_EQ(peers[i].lines, expected);
  }
  for (std::size_t i = four; i < four + 4; ++i) {
    SCOPED_TRACE(peers[i].name);
    Lines before;
    for (std::size_t earlier = 0; earlier < i; ++earlier)
      before.push_back(peers[earlier].name);
    // Told of the counted joins after its own, in its first news.
    Lines expected{welcome(peers[i].name, before)};
    const std::size_t after = four + 4 - i - 1;
    if (after > 0) {
      expected.push_back("* " + std::to_string(after) + (after == 1 ? " client" : " clients") +
                         " joined");
    }
    expected.push_back(msg::said(peers[watcher].name, "all here?"));
    EXPECT_EQ(peers[i].lines, expected);
  }
  EXPECT_TRUE(closes(room.server, peers));
}

// Joins and leaves wait for the next broadcast (or a second), and go out
// before it: nobody hears a new name before hearing it came in. A leave
// is told to those who were there, not to whoever comes in after it.
TEST_F(Stage6Crowds, NewsGoesOutBeforeTheNextBroadcastAndOnlyToThoseThere) {
  open(kProgram);
  const std::size_t watcher = join(peers);
  const std::size_t carol = join(peers);
  const std::string c = peers[carol].name;
  peers.send(carol, "/nick carol\n");  // tells "* C joined" first, then waits a second
  ASSERT_TRUE(heard(peers, watcher, msg::renamed(c, "carol")));
  // Within that second, most likely: Bob comes and goes, then Dave comes.
  const std::size_t bob = join(peers);
  const std::string b = peers[bob].name;
  peers.close(bob);
  ASSERT_TRUE(room.server.wait_for_stderr("disconnected 127.0.0.1 port " +
                                          std::to_string(peers[bob].port) + ": end of stream\n"));
  const std::size_t dave = join(peers);
  const std::string d = peers[dave].name;
  peers.send(carol, "hello\n");
  ASSERT_TRUE(heard(peers, dave, "<carol> hello"));
  ASSERT_TRUE(heard(peers, watcher, "<carol> hello"));
  const Lines& seen = peers[watcher].lines;
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_EQ(Lines(seen.begin(), seen.begin() + 3),
            (Lines{welcome(peers[watcher].name), msg::joined(c), msg::renamed(c, "carol")}));
  // Bob's leave and Dave's join went out together (joins first) or a
  // second apart: either way, before Carol's line.
  const Lines together{msg::joined(b), msg::joined(d), msg::left(b)};
  const Lines apart{msg::joined(b), msg::left(b), msg::joined(d)};
  const Lines news(seen.begin() + 3, seen.begin() + 6);
  EXPECT_TRUE(news == together || news == apart) << ::testing::PrintToString(news);
  EXPECT_EQ(seen[6], "<carol> hello");
  // Dave came after Bob left: he hears of neither.
  EXPECT_EQ(peers[dave].lines,
            (Lines{welcome(d, {peers[watcher].name, "carol"}), "<carol> hello"}));
  EXPECT_TRUE(closes(room.server, peers));
}

// A storm of joins, told by the bytes each client receives: 200 clients
// come in at once; each client, those already there and those in the storm,
// receives its welcome, a few bytes of news at most, then the next line.
// Named one by one, the storm would cost the first arrivals 200 lines each,
// and the room some 200 x 200 / 2 lines in all.
TEST_F(Stage6Crowds, AStormOfJoinsCostsEachClientAFewBytes) {
  const std::size_t storm = 200;
  if (raise_descriptor_limit() < static_cast<long>(storm + 64))
    SKIP_OR_FAIL_IN_CI("RLIMIT_NOFILE too low for " << storm << " clients");
  open(kProgram, {}, Stdin::pipe());
  const std::size_t watcher = join(peers);
  {
    // They wait in the backlog while the room is stopped: it lets them all
    // in in one pass when it goes on.
    Paused paused(room.server);
    peers.connect(storm);
    ASSERT_TRUE(pump_until_all(peers, 0, [&](std::size_t i) { return peers[i].connected; }))
        << "connections did not complete while the room was paused";
  }
  ASSERT_TRUE(pump_until_all(peers, 0, [&](std::size_t i) { return !peers[i].lines.empty(); }))
      << "not every client was welcomed";
  // The host's next line: news not told yet goes out before it.
  room.server.write_stdin("storm over\n");
  const std::string next = "<host> storm over";
  ASSERT_TRUE(pump_until_all(peers, 0, [&](std::size_t i) { return peers.has_line(i, next); }))
      << "the host's line did not reach everyone";

  // Named, three joins would be some 80 bytes: room for them, or a count.
  const std::size_t few = 128;
  std::size_t over = 0, news_total = 0;
  std::string examples;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const ChatPeer& peer = peers[i];
    const std::size_t news = peer.received - (peer.lines[0].size() + 1) - (next.size() + 1);
    news_total += news;
    if (news <= few) continue;
    if (++over <= 3) {
      examples += "\n  " + peer.name + (i == watcher ? " (there before)" : "") + ": " +
                  std::to_string(news) + " bytes in " + std::to_string(peer.lines.size() - 2) +
                  " lines, from " + ::testing::PrintToString(peer.lines[1]);
    }
  }
  std::printf("%zu joins cost %zu bytes of news to %zu clients\n", storm, news_total, peers.size());
  EXPECT_EQ(over, 0u) << over << " of " << peers.size() << " clients received more than " << few
                      << " bytes of news (besides their welcome and the host's next line) for "
                      << storm << " joins at once:" << examples;
  EXPECT_TRUE(closes(room.server, peers));
}

// ------------------------------------------------------------ the instructor

using Stage6Host = RoomTest;

// The host's "/" lines are commands, answered on the host's screen only,
// never relayed: /who (every client: its name, address, time here, lines
// sent, state), /help, an unknown command's one-line error, and /kick,
// which tells the client why, closes it and tells the room.
TEST_F(Stage6Host, WhoHelpAndKickFromTheHostsKeyboard) {
  open(kProgram, {}, Stdin::pipe());
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  const std::string a = peers[alice].name, b = peers[bob].name;
  peers.send(alice, "/nick alice\nhello\n");
  ASSERT_TRUE(heard(peers, bob, "<alice> hello"));

  room.server.write_stdin("/who\n/help\n/nope x\n");
  ASSERT_TRUE(on_screen(room.server, peers, "* unknown command /nope: /help lists the commands"));
  const std::string screen = room.server.stdout_text();
  EXPECT_TRUE(has_line(screen, "* 2 clients here")) << screen;
  EXPECT_TRUE(matches(screen, "[^]*\n\\*   alice \\(" + quote(a) +
                                  "\\), here \\d+m\\d+s, 1 line sent, last said \"hello\"\n[^]*"))
      << screen;
  EXPECT_TRUE(matches(screen, "[^]*\n\\*   " + quote(b) + ", here \\d+m\\d+s, 0 lines sent\n[^]*"))
      << screen;
  EXPECT_TRUE(has_line(screen,
                       "* /who: who is here; /kick NAME-OR-ADDRESS:PORT [REASON]: close that "
                       "client, telling it why; /help: this"))
      << screen;

  room.server.write_stdin("/kick ALICE being rude\n");
  ASSERT_TRUE(heard(peers, bob, "* alice was kicked by the host: being rude"));
  ASSERT_TRUE(peers.pump_until([&] { return peers[alice].ended; }));
  EXPECT_EQ(peers[alice].lines.back(), "* you were kicked by the host: being rude");
  ASSERT_TRUE(on_screen(room.server, peers, "* alice was kicked by the host: being rude"));
  room.server.write_stdin("/kick alice\n/kick " + b + "\n");
  ASSERT_TRUE(on_screen(room.server, peers, "* nobody here is called alice: /who lists them"));
  ASSERT_TRUE(peers.pump_until([&] { return peers[bob].ended; }));
  EXPECT_EQ(peers[bob].lines.back(), "* you were kicked by the host");
  for (const std::string& line : peers[bob].lines) {
    EXPECT_EQ(line.rfind("<host>", 0), std::string::npos) << "a host command was relayed: " << line;
  }
  room.server.close_stdin();
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_TRUE(has_line(room.server.stderr_text(), "disconnected 127.0.0.1 port " + port_of(a) +
                                                      ": kicked by the host: being rude"))
      << room.server.stderr_text();
}

// The host's /who quotes the start of each client's last line, as shown,
// so that an address with no name (a flooder) can be told by what it says:
// 40 bytes at most, never half a UTF-8 character, "..." where it goes on.
TEST_F(Stage6Host, WhoQuotesTheStartOfEachClientsLastLine) {
  open(kProgram, {}, Stdin::pipe());
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  std::string accents;
  for (int i = 0; i < 30; ++i)
    accents += "\xc3\xa9";  // e-acute, 2 bytes
  peers.send(alice, "first\n" + accents + "\n");
  peers.send(bob, "tab\there \x1b[2J\n");
  ASSERT_TRUE(heard(peers, bob, msg::said(peers[alice].name, accents)));
  ASSERT_TRUE(heard(peers, alice, msg::said(peers[bob].name, "tab\there ^[[2J")));
  room.server.write_stdin("/who\n");
  const std::string shown_a = "last said \"" + accents.substr(0, 40) + "...\"";  // 20 whole
  const std::string shown_b = "last said \"tab\there ^[[2J\"";
  ASSERT_TRUE(peers.pump_until([&] {
    return room.server.stdout_text().find(shown_b) != std::string::npos;
  })) << room.server.stdout_text();
  EXPECT_NE(room.server.stdout_text().find(shown_a), std::string::npos)
      << room.server.stdout_text();
  EXPECT_TRUE(closes(room.server, peers));
}

// A student's /who: the names of everyone here, to that student alone.
TEST_F(Stage6Host, AStudentsWhoListsNamesOnly) {
  open(kProgram);
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  const std::string b = peers[bob].name;
  peers.send(alice, "/nick alice\n");
  ASSERT_TRUE(heard(peers, bob, msg::renamed(peers[alice].name, "alice")));
  peers.send(bob, "/who\n");
  ASSERT_TRUE(heard(peers, bob, "* 2 clients here: alice, " + b));
  peers.send(bob, "after\n");
  ASSERT_TRUE(heard(peers, alice, msg::said(b, "after")));
  for (const std::string& line : peers[alice].lines)
    EXPECT_EQ(line.find("/who"), std::string::npos);
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_FALSE(has_line(room.server.stdout_text(), msg::said(b, "/who")));
}

// ------------------------------------------------------------ announcements

using Stage6Welcome = RoomTest;

// A newcomer's first line says who is here: how many, and their names in
// the order they came, as many as fit in 80 columns.
TEST_F(Stage6Welcome, ANewcomersFirstLineSaysWhoIsHere) {
  open(kProgram);
  const std::size_t alice = join(peers);
  const std::size_t bob = join(peers);
  const std::size_t third = join(peers);
  peers.send(alice, "/nick alice\n");
  peers.send(bob, "/nick bob\n");
  ASSERT_TRUE(heard(peers, third, msg::renamed(peers[bob].name, "bob")));
  const std::size_t carol = join(peers);
  EXPECT_EQ(peers[carol].lines[0], "* you are " + peers[carol].name +
                                       ", 3 others here: alice, bob, " + peers[third].name +
                                       "; /nick NAME changes your name");
  for (int n = 0; n < 6; ++n)
    join(peers);
  const std::size_t last = join(peers);
  const std::string first = peers[last].lines[0];
  EXPECT_EQ(first.rfind("* you are " + peers[last].name + ", 10 others here: alice, bob", 0), 0u)
      << first;
  EXPECT_TRUE(matches(first, ".* and \\d+ more; /nick NAME changes your name")) << first;
  EXPECT_LE(first.find("; /nick"), 80u)
      << "who is here takes more than a screen's width: " << first;
  EXPECT_TRUE(closes(room.server, peers));
}

// Renames after a crowd came in at once: the crowd was counted, not named,
// so a reader who was here before it hears nobody named by a rename, and
// the renames stay off its screen; the host's screen likewise.
TEST_F(Stage6Crowds, RenamesAfterACountedCrowdNameNobodyUnknown) {
  open(kProgram);
  const std::size_t watcher = join(peers);
  std::size_t crowd;
  {
    Paused paused(room.server);  // they come in at once
    crowd = peers.connect(8);
  }
  for (std::size_t i = crowd; i < crowd + 8; ++i)
    ASSERT_TRUE(peers.wait_for_lines(i, 1));
  ASSERT_TRUE(heard(peers, watcher, "* 8 clients joined"));
  for (std::size_t i = crowd; i < crowd + 8; ++i) {
    peers.send(i, "/nick student" + std::to_string(i) + "\n");
  }
  peers.send(crowd, "hello\n");
  ASSERT_TRUE(heard(peers, watcher, "<student" + std::to_string(crowd) + "> hello"));
  peers.send(watcher, "bye\n");
  for (std::size_t i = crowd; i < crowd + 8; ++i) {
    ASSERT_TRUE(heard(peers, i, msg::said(peers[watcher].name, "bye")));
  }
  for (const std::string& line : peers[watcher].lines) {
    EXPECT_EQ(line.find(" is now "), std::string::npos)
        << "named someone never introduced: " << line;
  }
  // Each of the crowd knows those its welcome named, and hears their renames only.
  for (std::size_t i = crowd; i < crowd + 8; ++i) {
    for (const std::string& line : peers[i].lines) {
      const std::size_t now = line.find(" is now ");
      if (line.rfind("* ", 0) != 0 || now == std::string::npos) continue;
      const std::string old = line.substr(2, now - 2);
      EXPECT_NE(peers[i].lines[0].find(old), std::string::npos)
          << peers[i].name << " was told of " << old << ", never introduced: " << line;
    }
  }
  EXPECT_TRUE(closes(room.server, peers));
}

}  // namespace
