// poll.h as macOS declares it, on Linux: nfds_t, poll()'s count of slots,
// is 32 bits there (unsigned int) and 64 bits here (unsigned long).
//
// Purpose: found ahead of the system's header (-I), it lets a Linux build
// see what a macOS build sees, so that clang's -Wshorten-64-to-32 catches a
// size_t handed to poll() without a cast (tests/narrowing_test.sh). The
// system's header is still used for everything else (struct pollfd,
// POLLIN...), with its own nfds_t and poll() renamed out of the way.
#pragma once

#define nfds_t linux_nfds_t
#define poll linux_poll
#include_next <poll.h>
#undef poll
#undef nfds_t

typedef unsigned int nfds_t;
extern "C" int poll(struct pollfd* fds, nfds_t nfds, int timeout);
