// class_test.cpp: stage 6's room, chat(), called directly in a thread of the
// test: a loopback listening socket, a pipe as the host's keyboard, a file
// as the host's screen, a pipe to stop it. Its options are set here to
// sizes the program never uses (lines of 8 bytes, a room of 2), so that
// the limits show with a few bytes; what the counts say is read directly.
//
// See also: stage6-class/chat.hpp; stage6_test.cpp for the whole program.

#include "chat.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "chat_peers.hpp"
#include "data.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "io.hpp"
#include "peers.hpp"
#include "rooms.hpp"

namespace {

using namespace support;

// chat() running in a thread, with a keyboard to type on, a screen to read
// and a stop button. Stopped and joined on destruction, so a failed
// assertion leaves nothing running.
class RoomThread {
 public:
  explicit RoomThread(const ChatOptions& options) : options_(options) {
    std::signal(SIGPIPE, SIG_IGN);  // as main does: a gone client is an error, not death
    int keyboard[2], stop[2];
    check(pipe(keyboard), "pipe");
    check(pipe(stop), "pipe");
    keyboard_in_.reset(keyboard[0]);
    keyboard_.reset(keyboard[1]);
    stop_in_.reset(stop[0]);
    stop_.reset(stop[1]);
    screen_.reset(check(open(dir_.file("screen").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600),
                        "open screen"));
    thread_ = std::thread([this] {
      try {
        chat(server_.fd(), keyboard_in_.get(), screen_.get(), stop_in_.get(), options_, counts_);
      } catch (const std::exception& e) {
        failure_ = e.what();
        // As the listener of a program that stopped closes: the clients
        // queued on it are reset, and the tests waiting on them end soon.
        ::shutdown(server_.fd(), SHUT_RDWR);
      }
      stopped_ = true;
    });
  }
  ~RoomThread() { stop(); }
  RoomThread(const RoomThread&) = delete;
  RoomThread& operator=(const RoomThread&) = delete;

  int port() const { return server_.port(); }
  void type(const std::string& text) {
    write_all(keyboard_.get(), text.data(), text.size(), "type");
  }
  void close_keyboard() { keyboard_.reset(); }
  Lines screen() const { return lines_of(read_file(dir_.file("screen"))); }
  // Presses stop and waits for chat() to return; the counts are final then.
  const ChatCounts& stop() {
    if (thread_.joinable()) {
      write_all(stop_.get(), "x", 1, "stop");
      thread_.join();
    }
    return counts_;
  }
  const std::string& failure() const { return failure_; }
  // chat() has returned, or thrown.
  bool stopped() const { return stopped_; }

 private:
  ChatOptions options_;
  ChatCounts counts_;
  TempDir dir_;
  LoopbackServer server_;
  Fd keyboard_in_, keyboard_, stop_in_, stop_, screen_;
  std::string failure_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

// Clients of the room, which give up waiting once chat() has stopped and
// every connection has ended.
ChatPeers clients_of(RoomThread& room) {
  return ChatPeers(AF_INET, room.port(), [&room] { return room.stopped(); });
}

ChatOptions quiet(std::size_t max_line = 4096, std::size_t max_clients = SIZE_MAX) {
  ChatOptions options;
  options.max_line = max_line;
  options.max_clients = max_clients;
  options.verbose = false;
  return options;
}

// Flood control on a small scale: `burst` lines at once, then `rate` a second.
ChatOptions paced(unsigned rate, unsigned burst, std::size_t max_line = 4096) {
  ChatOptions options = quiet(max_line);
  options.rate = rate;
  options.burst = burst;
  return options;
}

// How many of `lines` begin with `prefix`.
long starting_with(const Lines& lines, const std::string& prefix) {
  return std::count_if(lines.begin(), lines.end(),
                       [&](const std::string& line) { return line.rfind(prefix, 0) == 0; });
}

// Lines up to max_line go whole; longer ones in max_line pieces, the rest
// at the LF, or at the end of the stream.
TEST(ClassRoom, LinesLongerThanMaxLineGoInPieces) {
  RoomThread room(quiet(8));
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  const std::string s = peers[0].name;
  peers.send(0, "12345678\n123456789\nabcdefghijklmnopqrst\nxyz");
  peers.shutdown_write(0);
  ASSERT_TRUE(peers.wait_for_lines(1, 9));  // the welcome, 7 pieces, the leave
  EXPECT_EQ(Lines(peers[1].lines.begin() + 1, peers[1].lines.end()),
            (Lines{msg::said(s, "12345678"), msg::said(s, "12345678"), msg::said(s, "9"),
                   msg::said(s, "abcdefgh"), msg::said(s, "ijklmnop"), msg::said(s, "qrst"),
                   msg::said(s, "xyz"), msg::left(s)}));
  const ChatCounts& counts = room.stop();
  EXPECT_EQ(room.failure(), "");
  EXPECT_EQ(counts.clients, 2u);
  EXPECT_EQ(counts.lines, 7u);  // each piece is a line relayed
}

// max_clients: the one too many is told, closed, and not counted.
TEST(ClassRoom, TheClientPastMaxClientsIsTurnedAway) {
  RoomThread room(quiet(4096, 2));
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  peers.connect(1);
  ASSERT_TRUE(peers.pump_until([&] { return peers[2].ended; }));
  EXPECT_EQ(peers[2].lines, Lines{"* room full (2 clients)"});
  EXPECT_EQ(room.stop().clients, 2u);
  EXPECT_EQ(room.failure(), "");
}

// The host's lines count as relayed, reach every client, and stay off the
// screen; the end of the keyboard leaves the room open; stop says goodbye
// to everyone, the screen included.
TEST(ClassRoom, HostLinesEndOfKeyboardAndStop) {
  RoomThread room(quiet());
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  room.type("good morning\n");
  ASSERT_TRUE(peers.pump_until([&] {
    return peers.has_line(0, "<host> good morning") && peers.has_line(1, "<host> good morning");
  }));
  room.close_keyboard();
  peers.send(1, "morning\n");
  ASSERT_TRUE(
      peers.pump_until([&] { return peers.has_line(0, msg::said(peers[1].name, "morning")); }));
  const ChatCounts& counts = room.stop();
  ASSERT_TRUE(peers.pump_until([&] { return peers[0].ended && peers[1].ended; }));
  EXPECT_EQ(peers[0].lines.back(), msg::kServerClosing);
  EXPECT_EQ(peers[1].lines.back(), msg::kServerClosing);
  EXPECT_EQ(counts.clients, 2u);
  EXPECT_EQ(counts.lines, 2u);
  EXPECT_EQ(room.screen(), (Lines{msg::joined(peers[0].name), msg::joined(peers[1].name),
                                  msg::said(peers[1].name, "morning"), msg::kServerClosing}));
  EXPECT_EQ(room.failure(), "");
}

// A line cut into pieces costs a token a piece: 48 bytes without a LF, in
// pieces of 8, go 2 at once, then 4 a second (at most 2 + 4 t by any
// instant t after they were sent), none lost; the rest of the line at the
// end of the stream.
TEST(ClassFlood, PiecesOfALongLineArePacedLikeLines) {
  RoomThread room(paced(4, 2, 8));
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  const std::string s = peers[0].name;
  const auto start = std::chrono::steady_clock::now();
  peers.send(0, std::string(48, 'x') + "yz");
  std::string ahead;
  ASSERT_TRUE(peers.pump_until([&] {
    const long pieces = starting_with(peers[1].lines, msg::said(s, "xxxxxxxx"));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (ahead.empty() && pieces > 2 + 4 * seconds + 1)
      ahead = std::to_string(pieces) + " pieces after " + std::to_string(seconds) + " s";
    return pieces >= 6;
  })) << starting_with(peers[1].lines, msg::said(s, ""))
      << " pieces arrived";
  EXPECT_EQ(ahead, "") << "pieces are not paced: 2 at once, then 4 a second";
  peers.shutdown_write(0);
  ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(1, msg::left(s)); }));
  Lines expected{peers[1].lines[0]};
  for (int n = 0; n < 6; ++n)
    expected.push_back(msg::said(s, "xxxxxxxx"));
  expected.push_back(msg::said(s, "yz"));
  expected.push_back(msg::left(s));
  EXPECT_EQ(peers[1].lines, expected);
  EXPECT_EQ(room.stop().lines, 7u);
  EXPECT_EQ(room.failure(), "");
}

// "Sending too fast" is told once per episode, not once per line held:
// a paste of 5 lines at a burst of 2 is held three times and told once.
// After a full bucket again (0.2 s of quiet at 10 a second), the next
// paste is a new episode, told once more.
TEST(ClassFlood, SendingTooFastIsToldOncePerEpisode) {
  RoomThread room(paced(10, 2));
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  const std::string s = peers[0].name;
  const std::string host_told = msg::too_fast(s, "10");
  const std::string you_told =
      "* you are sending too fast: your lines wait their turn, 10 lines a second; 1000 lines "
      "waiting for 60 s is a flood, and is dropped";
  for (int paste = 1; paste <= 2; ++paste) {
    SCOPED_TRACE("paste " + std::to_string(paste));
    const std::string last = msg::said(s, "paste " + std::to_string(paste) + " line 5");
    std::string lines;
    for (int n = 1; n <= 5; ++n)
      lines += "paste " + std::to_string(paste) + " line " + std::to_string(n) + "\n";
    peers.send(0, lines);
    ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(1, last); }));
    ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(0, you_told); }));
    EXPECT_EQ(std::count(peers[0].lines.begin(), peers[0].lines.end(), you_told), paste);
    EXPECT_EQ(starting_with(peers[1].lines, msg::said(s, "paste ")), 5 * paste);
    // Quiet long enough for a full bucket: 2 tokens at 10 a second, 0.2 s.
    peers.pump_until([] { return false; }, std::chrono::milliseconds(600));
  }
  room.stop();
  const Lines screen = room.screen();
  EXPECT_EQ(std::count(screen.begin(), screen.end(), host_told), 2)
      << ::testing::PrintToString(screen);
  EXPECT_EQ(starting_with(screen, "* you are"), 0) << "the sender's notice is for the sender alone";
  EXPECT_EQ(starting_with(peers[1].lines, "* "), 1)
      << "other clients are not told: " << ::testing::PrintToString(peers[1].lines);
  EXPECT_EQ(room.failure(), "");
}

// Flood control with a time limit: `burst` lines at once, then `rate` a
// second, and a client that keeps `max_waiting` lines waiting for
// `max_full_ms` without a break is dropped.
ChatOptions limited(unsigned rate, unsigned burst, std::size_t max_waiting, int max_full_ms) {
  ChatOptions options = paced(rate, burst);
  options.max_waiting = max_waiting;
  options.max_full_ms = max_full_ms;
  return options;
}

// "line 0007": numbered, so that a line lost or out of order shows.
std::string numbered(int n) {
  char text[16];
  std::snprintf(text, sizeof text, "line %04d", n);
  return text;
}

// A flood that goes on: lines sent as fast as the room takes them, held
// back at 20 a second after 5. With 40 lines waiting for 1.5 s without a
// break, the flooder is dropped: the reader and the screen read
// "* NAME dropped: flooding", the flooder reads why, last, and what waited
// is not relayed. At any instant t after the flood began, the reader has
// had at most 5 + 20 t of its lines, in order.
TEST(ClassFlood, AClientHeldBackTooLongIsDroppedAsFlooding) {
  RoomThread room(limited(20, 5, 40, 1500));
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  const std::string f = peers[0].name;
  const std::string dropped = msg::dropped(f, "flooding");
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  int sent = 0;
  std::string ahead;
  const bool told = peers.pump_until(
      [&] {
        while (peers[0].unsent.size() < 4096 && !peers[0].ended)
          peers.send(0, numbered(sent++) + "\n");
        const long got = starting_with(peers[1].lines, msg::said(f, ""));
        if (ahead.empty() && got > 5 + 20 * seconds() + 2)
          ahead = std::to_string(got) + " lines after " + std::to_string(seconds()) + " s";
        return peers.has_line(1, dropped);
      },
      std::chrono::milliseconds(20000));
  const double took = seconds();
  ASSERT_TRUE(told) << "after 20 s of flooding, the reader was not told " << dropped << "; it got "
                    << starting_with(peers[1].lines, msg::said(f, "")) << " of the flood's lines";
  EXPECT_GE(took, 1.5) << "dropped before it was held back 1.5 s";
  EXPECT_EQ(ahead, "") << "not paced to 20 lines a second after a burst of 5";
  peers.pump_until([&] { return peers[0].ended; });
  EXPECT_TRUE(peers[0].ended) << "the flooder's connection was not closed";
  ASSERT_FALSE(peers[0].lines.empty());
  EXPECT_EQ(peers[0].lines.back(), msg::kYouWereDropped + "flooding");
  peers.pump_until([] { return false; }, std::chrono::milliseconds(500));
  Lines expected{peers[1].lines[0]};
  const long got = starting_with(peers[1].lines, msg::said(f, ""));
  for (int n = 0; n < got; ++n)
    expected.push_back(msg::said(f, numbered(n)));
  expected.push_back(dropped);
  EXPECT_EQ(peers[1].lines, expected) << "the flood's lines in order, then the drop, then nothing";
  room.stop();
  const Lines screen = room.screen();
  EXPECT_EQ(std::count(screen.begin(), screen.end(), dropped), 1)
      << ::testing::PrintToString(screen);
  EXPECT_EQ(room.failure(), "");
}

// Lines `from` to `to` (numbered) as one paste from `name`, and what the
// others read of them appended to `expected`.
std::string paste_of(int from, int to, const std::string& name, Lines& expected) {
  std::string paste;
  for (int n = from; n < to; ++n) {
    paste += numbered(n) + "\n";
    expected.push_back(msg::said(name, numbered(n)));
  }
  return paste;
}

// A paste is only delayed, never cut: 30 lines at 20 a second after 5
// are held back 1.25 s, longer than the limit of 0.5 s, but 25 lines wait,
// never the 40 of a full backlog, and the backlog shrinks: all arrive, and
// so does a second paste after a pause too short to fill the bucket again.
TEST(ClassFlood, PastesHeldBackLessThanTheLimitGoWhole) {
  RoomThread room(limited(20, 5, 40, 500));
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  const std::string s = peers[0].name;
  Lines expected{peers[1].lines[0]};
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("paste " + std::to_string(round + 1));
    peers.send(0, paste_of(30 * round, 30 * (round + 1), s, expected));
    // Until the last line, or the paster's drop (no more lines come then).
    ASSERT_TRUE(peers.pump_until([&] {
      return peers.has_line(1, expected.back()) || peers.has_line(1, msg::dropped(s, "flooding"));
    }));
    ASSERT_FALSE(peers.has_line(1, msg::dropped(s, "flooding")))
        << "a paste held past the limit was dropped as a flood, though its backlog shrank";
    ASSERT_TRUE(peers.has_line(1, expected.back()))
        << "got " << peers[1].lines.size() << " lines: " << peers[1].lines.back();
    // 0.1 s: 2 tokens come back, far from 5: the same episode.
    peers.pump_until([] { return false; }, std::chrono::milliseconds(100));
  }
  EXPECT_EQ(peers[1].lines, expected);
  EXPECT_FALSE(peers[0].ended) << "the paster was dropped";
  EXPECT_EQ(room.stop().lines, 60u);
  EXPECT_EQ(room.failure(), "");
}

// stage6_long_test's paste (200 lines at -r 2, held past the minute) in a
// few seconds: 30 lines, then the end of the sender's stream (as nc -N
// sends), at 20 a second after 5. 25 wait 1.25 s, longer than the limit of
// 0.5 s, but the backlog only shrinks: all 30 arrive, in order, then the
// paster's departure; its last line is the notice, not a drop.
TEST(ClassFlood, APasteThatEndsHeldPastTheLimitArrivesWholeThenLeaves) {
  RoomThread room(limited(20, 5, 40, 500));
  ChatPeers peers = clients_of(room);
  join(peers);
  join(peers);
  const std::string s = peers[0].name;
  Lines expected{peers[1].lines[0]};
  const std::string paste = paste_of(0, 30, s, expected);
  expected.push_back(msg::left(s));
  const auto start = std::chrono::steady_clock::now();
  peers.send(0, paste);
  peers.shutdown_write(0);
  const std::string dropped = msg::dropped(s, "flooding");
  ASSERT_TRUE(peers.pump_until([&] {
    return peers.has_line(1, expected.back()) || peers.has_line(1, dropped);
  })) << "no departure; got "
      << starting_with(peers[1].lines, msg::said(s, "")) << " of 30 lines";
  ASSERT_FALSE(peers.has_line(1, dropped))
      << "a paste held past the limit was dropped as a flood, though its backlog shrank";
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 1.25) << "25 lines at 20 a second: they were not held past the limit";
  EXPECT_EQ(peers[1].lines, expected) << "the paste whole, in order, then the departure";
  ASSERT_FALSE(peers[0].lines.empty());
  EXPECT_EQ(peers[0].lines.back(), msg::you_are_too_fast("20", "40", "500 ms"));
  EXPECT_EQ(room.stop().lines, 30u);
  EXPECT_EQ(room.failure(), "");
}

}  // namespace
