// data.hpp: test data: temporary folders, files, random bytes, and a
// comparison of several megabytes that reports where they differ.
//
// Purpose: transfers are checked byte for byte on data that contains every
// byte value (NUL, CR, LF, 0xFF), in amounts that fill socket buffers many
// times over. EXPECT_EQ on two 4 MB strings would print both; same_bytes()
// prints the sizes and the first difference instead.
//
// See also: process.hpp (Stdin::file, Stdout::file).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace support {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` in this folder (the file is not created).
  std::string file(std::string_view name) const;

 private:
  std::string path_;
};

// `size` bytes, the same for the same `seed`: first every byte value 0 to
// 255 in order, then a run of NUL bytes, then pseudo-random bytes.
std::string random_bytes(std::size_t size, std::uint32_t seed = 1);

using Lines = std::vector<std::string>;

// The whole lines of `text`, each without its "\n" (an unfinished last
// line is left out: it may still be being written).
Lines lines_of(const std::string& text);

void write_file(const std::string& path, std::string_view data);  // throws on failure
std::string read_file(const std::string& path);                   // throws if it cannot be read

// Success when `actual` is exactly `expected`; otherwise says how the sizes
// differ and shows the first differing offset with a few bytes around it.
::testing::AssertionResult same_bytes(std::string_view expected, std::string_view actual);

}  // namespace support
