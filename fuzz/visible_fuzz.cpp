// visible_fuzz.cpp: a libFuzzer target for stage 5's filter of control
// characters (stage5-chat/visible.cpp), as the room uses it.
//
// Purpose: whatever a client sends, no line the room writes may hold a byte
// a terminal would obey. The input is what a client sends, cut into lines at
// each LF (a CR just before it dropped) as the room cuts it, and each line
// is framed as relay() frames it: "<NAME> " and pieces of append_visible()
// of at most `room` bytes, each ended by LF. Checked, on top of the
// sanitizers' memory checks:
//   - every output line is valid UTF-8 holding no C0 byte but tab, no DEL
//     and no C1 character (U+0080-U+009F), and ends with its one LF;
//   - each piece takes at least one byte of the line, holds at most `room`
//     bytes (or one character's form, 4 at most, when room is smaller), and
//     is the visible form of the bytes it took: nothing lost, nothing split;
//   - printable text (a byte-by-byte model, its own UTF-8 decoder) passes
//     as it is, and any other byte becomes its cat -v form.
// A broken promise aborts, which libFuzzer reports as a crash with the input.
//
// Input: byte 0 picks the piece size (1 to 63, or 4096 when 0), then the
// bytes a client sends.
//
// Usage: fuzz/run.sh [BUILD_DIR] [SECONDS] visible
//
// See also: stage5-chat/visible.hpp, stage5-chat/chat.cpp (relay),
// tests/visible_test.cpp, crlf_fuzz.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "visible.hpp"

namespace {

void check(bool promise_kept, const char* promise) {
  if (promise_kept) return;
  std::fprintf(stderr, "broken promise: %s\n", promise);
  std::abort();
}

// The code point of the UTF-8 character at `text`, and its size; size 0
// when the bytes there are no valid UTF-8 character (of 2 bytes or more).
struct Decoded {
  std::uint32_t code = 0;
  std::size_t size = 0;
};

Decoded decode(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t size = byte(0) >= 0xF0 ? 4 : byte(0) >= 0xE0 ? 3 : byte(0) >= 0xC0 ? 2 : 0;
  if (size == 0 || byte(0) >= 0xF8 || text.size() < size) return {};
  std::uint32_t code = byte(0) & (0x7F >> size);
  for (std::size_t i = 1; i < size; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return {};
    code = code << 6 | (byte(i) & 0x3F);
  }
  const std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < least[size] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return {};
  return {code, size};
}

// The visible form, one byte or character at a time.
std::string model(std::string_view line) {
  std::string out;
  for (std::size_t at = 0; at < line.size();) {
    const auto byte = static_cast<unsigned char>(line[at]);
    const Decoded character = decode(line.substr(at));
    if ((byte >= 0x20 && byte < 0x7F) || byte == '\t') {
      out += line[at++];
    } else if (character.size > 0 && character.code > 0x9F) {
      out.append(line.substr(at, character.size));
      at += character.size;
    } else {
      const unsigned low = byte & 0x7F;
      if (byte & 0x80) out += "M-";
      if (low < 0x20 || low == 0x7F) out += '^';
      out += static_cast<char>(low < 0x20 || low == 0x7F ? low ^ 0x40 : low);
      ++at;
    }
  }
  return out;
}

// A line as it reaches a terminal: valid UTF-8, nothing a terminal obeys.
void check_safe(std::string_view line) {
  check(!line.empty() && line.back() == '\n', "each line ends with LF");
  line.remove_suffix(1);
  for (std::size_t at = 0; at < line.size();) {
    const auto byte = static_cast<unsigned char>(line[at]);
    if (byte < 0x80) {
      check(byte >= 0x20 || byte == '\t', "no C0 byte but tab, and no LF, inside a line");
      check(byte != 0x7F, "no DEL");
      ++at;
      continue;
    }
    const Decoded character = decode(line.substr(at));
    check(character.size > 0, "only valid UTF-8");
    check(character.code > 0x9F, "no C1 character");
    at += character.size;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t room = bytes[0] % 64 == 0 ? 4096 : bytes[0] % 64;
  std::string_view sent(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  while (!sent.empty()) {
    const std::size_t lf = sent.find('\n');
    std::string_view line = sent.substr(0, lf);
    sent.remove_prefix(lf == std::string_view::npos ? sent.size() : lf + 1);
    if (lf != std::string_view::npos && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string whole = visible(line);
    check(whole == model(line), "printable text as it is, any other byte as cat -v");
    std::string joined;
    do {
      std::string text = "<alice> ";
      const std::size_t taken = append_visible(line, room, text);
      check(taken > 0 || line.empty(), "a piece takes at least one byte");
      const std::size_t shown = text.size() - 8;
      check(shown <= room || (shown <= 4 && taken <= 4), "a piece holds at most room bytes");
      check(text.compare(8, shown, visible(line.substr(0, taken))) == 0,
            "a piece is the visible form of what it took");
      joined.append(text, 8, shown);
      text.push_back('\n');
      check_safe(text);
      line.remove_prefix(taken);
    } while (!line.empty());
    check(joined == whole, "the pieces make up the whole line, in order");
  }
  return 0;
}
