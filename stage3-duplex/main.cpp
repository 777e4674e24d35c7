// stage3-duplex: both directions at once, as nc does. Bob and Alice both
// type, and both see what the other types, as soon as it is typed.
//
// The lesson: one thread can follow several file descriptors with poll(),
// which sleeps until one of them is ready, so the program never blocks on
// the keyboard while the network has something to say (duplex.cpp). The
// directions end separately: at the end of stdin, shutdown(SHUT_WR) tells
// the peer "no more from me" while its reply still comes in (half-close).
// poll() also gives timeouts: -w bounds connecting and silence.
//
// Usage: stage3-duplex [-v] [-4|-6] [-w SECONDS] -l [ADDRESS] PORT
//        stage3-duplex [-v] [-4|-6] [-w SECONDS] HOST PORT
//   e.g. stage3-duplex -l 3000    and, elsewhere,    stage3-duplex localhost 3000
//
// See also: docs/stage3-duplex.md, duplex.cpp; poll(2), shutdown(2),
// connect(2) on EINPROGRESS; OpenBSD nc's readwrite(); Stevens, UNIX Network
// Programming, section 6.7.

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "address.hpp"
#include "duplex.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "number.hpp"
#include "port.hpp"

namespace {

const char kUsage[] =
    "usage: stage3-duplex [-v] [-4|-6] [-w SECONDS] -l [ADDRESS] PORT\n"
    "       stage3-duplex [-v] [-4|-6] [-w SECONDS] HOST PORT\n"
    "  HOST PORT        connect to HOST (a name or an address), then talk both ways\n"
    "  -l ADDRESS PORT  listen on ADDRESS (numeric) and PORT, accept one client\n"
    "  -l PORT          listen on every address, IPv4 and IPv6\n"
    "  -4, -6           IPv4 only, IPv6 only\n"
    "  -w SECONDS       give up connecting, or when nothing moves, after SECONDS\n"
    "  -v               tell what happens on stderr\n"
    "  -h, --help       show this help\n";

struct Options {
  bool help = false;
  bool verbose = false;
  bool listen = false;
  int family = AF_UNSPEC;  // AF_INET for -4, AF_INET6 for -6
  std::string host;        // HOST, or ADDRESS (empty for every address)
  std::uint16_t port = 0;
  int timeout_ms = -1;  // -w in milliseconds, as poll() takes it; -1 waits forever
};

// The option getopt stopped at: optopt is the letter, even inside a group
// such as -vx; a long option (--name) is the whole word. For a long option
// given a value it does not take (--help=1), getopt sets optopt to the
// option's own letter: the whole word, not -h, is what was typed.
std::string option_name(char* argv[]) {
  const std::string word = argv[optind - 1];
  const bool long_with_value = word.rfind("--", 0) == 0 && word.find('=') != std::string::npos;
  return optopt != 0 && !long_with_value ? std::string("-") + static_cast<char>(optopt) : word;
}

// -w SECONDS, 1 to a day, in milliseconds as poll() takes it.
int parse_timeout(const char* text) {
  unsigned long seconds = parse_number(text, 86400, "timeout");
  if (seconds == 0) throw UsageError("invalid timeout \"0\": at least 1 second");
  return static_cast<int>(seconds) * 1000;
}

Options parse_args(int argc, char* argv[]) {
  static const option kLongOptions[] = {{"help", no_argument, nullptr, 'h'}, {}};
  Options options;
  opterr = 0;  // getopt stays quiet: main prints the error and the usage
  for (int c; (c = getopt_long(argc, argv, ":hvl46w:", kLongOptions, nullptr)) != -1;) {
    switch (c) {
      case 'h': options.help = true; break;
      case 'v': options.verbose = true; break;
      case 'l': options.listen = true; break;
      case '4': options.family = AF_INET; break;
      case '6': options.family = AF_INET6; break;
      case 'w': options.timeout_ms = parse_timeout(optarg); break;
      case ':': throw UsageError("option " + option_name(argv) + " needs a value");
      default: throw UsageError("unknown option " + option_name(argv));
    }
  }
  if (options.help) return options;
  int operands = argc - optind;
  if (operands != 2 && !(options.listen && operands == 1)) {
    throw UsageError("expected -l [ADDRESS] PORT or HOST PORT");
  }
  if (operands == 2) options.host = argv[optind];
  options.port = parse_port(argv[argc - 1]);
  if (!options.listen && options.port == 0) throw UsageError("port 0 is only for listening");
  return options;
}

// The address to listen on. Without ADDRESS, the wildcard: "::" serves IPv4
// and IPv6 clients alike (IPV6_V6ONLY off, see open_listener), "0.0.0.0"
// with -4. ADDRESS must be numeric: turning names into addresses is stage 2.
sockaddr_storage listen_address(const Options& options) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  const char* host = options.host.c_str();
  if (options.host.empty() && options.family == AF_INET) {
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (options.host.empty()) {
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
  } else if (options.family != AF_INET6 && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else if (options.family != AF_INET && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
  } else {
    throw UsageError("invalid address \"" + options.host + "\": not a numeric " +
                     (options.family == AF_INET    ? "IPv4 address"
                      : options.family == AF_INET6 ? "IPv6 address"
                                                   : "IPv4 or IPv6 address"));
  }
  // Both structures keep the port at the same place, in network byte order.
  v4->sin_port = htons(options.port);
  return storage;
}

socklen_t address_size(const sockaddr_storage& address) {
  return address.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

// The default listen ("::", IPv4 and IPv6 clients alike) needs IPv6, and a
// socket that takes both families. Some systems have no IPv6 (turned off in
// the kernel, as in some containers: socket() fails with EAFNOSUPPORT), some
// keep IPv6 sockets IPv6 only (IPV6_V6ONLY cannot be cleared, as on OpenBSD).
// There the default falls back to 0.0.0.0, so IPv4 clients still get in, and
// -v says why. -6 and an ADDRESS ask for that very address: they still fail.
bool may_fall_back(const Options& options) {
  return options.host.empty() && options.family == AF_UNSPEC;
}

// The options for 0.0.0.0 instead, after `attempt` failed with errno.
Options ipv4_instead(Options options, const char* attempt) {
  const std::string reason = std::strerror(errno);
  if (options.verbose) {
    std::cerr << "no dual-stack socket here (" + std::string(attempt) + ": " + reason +
                     "): listening on IPv4 only\n";
  }
  options.family = AF_INET;
  return options;
}

// socket, bind, listen: a socket that the kernel fills with connections.
Fd open_listener(const Options& options) {
  sockaddr_storage address = listen_address(options);
  auto* where = reinterpret_cast<sockaddr*>(&address);
  int fd = socket(address.ss_family, SOCK_STREAM, 0);
  if (fd == -1 && errno == EAFNOSUPPORT && may_fall_back(options)) {
    return open_listener(ipv4_instead(options, "socket"));
  }
  Fd listener(check(fd, "socket"));

  // Without SO_REUSEADDR, restarting the server right after a conversation
  // fails for a minute or two while the old connection sits in TIME_WAIT.
  // It does not let two programs listen on the same port: that stays EADDRINUSE.
  int on = 1;
  check(setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on),
        "setsockopt SO_REUSEADDR");
  if (address.ss_family == AF_INET6) {
    // Off: one IPv6 socket also accepts IPv4 clients (as ::ffff:a.b.c.d).
    // On with -6. Systems differ in the default, so always say which.
    int v6only = options.family == AF_INET6;
    int set = setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    if (set == -1 && may_fall_back(options)) {
      return open_listener(ipv4_instead(options, "setsockopt IPV6_V6ONLY"));
    }
    check(set, "setsockopt IPV6_V6ONLY");
  }
  check(bind(listener.get(), where, address_size(address)), "bind to " + describe(where));
  // A backlog of 1: this program serves one client, and nc does the same.
  check(listen(listener.get(), 1), "listen on " + describe(where));
  return listener;
}

// Waits for the first client, then closes the listening socket: later
// clients are refused, as with nc -l.
Fd accept_client(const Options& options) {
  Fd listener = open_listener(options);
  sockaddr_storage address{};
  auto* where = reinterpret_cast<sockaddr*>(&address);
  socklen_t size = sizeof address;
  if (options.verbose) {
    // One << per line: std::cerr writes each << at once, and a script that
    // reads this line must never see half of it.
    // getsockname tells the port the system chose when PORT was 0.
    check(getsockname(listener.get(), where, &size), "getsockname");
    std::cerr << "listening on " + describe(where) + "\n";
  }
  int client = -1;
  do {
    size = sizeof address;
    client = accept(listener.get(), where, &size);
  } while (client == -1 && errno == EINTR);
  Fd connection(check(client, "accept"));
  if (options.verbose) std::cerr << "connection from " + describe(where) + "\n";
  return connection;
}

// connect() within `timeout_ms` (-1: no limit); false with errno set if not.
// A blocking connect() to a silent host waits for the system's own limit,
// minutes. A non-blocking one returns at once with EINPROGRESS, and poll()
// waits for the socket to become writable: connected, or failed, as
// SO_ERROR then tells.
bool connect_within(int fd, const addrinfo* address, int timeout_ms) {
  int flags = check(fcntl(fd, F_GETFL), "fcntl F_GETFL");
  check(fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
  if (connect(fd, address->ai_addr, address->ai_addrlen) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd slot{fd, POLLOUT, 0};
  int ready = poll(&slot, 1, timeout_ms);
  if (ready == -1) return false;
  int error = ETIMEDOUT;
  socklen_t size = sizeof error;
  if (ready == 1) check(getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size), "getsockopt SO_ERROR");
  errno = error;
  return error == 0;
}

// What is left of `timeout_ms` since `start`, for poll(): -1 stays "no
// limit", and a limit already spent is 0: no attempt follows then.
int time_left(int timeout_ms, std::chrono::steady_clock::time_point start) {
  if (timeout_ms < 0) return -1;
  auto spent = std::chrono::steady_clock::now() - start;
  auto spent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(spent).count();
  return static_cast<int>(std::max<long long>(0, timeout_ms - spent_ms));
}

// getaddrinfo, then socket and connect on each address found, in order,
// until one connects. "localhost" may mean ::1 and 127.0.0.1: a server
// listening on only one of them is still reached.
Fd connect_to_server(const Options& options) {
  addrinfo hints{};
  hints.ai_family = options.family;  // AF_UNSPEC: IPv4 and IPv6 addresses alike
  hints.ai_socktype = SOCK_STREAM;   // TCP
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options.port);
  check_gai(getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found), options.host);
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);

  int error = 0;
  std::string where;
  const auto start = std::chrono::steady_clock::now();  // -w bounds all the attempts together
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    where = describe(address->ai_addr);
    // Said first: connect() may wait minutes on an address that never answers.
    if (options.verbose) std::cerr << "trying " + where + "\n";
    Fd connection(socket(address->ai_family, address->ai_socktype, address->ai_protocol));
    if (connection &&
        connect_within(connection.get(), address, time_left(options.timeout_ms, start))) {
      if (options.verbose) std::cerr << "connected to " + where + "\n";
      return connection;
    }
    error = errno;
    // Once -w is spent, the next address would have no time at all, and be
    // blamed for a wait that was not its own: this attempt is the last.
    if (address->ai_next == nullptr || time_left(options.timeout_ms, start) == 0) break;
    // The last failure is the error main() prints: said once, not twice.
    if (options.verbose) {
      std::cerr << "connect to " + where + " failed: " + std::strerror(error) + "\n";
    }
  }
  throw std::system_error(error, std::generic_category(), "connect to " + where);
}

void transfer(const Options& options, Counts& counts) {
  Fd connection = options.listen ? accept_client(options) : connect_to_server(options);
  DuplexOptions duplex_options;
  duplex_options.idle_timeout_ms = options.timeout_ms;
  duplex_options.input_is_terminal = isatty(STDIN_FILENO);
  duplex_options.verbose = options.verbose;
  duplex(STDIN_FILENO, connection.get(), STDOUT_FILENO, duplex_options, counts);
}

// "bin/stage1-listen" is called "stage1-listen" in messages.
std::string program_name(const char* argv0) {
  std::string_view path = argv0;
  return std::string(path.substr(path.find_last_of('/') + 1));
}

}  // namespace

int main(int argc, char* argv[]) {
  const std::string program = program_name(argc > 0 ? argv[0] : "nc");
  // A write to a connection the peer has closed raises SIGPIPE, which kills
  // the process silently. Ignored, the write fails with EPIPE instead, and
  // the program says so.
  std::signal(SIGPIPE, SIG_IGN);
  // Started with stdin or stdout closed (<&-), the program would get its
  // socket as descriptor 0 or 1 and talk to itself: /dev/null fills the gap.
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (fcntl(fd, F_GETFD) == -1) open("/dev/null", O_RDWR);
  }
  Options options;
  Counts counts;
  int status = 0;
  try {
    options = parse_args(argc, argv);
    if (options.help) {
      std::cout << kUsage;
      return 0;
    }
    transfer(options, counts);
  } catch (const UsageError& e) {
    std::cerr << program + ": " + e.what() + "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program + ": " + e.what() + "\n";
    status = 1;
  }
  if (options.verbose) {
    std::cerr << "sent " + std::to_string(counts.sent) + " bytes, received " +
                     std::to_string(counts.received) + " bytes\n";
  }
  return status;
}
