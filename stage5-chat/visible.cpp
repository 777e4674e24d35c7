// visible.cpp: control characters shown, never sent (visible.hpp).
//
// Most lines are printable ASCII: they go through in runs, one append per
// run, and only the rare other byte costs more. UTF-8 is checked as RFC
// 3629 defines it (no overlong forms, no surrogates, nothing past
// U+10FFFF): a terminal reading a malformed sequence may take the bytes
// after it as something else, so those bytes are shown one by one.
//
// See also: visible.hpp, docs/stage5-chat.md, The Unicode Standard table 3-7
// (well-formed UTF-8 byte sequences), cat(1) -v.

#include "visible.hpp"

#include <algorithm>
#include <cstring>

#include "error.hpp"

namespace {

// Printable ASCII and tab: they pass as they are.
bool plain(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return (byte >= 0x20 && byte < 0x7F) || byte == '\t';
}

// Whether the 8 bytes at `bytes` are all printable ASCII (0x20-0x7E), tested
// at once on a 64-bit word: the fast path of the common line.
bool printable8(const char* bytes) {
  std::uint64_t word;
  std::memcpy(&word, bytes, sizeof word);
  const std::uint64_t ones = 0x0101010101010101, high = 0x8080808080808080;
  const std::uint64_t below_space = (word - 0x20 * ones) & ~word & high;  // a byte < 0x20
  const std::uint64_t del_or_more = ((word + ones) | word) & high;        // a byte >= 0x7F
  return (below_space | del_or_more) == 0;
}

// The size (2 to 4) of the printable UTF-8 character `text` starts with;
// 0 if it starts with no valid multibyte character, or with a C1 one.
std::size_t printable_utf8(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t size = 4;
  unsigned char low = 0x80, high = 0xBF;  // the second byte's range
  if (lead == 0xC2) {
    size = 2, low = 0xA0;  // C2 80 to C2 9F: U+0080-U+009F, C1
  } else if (lead >= 0xC3 && lead <= 0xDF) {
    size = 2;
  } else if (lead == 0xE0) {
    size = 3, low = 0xA0;  // below: overlong
  } else if (lead >= 0xE1 && lead <= 0xEF) {
    size = 3, high = lead == 0xED ? 0x9F : 0xBF;  // ED A0 and above: surrogates
  } else if (lead == 0xF0) {
    low = 0x90;  // below: overlong
  } else if (lead == 0xF4) {
    high = 0x8F;  // above: past U+10FFFF
  } else if (lead < 0xF1 || lead > 0xF3) {
    return 0;  // ASCII, a continuation byte, C0/C1 as overlong, F5-FF
  }
  if (text.size() < size || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < size; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return size;
}

// `c` as cat -v shows it, into `form` (4 bytes): ^@ to ^_ and ^? for C0 and
// DEL; from 0x80, M- and the form of the byte less 0x80. Returns its size.
std::size_t cat_v(char c, char* form) {
  auto byte = static_cast<unsigned char>(c);
  std::size_t size = 0;
  if (byte >= 0x80) {
    form[size++] = 'M';
    form[size++] = '-';
    byte -= 0x80;
  }
  if (byte < 0x20 || byte == 0x7F) {
    form[size++] = '^';
    byte ^= 0x40;  // 0x1B (ESC) is '[', 0x00 '@', 0x7F '?'
  }
  form[size++] = static_cast<char>(byte);
  return size;
}

}  // namespace

std::size_t append_visible(std::string_view line, std::size_t room, std::string& out) {
  room = std::max<std::size_t>(room, 1);  // at least one character
  std::size_t at = 0;
  while (at < line.size()) {
    // The fast path: a run of printable ASCII, as far as there is room.
    const std::size_t last = at + std::min(room, line.size() - at);
    std::size_t end = at;
    while (end + 8 <= last && printable8(line.data() + end))
      end += 8;
    // Fewer than 8 left: the 8 that end the run, if there are 8 (some checked twice).
    if (end < last && end + 8 > last && last - at >= 8 && printable8(line.data() + last - 8))
      end = last;
    while (end < last && plain(line[end]))
      ++end;
    out.append(line.data() + at, end - at);
    room -= end - at;
    at = end;
    if (at == line.size() || room == 0) break;
    // BEGIN SOLUTION 5.4 control characters shown
    // TASK: the next character: printable_utf8() whole, else its cat_v() form, as room allows.
    // TASK: docs/stage5-chat.md#control-characters-show-them-never-send-them
    // One character that is not plain ASCII: valid UTF-8 as it is, else a byte shown.
    const std::size_t size = printable_utf8(line.substr(at));
    char form[4];
    const std::string_view shown =
        size > 0 ? line.substr(at, size) : std::string_view(form, cat_v(line[at], form));
    if (shown.size() > room && at > 0) break;  // it starts the next piece
    out.append(shown);
    room -= std::min(room, shown.size());
    at += size > 0 ? size : 1;
    // END SOLUTION
  }
  return at;
}
