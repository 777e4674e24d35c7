// peers.hpp: the other end of a connection: real programs such as OpenBSD
// nc, and tiny scripted TCP servers and clients inside the test process.
//
// Purpose: a stage is checked against the peers a student will meet (nc in
// both roles) and against peers whose every move the test controls. Only
// loopback addresses (127.0.0.1, ::1) and ports chosen by the system are
// used: tests send nothing off this machine and never collide on a port.
//
// Usage:
//   TEST(Stage1, Nc) { REQUIRE_PROGRAM("nc", "netcat-openbsd"); ... }
//   LoopbackServer server(AF_INET6);     // ::1, some free port
//   Fd peer = server.accept();
//   Fd client = connect_to(AF_INET, port);
//
// See also: process.hpp; nc(1) (OpenBSD netcat).
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

#include "fd.hpp"
#include "process.hpp"

namespace support {

// True when the environment variable CI is "true": a missing peer then fails
// the test instead of skipping it.
bool in_ci();

// The full path of `name` found in PATH, or "" if there is none.
std::string find_program(std::string_view name);

// Why `name` cannot serve as a peer, or "" if it can: not found in PATH, or
// not the expected flavour ("nc" must be OpenBSD netcat: its `nc -h`
// mentions OpenBSD or its -N option). The message tells how to install
// `package`, e.g. "nc not found: install netcat-openbsd (apt-get install
// netcat-openbsd)". The answer for each name is computed once.
std::string missing_program(const std::string& name, const std::string& package);

// In a test body: skip the test when the program is missing, or fail it when
// CI=true, where every peer must be installed.
#define REQUIRE_PROGRAM(name, package)                                          \
  do {                                                                          \
    const std::string why_missing_ = ::support::missing_program(name, package); \
    if (!why_missing_.empty()) {                                                \
      if (::support::in_ci()) FAIL() << why_missing_ << " (required: CI=true)"; \
      GTEST_SKIP() << why_missing_;                                             \
    }                                                                           \
  } while (false)

// In a test body: skip the test with `why` (anything streamable), or fail
// it when CI=true, where every test must run in full.
#define SKIP_OR_FAIL_IN_CI(why)                                      \
  do {                                                               \
    if (::support::in_ci()) FAIL() << why << " (required: CI=true)"; \
    GTEST_SKIP() << why;                                             \
  } while (false)

// "127.0.0.1" for AF_INET, "::1" for AF_INET6.
std::string loopback_address(int family);

// The local port of a socket (getsockname), and the port of its peer
// (getpeername).
int local_port(int fd);
int remote_port(int fd);

// The bytes the kernel holds on the IPv4 connection from local port
// `local` to remote port `remote` (/proc/net/tcp, Linux): unsent
// (tx_queue) and unread (rx_queue); -1 each when there is no such socket.
struct TcpQueues {
  long unsent = -1;
  long unread = -1;
};
TcpQueues tcp_queues(int local, int remote);

// A port on the loopback address that was free a moment ago: bound to port
// 0, read, closed. Connecting to it is refused (unless, rarely, another
// program takes it in between).
int unused_port(int family = AF_INET);

// A listening socket on 127.0.0.1 or ::1 (IPV6_V6ONLY), port chosen by the
// system: a scripted server, or a port held busy.
class LoopbackServer {
 public:
  explicit LoopbackServer(int family = AF_INET);
  int port() const { return port_; }
  int fd() const { return listener_.get(); }
  // The next client; throws std::runtime_error after `timeout`.
  Fd accept(Millis timeout = kStartTimeout);
  // The connection `client` makes; throws as soon as it has exited without
  // one (a program stopped at a stub), not only after `timeout`.
  Fd accept(Process& client, Millis timeout = kStartTimeout);
  void close() { listener_.reset(); }

 private:
  Fd listener_;
  int port_ = 0;
};

// A listener on 127.0.0.1 that answers no SYN, as a host behind a firewall
// that drops them, without leaving loopback: its accept queue (backlog 0) is
// full of connections nobody accepts, and Linux drops a SYN to a full queue
// (tcp_abort_on_overflow off, the default). A connect to it waits, the
// kernel resending its SYN, until it gives up or close() is called: the
// next SYN is then refused (RST). silent() is false where this system
// answers such a SYN anyway; a test skips then.
class SilentListener {
 public:
  SilentListener();
  int port() const { return port_; }
  bool silent() const { return silent_; }
  void close();

 private:
  Fd listener_;
  std::vector<Fd> queued_;
  int port_ = 0;
  bool silent_ = false;
};

// In a test body, after `SilentListener server;`: skip the test where this
// system answers it.
#define REQUIRE_SILENT(listener)                                             \
  do {                                                                       \
    if (!(listener).silent())                                                \
      GTEST_SKIP() << "this system answers connects to a full accept queue"; \
  } while (false)

// Connects to the loopback address of `family` at `port`; throws
// std::system_error "connect to ::1 port N: reason" on failure.
Fd connect_to(int family, int port);
// The same, returning 0 or the errno of the failure (e.g. ECONNREFUSED).
int try_connect(int family, int port, Fd* connection = nullptr);

// Sends all of `data` (write_all); throws on failure.
void send_all(int fd, std::string_view data);
// Reads until end of stream; throws std::runtime_error after `timeout`.
std::string receive_all(int fd, Millis timeout = kExitTimeout);
// shutdown(SHUT_WR): the peer reads end of stream, this side can still read.
void shutdown_write(int fd);
// Closes `connection` so that the other end receives RST rather than FIN
// (SO_LINGER with a zero timeout): a peer that resets the connection.
void reset(Fd& connection);
// Waits until the other end has acknowledged every byte sent on `fd` (tcp(7)
// SIOCOUTQ, Linux): they are in its kernel then, and a reset that follows
// cannot overtake them. False if some are still unacknowledged at `timeout`.
bool acknowledged(int fd, Millis timeout = kStartTimeout);

}  // namespace support
