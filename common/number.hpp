// number.hpp: read a number from the command line, strictly.
//
// Purpose: "3000" is a number; " 3000", "+3000", "3000x", "" and "70000" (for
// a port) are mistakes, and a mistake must be reported, not quietly turned
// into some other value (atoi("3000x") is 3000, atoi("x") is 0).
//
// See also: strtonum(3) in OpenBSD nc.
#pragma once

#include <string>
#include <string_view>

#include "error.hpp"

// Returns the value of `text`: decimal digits only, at most `max`. Throws
// UsageError naming `what` otherwise, e.g. `invalid port "x": not a decimal number`.
inline unsigned long parse_number(std::string_view text, unsigned long max, std::string_view what) {
  const std::string quoted = "invalid " + std::string(what) + " \"" + std::string(text) + "\"";
  if (text.empty()) throw UsageError(quoted + ": empty");
  unsigned long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw UsageError(quoted + ": not a decimal number");
    auto digit = static_cast<unsigned long>(c - '0');
    // Checked before multiplying, so a long string of digits cannot wrap around.
    if (value > (max - digit) / 10)
      throw UsageError(quoted + ": greater than " + std::to_string(max));
    value = value * 10 + digit;
  }
  return value;
}
