// address.hpp: print a socket address as "ADDRESS port PORT" or "ADDRESS:PORT".
//
// Purpose: messages and -v lines show numeric addresses, as nc -n does, so
// they never wait for a name server. An IPv4 client of a dual-stack listener
// arrives as an IPv4-mapped IPv6 address (::ffff:127.0.0.1); it is shown as
// the plain IPv4 address the person typed.
//
// See also: inet_ntop(3), ipv6(7) on IPV6_V6ONLY, RFC 4291 section 2.5.5.2,
// RFC 3986 section 3.2.2 (brackets around an IPv6 address with a port).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

// The numeric address alone, e.g. "127.0.0.1" or "::1"; "?" if not IP.
inline std::string numeric_address(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
  } else if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      // The last four bytes of ::ffff:a.b.c.d are the IPv4 address.
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
  }
  return text;
}

// The port, in host byte order; 0 if not IP. Both structures keep it at the
// same place.
inline unsigned port_of(const sockaddr* address) {
  if (address->sa_family != AF_INET && address->sa_family != AF_INET6) return 0;
  return ntohs(reinterpret_cast<const sockaddr_in*>(address)->sin_port);
}

// Returns e.g. "127.0.0.1 port 3000" or "::1 port 3000".
inline std::string describe(const sockaddr* address) {
  return numeric_address(address) + " port " + std::to_string(port_of(address));
}

// Returns e.g. "127.0.0.1:3000" or "[::1]:3000": the brackets keep an IPv6
// address's colons apart from the port's.
inline std::string address_and_port(const sockaddr* address) {
  std::string text = numeric_address(address);
  if (text.find(':') != std::string::npos) text = "[" + text + "]";
  return text + ":" + std::to_string(port_of(address));
}
