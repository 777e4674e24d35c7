// fake_hosts_shim.cpp: a test-only LD_PRELOAD library that gives one
// program a name of the test's own, resolved to addresses in the order the
// test chose, whatever this machine's /etc/hosts says.
//
// Purpose: "every address getaddrinfo returns is tried in order" can only be
// tested with a name that has several addresses. "localhost" has two on
// some machines (127.0.0.1 and ::1) and one on others, so a test built on it
// skips where it is needed most. Editing /etc/hosts needs root and changes
// the whole machine; a mount namespace needs privileges many machines deny.
// This library changes one process: getaddrinfo() of the name in
// FAKE_HOSTS_SHIM answers with its addresses, each resolved by the real
// getaddrinfo as a numeric address (AI_NUMERICHOST), with the caller's
// service and hints, and chained in the order given. Every other name, and
// every other call, goes to the C library (dlsym RTLD_NEXT).
//   FAKE_HOSTS_SHIM=fallback.test=127.0.0.2,127.0.0.1
// An address of a family the hints exclude (-4, -6) is left out, as
// getaddrinfo leaves out a hosts entry of that family.
// Linux (glibc) only; built by tests/CMakeLists.txt, never by `make`.
//
// Usage: export FAKE_HOSTS_SHIM=fallback.test=127.0.0.2,127.0.0.1
//        LD_PRELOAD=.../libfake_hosts_shim.so bin/stage2-connect -v fallback.test 3000
//   in tests: Process::start(..., with_host(NAME, {ADDRESS, ...})) (support/stages.hpp)
//
// See also: ld.so(8) (LD_PRELOAD), dlsym(3) (RTLD_NEXT), getaddrinfo(3),
// no_ipv6_shim.cpp (the same technique).

#include <dlfcn.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using GetAddrInfo = int(const char*, const char*, const addrinfo*, addrinfo**);

// The next definition of getaddrinfo after this library: the C library's
// (or the sanitizer runtime's, which calls the C library's).
GetAddrInfo* real_getaddrinfo() {
  static auto* next = reinterpret_cast<GetAddrInfo*>(dlsym(RTLD_NEXT, "getaddrinfo"));
  return next;
}

// The addresses of `node` in FAKE_HOSTS_SHIM ("NAME=A,B,..."), comma
// separated; "" when `node` is not that name.
std::string fake_addresses(const char* node) {
  const char* setting = std::getenv("FAKE_HOSTS_SHIM");
  if (node == nullptr || setting == nullptr) return "";
  const std::string entry = setting;
  const std::size_t equals = entry.find('=');
  if (equals == std::string::npos || entry.compare(0, equals, node) != 0) return "";
  return entry.substr(equals + 1);
}

// Each address resolved on its own, the results chained in order. glibc's
// freeaddrinfo() frees a list entry by entry, so the caller frees the chain
// as it would one answer.
int resolve_in_order(const std::string& addresses, const char* service, const addrinfo* hints,
                     addrinfo** result) {
  addrinfo numeric{};
  if (hints != nullptr) numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  addrinfo* first = nullptr;
  addrinfo** tail = &first;
  int error = EAI_NONAME;
  for (std::size_t start = 0; start <= addresses.size();) {
    std::size_t comma = addresses.find(',', start);
    if (comma == std::string::npos) comma = addresses.size();
    const std::string address = addresses.substr(start, comma - start);
    start = comma + 1;
    addrinfo* found = nullptr;
    const int status = real_getaddrinfo()(address.c_str(), service, &numeric, &found);
    if (status != 0) {
      error = status;  // e.g. an IPv6 address under -4: left out
      continue;
    }
    *tail = found;
    while (*tail != nullptr)
      tail = &(*tail)->ai_next;
  }
  if (first == nullptr) return error;
  *result = first;
  return 0;
}

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** result) {
  const std::string addresses = fake_addresses(node);
  if (addresses.empty()) return real_getaddrinfo()(node, service, hints, result);
  return resolve_in_order(addresses, service, hints, result);
}
