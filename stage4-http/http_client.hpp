// http_client.hpp: what a browser does with http://HOST:PORT/PATH, by hand.
//
// Purpose: URL mode of stage4-http. parse_url() splits the URL into what
// getaddrinfo needs (host, port) and what the request needs (target and
// Host header); request_for() writes the request as text; fetch() sends it
// and copies the response until http_response.hpp's parser says it is
// complete, so a server that keeps the connection open cannot make it hang.
//
// See also: http_client.cpp, http_response.hpp; RFC 9112 sections 3
// (request line) and 3.2 (Host); RFC 3986 section 3 (URL syntax).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "duplex.hpp"

struct Url {
  std::string host;         // for getaddrinfo: a name, IPv4, or IPv6 without brackets
  std::uint16_t port = 80;  // 80 unless the URL says otherwise
  std::string target;       // path and query, "/" when the URL has neither
  std::string authority;    // for Host: "example.com", "example.com:8080", "[::1]:8080"
};

// Parses http://HOST[:PORT][/PATH[?QUERY]][#FRAGMENT], HOST being a name,
// an IPv4 address or [IPv6]. Throws UsageError for anything else, https://
// included, saying why.
Url parse_url(std::string_view text);

// GET TARGET HTTP/1.1, Host, Connection: close, each line ended by CR LF,
// and the empty line that ends the head.
std::string request_for(const Url& url);

struct FetchOptions {
  bool body_only = false;  // --body: the body alone, its framing removed
  bool verbose = false;    // -v: "> " request lines, "< " response head lines
  int timeout_ms = 30000;  // -w: give up when nothing moves for this long (network or stdout)
};

// Sends `request` on `socket`, then copies the response to `output`: as
// received, or its body alone. Returns once the response is complete.
// Throws when it is malformed, cut short or too slow (the server, or an
// `output` that takes nothing for timeout_ms), after copying what arrived.
void fetch(int socket, const std::string& request, int output, const FetchOptions& options,
           Counts& counts);
