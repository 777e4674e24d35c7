// port.hpp: read a TCP port number from the command line.
//
// Purpose: a port is a 16-bit number, 0 to 65535; anything else is a usage
// error, never silently some other port.
//
// See also: number.hpp, services(5).
#pragma once

#include <cstdint>
#include <string_view>

#include "number.hpp"

// Returns the port that `text` names, 0 to 65535; throws UsageError otherwise.
// Whether 0 (any free port) is allowed is the caller's choice.
inline std::uint16_t parse_port(std::string_view text) {
  return static_cast<std::uint16_t>(parse_number(text, 65535, "port"));
}
