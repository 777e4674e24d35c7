// stage5_visible_test.cpp: the built stage5-chat never writes one person's
// control characters on another's terminal: ESC, BEL, NUL, OSC 52, a CR
// inside a line, DEL and C1 reach the other clients and the host's screen
// shown (^[, ^G, M-BM-^[, ...), never raw; UTF-8 text passes byte for byte;
// a line made longer by the notation still goes in pieces of 4096 bytes at
// most, nothing lost. (/nick, stage 6's, takes no control character:
// stage6_test.cpp.)
//
// The oracle is the notation of docs/stage5-chat.md ("Control characters"),
// written out here, and a scan of every byte each party received. Only
// loopback, ports the system chooses.
//
// See also: visible_test.cpp (the function alone), room_tests.inc (the
// rest of the room), support/chat_peers.hpp.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "chat_peers.hpp"
#include "process.hpp"
#include "rooms.hpp"

namespace {

using namespace support;

const std::string kProgram = stage_program("stage5-chat");

bool contains(const Lines& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// Where `lines` hold a byte a terminal would obey: C0 but tab, DEL, or
// 0x80-0x9F (these tests send no UTF-8 with such a byte in it, so any is
// C1, raw or encoded). "" when there is none.
std::string raw_control(const Lines& lines) {
  for (const std::string& line : lines) {
    for (const char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && byte != '\t') || byte == 0x7F || (byte >= 0x80 && byte <= 0x9F))
        return "byte " + std::to_string(byte) + " raw in " + ::testing::PrintToString(line);
    }
  }
  return "";
}

// Sent by one client, as each other party must see it.
struct Shown {
  std::string sent;
  std::string seen;
};

const std::vector<Shown> kControls = {
    // The window's title, a clear screen, red from here on.
    {"hi \x1b]0;pwned\x07\x1b[2J\x1b[31mred", "hi ^[]0;pwned^G^[[2J^[[31mred"},
    {"bell\x07", "bell^G"},
    {std::string("nul\0byte", 8), "nul^@byte"},
    {"\x1b]52;c;ZWNobyBwd25lZAo=\x07", "^[]52;c;ZWNobyBwd25lZAo=^G"},  // OSC 52: the clipboard
    {"typed\rover\r", "typed^Mover"},  // a CR inside is shown; the one before LF is dropped
    {"del\x7f", "del^?"},
    {"csi \xc2\x9bK", "csi M-BM-^[K"},  // U+009B, C1 in UTF-8: CSI K erases the line
    {"raw \x9bK", "raw M-^[K"},         // 0x9B, C1 as one byte
};

using Stage5Visible = RoomTest;

TEST_F(Stage5Visible, ControlCharactersReachOthersShownNeverRaw) {
  open(kProgram, {}, Stdin::pipe());
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name;
  for (const Shown& line : kControls)
    peers.send(sender, line.sent + "\n");
  room.server.write_stdin("\x1b[2Jfrom the host\x07\n");
  Lines expected;
  for (const Shown& line : kControls)
    expected.push_back(msg::said(s, line.seen));
  const std::string from_host = "<host> ^[[2Jfrom the host^G";
  ASSERT_TRUE(peers.pump_until([&] {
    return contains(peers[receiver].lines, expected.back()) &&
           contains(peers[receiver].lines, from_host) && contains(peers[sender].lines, from_host);
  })) << ::testing::PrintToString(peers[receiver].lines);
  Lines at_receiver(peers[receiver].lines.begin() + 1, peers[receiver].lines.end());
  at_receiver.erase(std::find(at_receiver.begin(), at_receiver.end(), from_host));
  EXPECT_EQ(at_receiver, expected);
  ASSERT_TRUE(peers.pump_until([&] {
    return contains(lines_of(room.server.stdout_text()), expected.back());
  })) << room.server.stdout_text();
  const Lines screen = lines_of(room.server.stdout_text());
  for (const std::string& line : expected)
    EXPECT_TRUE(contains(screen, line)) << line;
  EXPECT_EQ(raw_control(peers[receiver].lines), "");
  EXPECT_EQ(raw_control(peers[sender].lines), "");
  EXPECT_EQ(raw_control(screen), "");
  EXPECT_TRUE(closes(room.server, peers));
}

TEST_F(Stage5Visible, Utf8TextPassesByteForByte) {
  open(kProgram, {}, Stdin::pipe());
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string text =
      "caf\xc3\xa9 \xc3\xb1 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82 \xe2\x82\xac\t"
      "\xc2\xa0\xf4\x8f\xbf\xbf end";
  peers.send(sender, text + "\n");
  const std::string line = msg::said(peers[sender].name, text);
  ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(receiver, line); }))
      << ::testing::PrintToString(peers[receiver].lines);
  ASSERT_TRUE(peers.pump_until([&] { return contains(lines_of(room.server.stdout_text()), line); }))
      << room.server.stdout_text();
  EXPECT_TRUE(closes(room.server, peers));
}

std::string escapes_shown(std::size_t count) {
  std::string shown;
  for (std::size_t i = 0; i < count; ++i)
    shown += "^[";
  return shown;
}

// 4096 ESCs are 8192 bytes shown: two pieces of 4096. Then 10,000 more, in
// reads TCP cuts where it likes: pieces of 4096 bytes at most, in order.
TEST_F(Stage5Visible, LinesOfEscapesGoWholeInPiecesOfAtMost4KiB) {
  open(kProgram, {}, Stdin::pipe());
  const std::size_t sender = join(peers);
  const std::size_t receiver = join(peers);
  const std::string s = peers[sender].name;
  peers.send(sender, std::string(4096, '\x1b') + "\n");
  ASSERT_TRUE(peers.pump_until([&] { return said_by(peers[receiver].lines, s).size() == 2; }));
  EXPECT_EQ(said_by(peers[receiver].lines, s), (Lines{escapes_shown(2048), escapes_shown(2048)}));

  peers.send(sender, std::string(10000, '\x1b') + "\nlast\n");
  ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(receiver, msg::said(s, "last")); }));
  Lines pieces = said_by(peers[receiver].lines, s);
  pieces.erase(pieces.begin(), pieces.begin() + 2);
  ASSERT_EQ(pieces.back(), "last");
  pieces.pop_back();
  std::string joined;
  for (const std::string& piece : pieces) {
    EXPECT_LE(piece.size(), 4096u);
    joined += piece;
  }
  EXPECT_EQ(joined.size(), 20000u);
  EXPECT_TRUE(joined == escapes_shown(10000)) << "the pieces differ from 10,000 ^[";
  EXPECT_GE(pieces.size(), 5u);
  EXPECT_EQ(raw_control(peers[receiver].lines), "");

  ASSERT_TRUE(peers.pump_until(
      [&] { return contains(lines_of(room.server.stdout_text()), msg::said(s, "last")); }));
  EXPECT_EQ(said_by(lines_of(room.server.stdout_text()), s), said_by(peers[receiver].lines, s));
  EXPECT_TRUE(closes(room.server, peers));
}

}  // namespace
