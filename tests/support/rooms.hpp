// rooms.hpp: a chat room (stage5-chat, stage6-class) under test: started
// with -v on a port the system chooses, joined by scripted clients
// (chat_peers.hpp), its lines and screen checked, its process watched.
//
// Purpose: the tests of stage 5 and of stage 6 open rooms, join them and
// read them the same way; the helpers live here once.
//
// Usage:
//   Room room = open_room(stage_program("stage5-chat"));
//   ChatPeers peers(AF_INET, room.port, room.server);
//   std::size_t alice = join(peers);
//   EXPECT_TRUE(heard(peers, alice, "* you are ..."));
//   EXPECT_TRUE(closes(room.server, peers));
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "chat_peers.hpp"
#include "data.hpp"  // Lines, lines_of()
#include "process.hpp"
#include "stages.hpp"  // RefusedCommandLine

namespace support {

// PROGRAM -v OPTIONS -l ADDRESS 0: the room, its port known.
struct Room {
  Process server;
  int port = 0;
};

Room open_room(const std::string& program, const std::vector<std::string>& options = {},
               Stdin in = Stdin::null(), const std::string& address = "127.0.0.1",
               Stdout out = Stdout::file(), const std::vector<std::string>& env = {});

// The fixture of the room tests (TEST_F): open() is each test's first
// line, saying how its room runs; `room` and its clients, `peers`, are then
// the test's own, stopped and closed when it ends, also on failure.
class RoomTest : public ::testing::Test {
 protected:
  // Opens the room (open_room()) and points `peers` at it, over IPv4.
  void open(const std::string& program, const std::vector<std::string>& options = {},
            Stdin in = Stdin::null(), const std::string& address = "127.0.0.1",
            Stdout out = Stdout::file(), const std::vector<std::string>& env = {});

  Room room;
  ChatPeers peers{AF_INET, 0};
};

// The room's lines, word for word (docs/design.md), written once.
namespace msg {
inline std::string joined(const std::string& name) {
  return "* " + name + " joined";
}
// "* NAME left", or "* NAME left: WHY" (the error that ended its connection).
inline std::string left(const std::string& name, const std::string& why = "") {
  return "* " + name + " left" + (why.empty() ? "" : ": " + why);
}
inline std::string dropped(const std::string& name, const std::string& why) {
  return "* " + name + " dropped: " + why;
}
inline std::string renamed(const std::string& from, const std::string& to) {
  return "* " + from + " is now " + to;
}
inline std::string said(const std::string& name, const std::string& text) {
  return "<" + name + "> " + text;
}
// Stage 6: what the host's screen shows once per episode of flood control.
inline std::string too_fast(const std::string& name, const std::string& rate) {
  return "* " + name + " is sending too fast: held to " + rate + " lines a second";
}
// Stage 6: what the sender is told, once per episode (the defaults: 1000
// lines held a minute make a flood).
inline std::string you_are_too_fast(const std::string& rate, const std::string& lines = "1000",
                                    const std::string& limit = "60 s") {
  return "* you are sending too fast: your lines wait their turn, " + rate + " lines a second; " +
         lines + " lines waiting for " + limit + " is a flood, and is dropped";
}
const std::string kServerClosing = "* server closing";
const std::string kYouWereDropped = "* you were dropped: ";  // then why
}  // namespace msg

// The -v summary line.
std::string summary(std::size_t clients, std::size_t lines);
// The text of the lines `lines` holds from `name` ("<NAME> TEXT"), in order.
Lines said_by(const Lines& lines, const std::string& name);
// The last whole line of `text` with its "\n", or "" if there is none.
std::string last_line(const std::string& text);
bool has_line(const std::string& text, const std::string& line);
// The name in a welcome line, "* you are NAME, N others here...".
std::string name_in_welcome(const std::string& line);
// The port in a name, "127.0.0.1:PORT" or "[::1]:PORT".
std::string port_of(const std::string& name);

// Connects one more client (over IPv4 unless `family` says otherwise) and
// waits for its welcome; returns its index. Throws without one.
std::size_t join(ChatPeers& peers, int family = AF_INET, int receive_buffer = 0);
// Pumps `peers` until `done(i)` holds for every client `i` from `first` on.
bool pump_until_all(ChatPeers& peers, std::size_t first,
                    const std::function<bool(std::size_t)>& done);
// Pumps `peers` until client `i` has received `line`.
::testing::AssertionResult heard(ChatPeers& peers, std::size_t i, const std::string& line);
// Pumps `peers` until the host's screen (the server's stdout) shows `line`.
::testing::AssertionResult on_screen(Process& server, ChatPeers& peers, const std::string& line,
                                     Millis timeout = kExitTimeout);
// Waits until a real client's stdout (a file) shows `line`.
::testing::AssertionResult shows(Process& program, const std::string& line);
// Ends the room with SIGTERM; true when it exits 0. Then reads what the
// clients that still read were sent last, to the end.
::testing::AssertionResult closes(Process& server, ChatPeers& peers);

// CPU time (user + system) a process has used, in clock ticks; -1 if gone.
long cpu_ticks(pid_t pid);

// Keeps a server stopped with SIGSTOP from staying stopped if the test
// fails in between (Process would then need SIGKILL to end it).
class Paused {
 public:
  explicit Paused(Process& server);
  ~Paused() { resume(); }
  Paused(const Paused&) = delete;
  Paused& operator=(const Paused&) = delete;
  void resume();
  // The state letter in /proc/PID/stat: 'T' once stopped.
  char state() const;

 private:
  Process& server_;
  bool resumed_ = false;
};

// The clients an announcement line stands for: "* NAME joined" is one,
// "* K clients joined" is K; 0 for any other line. Likewise for "left".
std::size_t announced(const std::string& line, const std::string& verb);
// Every client received each other client's one line (`said`: name to
// line) exactly once, and not its own; "" or what went wrong.
std::string missing_chat_lines(ChatPeers& peers, const std::map<std::string, std::string>& said);

}  // namespace support
