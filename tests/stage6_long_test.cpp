// stage6_long_test.cpp: the built stage6-class telling a paste from a flood
// at -r 2, with OpenBSD nc as the sender, as in class: each test takes a
// minute and more, on the room's own clock (its pace cannot be hurried), so
// they have a program and a label of their own (ctest -L long) and run side
// by side with the others. Ungraded, so make check never waits for them:
// class_test.cpp's ClassFlood grades the same paste and flood in seconds,
// with a limit of a second or so.
//
// See also: docs/stage6-class.md (paste or flood); stage6_test.cpp.

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "chat_peers.hpp"
#include "data.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "rooms.hpp"
#include "stages.hpp"

namespace {

using namespace support;
using Clock = std::chrono::steady_clock;

const std::string kProgram = stage_program("stage6-class");

// Line `n` of the paste: numbered, so that a line lost or out of order
// shows, and 200 bytes long.
std::string paste_line(std::size_t n) {
  char head[32];
  std::snprintf(head, sizeof head, "paste line %04zu ", n);
  std::string line = head;
  line.resize(200, static_cast<char>('a' + n % 26));
  return line;
}

// 200 lines of 200 bytes, pasted with `nc -N` (which ends its stream after
// them) at -r 2: 50 go at once, 150 wait their turn, 75 s. The backlog only
// shrinks: a paste. Every line arrives, in order, then the paster's leave.
TEST(Stage6Paste, TwoHundredLinesAtRateTwoArriveWholeAfterAMinuteHeld) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  TempDir dir;
  const std::string file = dir.file("paste.txt");
  {
    std::ofstream paste(file);
    for (std::size_t n = 0; n < 200; ++n)
      paste << paste_line(n) << "\n";
  }
  Room room = open_room(kProgram, {"-r", "2"});
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t reader = join(peers);
  const auto start = Clock::now();
  Process nc =
      Process::start("nc", {"-N", "127.0.0.1", std::to_string(room.port)}, Stdin::file(file));
  ASSERT_TRUE(peers.pump_until([&] { return peers[reader].lines.size() >= 2; }));
  const std::string joined = peers[reader].lines[1];
  ASSERT_EQ(joined.substr(joined.size() - 7), " joined") << joined;
  const std::string p = joined.substr(2, joined.size() - 9);
  const std::string left = msg::left(p);
  ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(reader, left); }, Millis(110000)))
      << "after 110 s, " << peers[reader].lines.size()
      << " lines; the last: " << peers[reader].lines.back();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Lines expected{peers[reader].lines[0], joined};
  for (std::size_t n = 0; n < 200; ++n)
    expected.push_back(msg::said(p, paste_line(n)));
  expected.push_back(left);
  EXPECT_EQ(peers[reader].lines, expected);
  // 150 lines at 2 a second cannot take less than 75 s: held more than a minute.
  EXPECT_GT(seconds, 60.0);
  EXPECT_EQ(nc.wait(), Exit::code(0)) << nc.stderr_text();
  const Lines told = lines_of(nc.stdout_text());
  ASSERT_FALSE(told.empty());
  EXPECT_EQ(told.back(),
            "* you are sending too fast: your lines wait their turn, 2 lines a second; 1000 lines "
            "waiting for 60 s is a flood, and is dropped");
  EXPECT_TRUE(closes(room.server, peers));
}

// `yes | nc` at -r 2: its backlog stays full (1000 lines waiting) for a
// minute, and it is dropped; the last line its nc prints is why. The room
// and its other client go on.
TEST(Stage6Paste, AYesFloodAtRateTwoIsDroppedAndReadsWhyLast) {
  REQUIRE_PROGRAM("nc", "netcat-openbsd");
  REQUIRE_PROGRAM("yes", "coreutils");
  Room room = open_room(kProgram, {"-r", "2"});
  ChatPeers peers(AF_INET, room.port, room.server);
  const std::size_t reader = join(peers);
  // nc is the child itself (exec), so stopping it stops the flood: yes then
  // dies of SIGPIPE.
  Process flood = Process::start(
      "bash", {"-c", "exec nc 127.0.0.1 " + std::to_string(room.port) + " < <(yes)"});
  ASSERT_TRUE(peers.pump_until([&] { return peers[reader].lines.size() >= 2; }));
  const std::string joined = peers[reader].lines[1];
  const std::string f = joined.substr(2, joined.size() - 9);
  const std::string dropped = msg::dropped(f, "flooding");
  ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(reader, dropped); }, Millis(100000)))
      << "after 100 s, " << f
      << " was not dropped; the reader's last line: " << peers[reader].lines.back();
  EXPECT_TRUE(eventually([&] { return !flood.running(); }, Millis(15000)))
      << "yes | nc still running after the drop";
  const Lines told = lines_of(flood.stdout_text());
  ASSERT_FALSE(told.empty());
  EXPECT_EQ(told.back(), msg::kYouWereDropped + "flooding");
  peers.send(reader, "still here\n");
  EXPECT_TRUE(on_screen(room.server, peers, msg::said(peers[reader].name, "still here")));
  EXPECT_TRUE(closes(room.server, peers));
  EXPECT_TRUE(matches(room.server.stderr_text(),
                      "[^]*\ndisconnected 127\\.0\\.0\\.1 port " + port_of(f) +
                          ": flooding, \\d+ lines over the rate not relayed\n[^]*"))
      << room.server.stderr_text();
}

}  // namespace
