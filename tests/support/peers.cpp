// peers.cpp: finding real peers; loopback sockets for scripted peers.

#include "peers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "address.hpp"
#include "error.hpp"
#include "io.hpp"

namespace support {

namespace {

using Clock = std::chrono::steady_clock;

// Test sockets are close-on-exec, so that no child program inherits one and
// keeps a connection open behind the test's back.
int cloexec(int fd) {
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

sockaddr_storage loopback(int family, int port) {
  sockaddr_storage storage{};
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_loopback;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
  }
  return storage;
}

socklen_t size_of(int family) {
  return family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

// What makes a program the expected flavour: arguments to run it with, and
// words one of which its output (stdout and stderr) must contain.
struct Flavour {
  std::vector<std::string> args;
  std::vector<std::string> words;
  std::string name;
};

const std::map<std::string, Flavour>& flavours() {
  // Debian's `nc -h` starts "OpenBSD netcat"; OpenBSD's own lists -N.
  static const std::map<std::string, Flavour> table = {
      {"nc", {{"-h"}, {"OpenBSD", "Shutdown the network socket after EOF"}, "OpenBSD netcat"}},
  };
  return table;
}

std::string check_program(const std::string& name, const std::string& package) {
  const std::string install = "install " + package + " (apt-get install " + package + ")";
  const std::string path = find_program(name);
  if (path.empty()) return name + " not found: " + install;
  const auto flavour = flavours().find(name);
  if (flavour == flavours().end()) return "";
  Result result = run(path, flavour->second.args, Stdin::null(), Millis(5000));
  const std::string said = result.out + result.err;
  for (const std::string& word : flavour->second.words) {
    if (said.find(word) != std::string::npos) return "";
  }
  std::string command = name;
  for (const std::string& arg : flavour->second.args)
    command += " " + arg;
  return path + " is not " + flavour->second.name + " (`" + command +
         "` does not say so): " + install;
}

// The port of `fd`'s own end (getsockname) or of its peer's (getpeername).
int port_from(int fd, int (*name)(int, sockaddr*, socklen_t*), const char* what) {
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  check(name(fd, reinterpret_cast<sockaddr*>(&address), &size), what);
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
  return ntohs(address.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
}

}  // namespace

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

std::string find_program(std::string_view name) {
  if (name.find('/') != std::string_view::npos) {
    return access(std::string(name).c_str(), X_OK) == 0 ? std::string(name) : "";
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs.remove_prefix(colon == std::string_view::npos ? dirs.size() : colon + 1);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + std::string(name);
    struct stat info {};
    if (stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

std::string missing_program(const std::string& name, const std::string& package) {
  static std::map<std::string, std::string> known;
  const auto found = known.find(name);
  if (found != known.end()) return found->second;
  return known[name] = check_program(name, package);
}

std::string loopback_address(int family) {
  return family == AF_INET ? "127.0.0.1" : "::1";
}

int local_port(int fd) {
  return port_from(fd, getsockname, "getsockname");
}

int remote_port(int fd) {
  return port_from(fd, getpeername, "getpeername");
}

TcpQueues tcp_queues(int local, int remote) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    unsigned local_port = 0, remote_port = 0;
    unsigned long tx = 0, rx = 0;
    if (std::sscanf(line.c_str(), " %*u: %*8[0-9A-F]:%X %*8[0-9A-F]:%X %*X %lX:%lX", &local_port,
                    &remote_port, &tx, &rx) == 4 &&
        static_cast<int>(local_port) == local && static_cast<int>(remote_port) == remote) {
      return {static_cast<long>(tx), static_cast<long>(rx)};
    }
  }
  return {};
}

int unused_port(int family) {
  LoopbackServer server(family);
  return server.port();
}

LoopbackServer::LoopbackServer(int family) {
  sockaddr_storage address = loopback(family, 0);
  auto* where = reinterpret_cast<sockaddr*>(&address);
  listener_.reset(cloexec(check(socket(family, SOCK_STREAM, 0), "socket")));
  if (family == AF_INET6) {
    int on = 1;
    check(setsockopt(listener_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on),
          "setsockopt IPV6_V6ONLY");
  }
  check(bind(listener_.get(), where, size_of(family)), "bind to " + describe(where));
  check(listen(listener_.get(), 16), "listen");
  port_ = local_port(listener_.get());
}

Fd LoopbackServer::accept(Millis timeout) {
  pollfd ready{listener_.get(), POLLIN, 0};
  int events = 0;
  const auto deadline = Clock::now() + timeout;
  do {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    events = poll(&ready, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
  } while (events == -1 && errno == EINTR && Clock::now() < deadline);
  if (events != 1) {
    throw std::runtime_error("no client on port " + std::to_string(port_) + " within " +
                             std::to_string(timeout.count()) + " ms");
  }
  return Fd(cloexec(check(::accept(listener_.get(), nullptr, nullptr), "accept")));
}

Fd LoopbackServer::accept(Process& client, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  // In slices, so a client that has exited is noticed; its connection, if it
  // made one before exiting, is still in the queue and is taken first.
  while (Clock::now() < deadline) {
    const bool exited = !client.running();
    pollfd ready{listener_.get(), POLLIN, 0};
    if (poll(&ready, 1, exited ? 0 : 50) == 1) return accept(Millis(0));
    if (exited) {
      std::ostringstream why;
      why << client.program() << " ended (" << client.wait() << ") without connecting to port "
          << port_;
      throw std::runtime_error(why.str());
    }
  }
  return accept(Millis(0));
}

SilentListener::SilentListener() {
  sockaddr_storage address = loopback(AF_INET, 0);
  auto* where = reinterpret_cast<sockaddr*>(&address);
  listener_.reset(cloexec(check(socket(AF_INET, SOCK_STREAM, 0), "socket")));
  check(bind(listener_.get(), where, size_of(AF_INET)), "bind to " + describe(where));
  check(listen(listener_.get(), 0), "listen");
  port_ = local_port(listener_.get());
  address = loopback(AF_INET, port_);
  // Fill the accept queue, then check that one more connect really gets no
  // answer: a probe that is answered joins the queue and the next is tried.
  for (int i = 0; i < 4 && !silent_; ++i) {
    Fd client(cloexec(check(socket(AF_INET, SOCK_STREAM, 0), "socket")));
    const int flags = check(fcntl(client.get(), F_GETFL), "fcntl F_GETFL");
    check(fcntl(client.get(), F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
    const int result = connect(client.get(), where, size_of(AF_INET));
    if (result == -1 && errno != EINPROGRESS) check(result, "connect to " + describe(where));
    pollfd slot{client.get(), POLLOUT, 0};
    silent_ = check(poll(&slot, 1, 300), "poll") == 0;
    // The silent probe is closed: its SYN must not take a place in the queue.
    if (!silent_) queued_.push_back(std::move(client));
  }
}

void SilentListener::close() {
  listener_.reset();
  queued_.clear();
}

int try_connect(int family, int port, Fd* connection) {
  sockaddr_storage address = loopback(family, port);
  Fd client(cloexec(check(socket(family, SOCK_STREAM, 0), "socket")));
  int result = -1;
  do {
    result = connect(client.get(), reinterpret_cast<sockaddr*>(&address), size_of(family));
  } while (result == -1 && errno == EINTR);
  if (result == -1) return errno;
  if (connection) *connection = std::move(client);
  return 0;
}

Fd connect_to(int family, int port) {
  Fd connection;
  const int error = try_connect(family, port, &connection);
  if (error != 0) {
    throw std::system_error(
        error, std::generic_category(),
        "connect to " + loopback_address(family) + " port " + std::to_string(port));
  }
  return connection;
}

void send_all(int fd, std::string_view data) {
  write_all(fd, data.data(), data.size(), "send");
}

std::string receive_all(int fd, Millis timeout) {
  std::string data;
  char buffer[65536];
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) {
      throw std::runtime_error("no end of stream within " + std::to_string(timeout.count()) +
                               " ms (" + std::to_string(data.size()) + " bytes received)");
    }
    pollfd ready{fd, POLLIN, 0};
    const int events = poll(&ready, 1, static_cast<int>(left.count()));
    if (events == -1 && errno == EINTR) continue;
    check(events, "poll");
    if (events == 0) continue;
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got == -1 && errno == EINTR) continue;
    if (check(got, "receive") == 0) return data;
    data.append(buffer, static_cast<std::size_t>(got));
  }
}

void shutdown_write(int fd) {
  check(shutdown(fd, SHUT_WR), "shutdown");
}

void reset(Fd& connection) {
  linger abort_on_close{1, 0};
  check(setsockopt(connection.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close),
        "setsockopt SO_LINGER");
  connection.reset();
}

bool acknowledged(int fd, Millis timeout) {
  return eventually(
      [fd] {
        int unacknowledged = 0;
        check(ioctl(fd, SIOCOUTQ, &unacknowledged), "ioctl SIOCOUTQ");
        return unacknowledged == 0;
      },
      timeout);
}

}  // namespace support
