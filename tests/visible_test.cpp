// visible_test.cpp: stage 5's filter of control characters, append_visible()
// and visible(), called directly: what each byte becomes, which UTF-8
// passes, and how a line is cut into pieces of a given size.
//
// The oracle is the notation visible.hpp documents, written out by hand
// here, and `cat -v` itself for every single byte: the filter promises
// cat -v's output for every byte that is not printable text.
//
// See also: stage5-chat/visible.hpp; stage5_visible_test.cpp for the room;
// fuzz/visible_fuzz.cpp.

#include "visible.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "data.hpp"

namespace {

using namespace support;

// The pieces append_visible() cuts `line` into, `room` bytes at most each.
std::vector<std::string> pieces(std::string_view line, std::size_t room) {
  std::vector<std::string> out;
  do {
    std::string piece;
    const std::size_t taken = append_visible(line, room, piece);
    if (taken == 0 && !line.empty()) {
      ADD_FAILURE() << "took nothing of " << ::testing::PrintToString(std::string(line));
      break;
    }
    line.remove_prefix(taken);
    out.push_back(piece);
  } while (!line.empty());
  return out;
}

// Each C0 byte but tab and LF, DEL: the caret notation of write(1) and cat -v.
TEST(Visible, C0AndDelInCaretNotation) {
  std::string c0;
  for (int byte = 0; byte < 0x20; ++byte)
    c0 += static_cast<char>(byte);
  c0 += '\x7f';
  EXPECT_EQ(visible(c0), "^@^A^B^C^D^E^F^G^H\t^J^K^L^M^N^O^P^Q^R^S^T^U^V^W^X^Y^Z^[^\\^]^^^_^?");
}

TEST(Visible, EscapeSequencesAreShownWhole) {
  EXPECT_EQ(visible("hi \x1b]0;pwned\x07\x1b[2J\x1b[31mred"), "hi ^[]0;pwned^G^[[2J^[[31mred");
  // OSC 52: a terminal that honours it puts the base64 text in the clipboard.
  EXPECT_EQ(visible("\x1b]52;c;ZWNobyBwd25lZAo=\x07"), "^[]52;c;ZWNobyBwd25lZAo=^G");
  EXPECT_EQ(visible("a\rb"), "a^Mb");  // a CR inside a line would go back over it
  EXPECT_EQ(visible(std::string("nul\0inside", 10)), "nul^@inside");
}

// C1 in UTF-8 (C2 80 to C2 9F) and the raw bytes 0x80-0x9F: M- notation, as cat -v.
TEST(Visible, C1AsUtf8AndAsRawBytes) {
  EXPECT_EQ(visible("\xc2\x9bK"), "M-BM-^[K");  // U+009B, CSI, then K: erase the line
  EXPECT_EQ(visible("\xc2\x80\xc2\x85\xc2\x9d\xc2\x9f"), "M-BM-^@M-BM-^EM-BM-^]M-BM-^_");
  EXPECT_EQ(visible("\x9bK"), "M-^[K");
  EXPECT_EQ(visible("\x80\x9f"), "M-^@M-^_");
  EXPECT_EQ(visible("\xc2\xa0"), "\xc2\xa0");  // U+00A0, the first after C1: printable
}

TEST(Visible, PrintableTextPassesByteForByte) {
  const std::string text =
      "plain ASCII ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./ and\ttab; caf\xc3\xa9 \xc3\xb1 "
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82 \xe2\x82\xac";
  EXPECT_EQ(visible(text), text);
  // The edges of each UTF-8 length, valid all.
  for (const std::string edge :
       {"\xc3\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_EQ(visible(edge), edge) << ::testing::PrintToString(edge);
  }
  EXPECT_EQ(visible(""), "");
}

// Bytes that are no valid UTF-8 are each shown: Latin-1, overlong forms,
// surrogates, past U+10FFFF, a sequence cut short, a lone continuation.
TEST(Visible, InvalidUtf8IsShownByteByByte) {
  EXPECT_EQ(visible("caf\xe9"), "cafM-i");
  EXPECT_EQ(visible("\xc0\x9b"), "M-@M-^[");          // 0x1B, overlong
  EXPECT_EQ(visible("\xc1\xbf"), "M-AM-?");           // 0x7F, overlong
  EXPECT_EQ(visible("\xe0\x82\x9b"), "M-`M-^BM-^[");  // 0x9B, overlong in three bytes
  EXPECT_EQ(visible("\xf0\x8f\xbf\xbf"), "M-pM-^OM-?M-?");
  EXPECT_EQ(visible("\xed\xa0\x80"), "M-mM- M-^@");  // U+D800
  EXPECT_EQ(visible("\xf4\x90\x80\x80"), "M-tM-^PM-^@M-^@");
  EXPECT_EQ(visible("\xe2\x82x"), "M-bM-^Bx");
  EXPECT_EQ(visible("\xe2\x82"), "M-bM-^B");
  EXPECT_EQ(visible("\x80z"), "M-^@z");
  EXPECT_EQ(visible("\xf8\xff\xfe"), "M-xM-^?M-~");
}

// For every byte alone but LF (alone, a byte from 0x80 is never valid
// UTF-8), visible() says what `cat -v` says.
TEST(Visible, EverySingleByteAsCatV) {
  TempDir dir;
  const std::string bytes = dir.file("bytes");
  {
    std::ofstream file(bytes, std::ios::binary);
    for (int byte = 0; byte < 256; ++byte) {
      if (byte != '\n') file << static_cast<char>(byte) << '\n';
    }
  }
  FILE* cat = popen(("cat -v " + bytes).c_str(), "r");
  ASSERT_NE(cat, nullptr);
  std::string shown;
  char buffer[4096];
  for (std::size_t got; (got = fread(buffer, 1, sizeof buffer, cat)) > 0;)
    shown.append(buffer, got);
  ASSERT_EQ(pclose(cat), 0) << "cat -v failed";
  const Lines lines = lines_of(shown);
  ASSERT_EQ(lines.size(), 255u) << "cat -v printed a line for each byte but LF";
  std::size_t line = 0;
  for (int byte = 0; byte < 256; ++byte) {
    if (byte == '\n') continue;
    EXPECT_EQ(visible(std::string(1, static_cast<char>(byte))), lines[line++]) << "byte " << byte;
  }
}

// A piece holds at most `room` bytes as shown, cut between characters:
// a form (^[, M-^[) or a UTF-8 character is never split.
TEST(AppendVisible, PiecesCountTheBytesAsShown) {
  const std::string escapes(4096, '\x1b');
  const std::vector<std::string> two = pieces(escapes, 4096);
  ASSERT_EQ(two.size(), 2u);
  std::string half;
  for (int i = 0; i < 2048; ++i)
    half += "^[";
  EXPECT_EQ(two[0], half);
  EXPECT_EQ(two[1], half);

  EXPECT_EQ(pieces("ab\x1bxy", 3), (std::vector<std::string>{"ab", "^[x", "y"}));
  EXPECT_EQ(pieces("ab\xc2\x9b", 4), (std::vector<std::string>{"ab", "M-B", "M-^["}));
  EXPECT_EQ(pieces("a\xe6\x97\xa5", 3), (std::vector<std::string>{"a", "\xe6\x97\xa5"}));
  EXPECT_EQ(pieces("abcdef", 4), (std::vector<std::string>{"abcd", "ef"}));
}

// Every piece at every size is the shown form of its own bytes, and the
// pieces make up the whole.
TEST(AppendVisible, CutAnywhereNothingIsLostOrSplit) {
  const std::string line = "x\x1b[31m caf\xc3\xa9 \xf0\x9f\x99\x82\x9b\xc2\x9b\x7f\r\xe2\x82 end";
  const std::string whole = visible(line);
  for (std::size_t room = 1; room <= whole.size() + 1; ++room) {
    std::string joined;
    std::string_view rest = line;
    while (!rest.empty()) {
      std::string piece;
      const std::size_t taken = append_visible(rest, room, piece);
      ASSERT_GT(taken, 0u) << "room " << room;
      EXPECT_EQ(piece, visible(rest.substr(0, taken))) << "room " << room;
      // Over `room` only when one character's form is longer (4 at most).
      EXPECT_LE(piece.size(), std::max<std::size_t>(room, 4)) << "room " << room;
      joined += piece;
      rest.remove_prefix(taken);
    }
    EXPECT_EQ(joined, whole) << "room " << room;
  }
}

// Room 0 (or less than one form) still takes one character: a caller
// cutting pieces always moves on.
TEST(AppendVisible, AlwaysTakesOneCharacter) {
  std::string out = "<alice> ";
  EXPECT_EQ(append_visible("\x1bx", 0, out), 1u);
  EXPECT_EQ(out, "<alice> ^[");  // appended, what was there kept
  EXPECT_EQ(append_visible("\xf0\x9f\x99\x82", 1, out), 4u);
  EXPECT_EQ(out, "<alice> ^[\xf0\x9f\x99\x82");
  EXPECT_EQ(append_visible("", 10, out), 0u);
}

}  // namespace
