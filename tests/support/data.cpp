// data.cpp: temporary folders, files, random bytes, byte comparison.

#include "data.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <stdexcept>

namespace support {

TempDir::TempDir() {
  const char* dir = std::getenv("TMPDIR");
  std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/nc-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::file(std::string_view name) const {
  return path_ + "/" + std::string(name);
}

std::string random_bytes(std::size_t size, std::uint32_t seed) {
  std::string data;
  data.reserve(size);
  for (int value = 0; value < 256 && data.size() < size; ++value) {
    data.push_back(static_cast<char>(value));
  }
  data.append(std::min<std::size_t>(size - data.size(), 64), '\0');
  std::mt19937 generator(seed);
  while (data.size() < size) {
    std::uint32_t word = generator();
    for (int i = 0; i < 4 && data.size() < size; ++i, word >>= 8) {
      data.push_back(static_cast<char>(word & 0xff));
    }
  }
  return data;
}

Lines lines_of(const std::string& text) {
  Lines lines;
  for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {

// Up to 16 bytes from `offset`, in hex.
std::string hex_around(std::string_view data, std::size_t offset) {
  std::ostringstream out;
  out << std::hex << std::setfill('0');
  for (std::size_t i = offset; i < data.size() && i < offset + 16; ++i) {
    out << std::setw(2) << (static_cast<unsigned>(data[i]) & 0xff) << ' ';
  }
  return data.size() <= offset ? "(nothing)" : out.str();
}

}  // namespace

::testing::AssertionResult same_bytes(std::string_view expected, std::string_view actual) {
  if (expected == actual) return ::testing::AssertionSuccess();
  const auto mismatch =
      std::mismatch(expected.begin(), expected.end(), actual.begin(), actual.end());
  const auto at = static_cast<std::size_t>(mismatch.first - expected.begin());
  return ::testing::AssertionFailure()
         << "expected " << expected.size() << " bytes, got " << actual.size()
         << "; first difference at offset " << at << "\n  expected: " << hex_around(expected, at)
         << "\n  actual:   " << hex_around(actual, at);
}

}  // namespace support
