// crlf_fuzz.cpp: a libFuzzer target for -C's CR insertion in stage4-http.
//
// Purpose: with -C, each LF read from stdin that does not follow a CR leaves
// as CR LF. add_cr() does it in place, one read() at a time, and a read may
// end between a CR and its LF. The input is text cut into reads at points
// the fuzzer chooses; checked, on top of the sanitizers' memory checks (each
// read sits in a buffer of exactly twice its size, the room fill() leaves):
//   - cut anywhere, or one byte at a time, the output is the same as from
//     the whole text in one read;
//   - it is the text with a CR added before each LF that does not follow a
//     CR, and nothing else changed (a plain byte-by-byte model);
//   - every LF in it follows a CR.
// A broken promise aborts, which libFuzzer reports as a crash with the input.
//
// add_cr() lives in duplex.cpp's anonymous namespace: the whole file is
// included here, so it is fuzzed as it is, without a change for the fuzzer.
//
// Input: byte 0 = n (0 to 7), then n cut lengths of 1 to 64 (a byte each,
// cycled), then the text.
//
// Usage: fuzz/run.sh [BUILD_DIR] [SECONDS] crlf
//
// See also: stage4-http/duplex.cpp (add_cr, fill), url_fuzz.cpp.
#include "../stage4-http/duplex.cpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool promise_kept, const char* promise) {
  if (promise_kept) return;
  std::fprintf(stderr, "broken promise: %s\n", promise);
  std::abort();
}

// The text as -C should send it, one byte at a time, no buffer tricks.
std::string model(std::string_view text) {
  std::string out;
  char previous = 0;
  for (char c : text) {
    if (c == '\n' && previous != '\r') out += '\r';
    out += c;
    previous = c;
  }
  return out;
}

// Runs add_cr() over `text` cut into reads of the given lengths, cycled.
std::string with_reads(std::string_view text, const std::vector<std::size_t>& lengths) {
  std::string out;
  char previous = 0;
  for (std::size_t at = 0, i = 0; at < text.size(); ++i) {
    const std::size_t size = std::min(lengths[i % lengths.size()], text.size() - at);
    // Exactly the room fill() leaves: AddressSanitizer stops a write past it.
    std::unique_ptr<char[]> buffer(new char[2 * size]);
    std::memcpy(buffer.get(), text.data() + at, size);
    const std::size_t grown = add_cr(buffer.get(), size, previous);
    check(grown >= size && grown <= 2 * size, "a read grows, at most to twice its size");
    out.append(buffer.get(), grown);
    at += size;
  }
  char untouched = 'x';
  check(add_cr(nullptr, 0, untouched) == 0 && untouched == 'x', "an empty read changes nothing");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cuts = std::min<std::size_t>(bytes[0] % 8, size - 1);
  std::vector<std::size_t> lengths;
  for (std::size_t i = 1; i <= cuts; ++i)
    lengths.push_back(1 + bytes[i] % 64);
  const std::string_view text(reinterpret_cast<const char*>(bytes) + 1 + cuts, size - 1 - cuts);

  const std::string whole = with_reads(text, {std::max<std::size_t>(text.size(), 1)});
  check(whole == model(text), "a CR is added before each lone LF, and nothing else changes");
  check(with_reads(text, {1}) == whole, "one byte per read gives the same as one read");
  if (!lengths.empty()) check(with_reads(text, lengths) == whole, "cut anywhere, the same");
  for (std::size_t i = 0; i < whole.size(); ++i) {
    check(whole[i] != '\n' || (i > 0 && whole[i - 1] == '\r'), "every LF follows a CR");
  }
  return 0;
}
