// port.hpp: read a TCP port number from the command line, strictly.
//
// Purpose: "3000" is a port; " 3000", "+3000", "3000x", "" and "70000" are
// mistakes, and a mistake must be reported, not quietly turned into some
// other port (atoi("3000x") is 3000, atoi("x") is 0, which means "any port").
//
// See also: strtonum(3) in OpenBSD nc, services(5).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "error.hpp"

// Returns the port that `text` names: decimal digits only, 0 to 65535.
// Throws UsageError otherwise. Whether 0 is allowed is the caller's choice.
inline std::uint16_t parse_port(std::string_view text) {
  const std::string quoted = "invalid port \"" + std::string(text) + "\"";
  if (text.empty()) throw UsageError(quoted + ": empty");
  unsigned long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw UsageError(quoted + ": not a decimal number");
    value = value * 10 + static_cast<unsigned long>(c - '0');
    if (value > 65535) throw UsageError(quoted + ": greater than 65535");
  }
  return static_cast<std::uint16_t>(value);
}
