// address.hpp: print a socket address as "ADDRESS port PORT".
//
// Purpose: messages and -v lines show numeric addresses, as nc -n does, so
// they never wait for a name server. An IPv4 client of a dual-stack listener
// arrives as an IPv4-mapped IPv6 address (::ffff:127.0.0.1); it is shown as
// the plain IPv4 address the person typed.
//
// See also: inet_ntop(3), ipv6(7) on IPV6_V6ONLY, RFC 4291 section 2.5.5.2.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

// Returns e.g. "127.0.0.1 port 3000" or "::1 port 3000".
inline std::string describe(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      // The last four bytes of ::ffff:a.b.c.d are the IPv4 address.
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
    port = ntohs(v6->sin6_port);
  }
  return std::string(text) + " port " + std::to_string(port);
}
