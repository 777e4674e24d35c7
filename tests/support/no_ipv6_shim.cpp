// no_ipv6_shim.cpp: a test-only LD_PRELOAD library that makes this machine
// look like one without IPv6, for the one program it is loaded into.
//
// Purpose: the stages must fall back to 0.0.0.0 where socket(AF_INET6)
// fails with EAFNOSUPPORT (IPv6 turned off in the kernel) or where
// IPV6_V6ONLY cannot be cleared (OpenBSD). Turning IPv6 off for real needs
// root and changes the whole machine; this library changes one process.
// It replaces two functions of the C library and passes every other call
// through to the real one (dlsym RTLD_NEXT):
//   NO_IPV6_SHIM unset or "socket": socket(AF_INET6, ...) fails, EAFNOSUPPORT
//   NO_IPV6_SHIM=v6only: setsockopt(IPV6_V6ONLY, 0) fails with EINVAL, as
//                        on OpenBSD; setting it to 1 (-6) still works
// Linux (glibc) only; built by tests/CMakeLists.txt, never by `make`.
//
// Usage: LD_PRELOAD=.../libno_ipv6_shim.so bin/stage1-listen -v -l 0
//   in tests: Process::start(..., without_ipv6()) (support/stages.hpp)
//
// See also: ld.so(8) (LD_PRELOAD), dlsym(3) (RTLD_NEXT), ipv6(7).

#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

bool mode_is(const char* mode) {
  const char* chosen = std::getenv("NO_IPV6_SHIM");
  if (chosen == nullptr || *chosen == '\0') chosen = "socket";
  return std::strcmp(chosen, mode) == 0;
}

// The next definition of `name` after this library: the C library's.
template <typename Function>
Function* real(const char* name) {
  return reinterpret_cast<Function*>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int socket(int domain, int type, int protocol) {
  if (domain == AF_INET6 && mode_is("socket")) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  static auto* next = real<int(int, int, int)>("socket");
  return next(domain, type, protocol);
}

extern "C" int setsockopt(int fd, int level, int name, const void* value, socklen_t size) {
  if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && mode_is("v6only") && value != nullptr &&
      size == sizeof(int) && *static_cast<const int*>(value) == 0) {
    errno = EINVAL;
    return -1;
  }
  static auto* next = real<int(int, int, int, const void*, socklen_t)>("setsockopt");
  return next(fd, level, name, value, size);
}
