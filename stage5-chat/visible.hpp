// visible.hpp: one person's line made safe for another's terminal.
//
// Purpose: a terminal obeys the control characters it is sent: ESC starts
// a sequence that clears the screen, sets the window's title or (OSC 52)
// writes the clipboard. The room relays one client's text to everyone's
// terminal, so it shows those bytes instead of sending them, as write(1)
// and `cat -v` do:
//   C0 (0x00-0x1F) but tab   ^@ ... ^_     (ESC is ^[, CR inside a line ^M)
//   DEL (0x7F)               ^?
//   every byte of a C1 character (U+0080-U+009F, C2 80 to C2 9F in UTF-8),
//   and every byte not part of valid UTF-8: M- and the byte less 0x80 in
//   the same notation: 0x9B is M-^[, U+009B is M-BM-^[, 0xE9 is M-i.
// That is exactly `cat -v`'s output for those bytes. Printable ASCII, tab
// and valid UTF-8 other than C1 (accents, CJK, emoji) pass as they are.
//
// Usage:
//   std::string text = "<alice> ";
//   line.remove_prefix(append_visible(line, 4096, text));  // a piece of 4 KiB at most
//   std::string whole = visible(line);                      // all of it
//
// See also: docs/stage5-chat.md (control characters), cat(1) -v, write(1),
// CVE-2024-28085 (util-linux wall), chat.cpp (relay).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// Appends to `out` the visible form of the longest start of `line` that
// takes at most `room` bytes there, cut only between characters, and
// returns how many bytes of `line` that start holds. It takes at least one
// character of a non-empty line (a visible form is 4 bytes at most), so a
// caller cutting a line into pieces always moves on.
std::size_t append_visible(std::string_view line, std::size_t room, std::string& out);

// The visible form of the whole of `line`.
inline std::string visible(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  while (!line.empty())
    line.remove_prefix(append_visible(line, SIZE_MAX, out));
  return out;
}
