// stage5-chat: Bob hosts the whole class. Every student connects with nc,
// and each line anyone types reaches everyone else.
//
// The lesson: one poll() loop serves many peers at once (chat.cpp): the
// listening socket, stdin and every client, each client's state beside its
// poll slot. Lines are the unit relayed, and a client that stops reading is
// dropped instead of stopping the room.
//
// Usage: stage5-chat [-v] [-4|-6] [-m MAX] -l [ADDRESS] PORT
//   e.g. stage5-chat -l 3000    and, from every student's machine,    nc HOST 3000
//
// See also: docs/stage5-chat.md, chat.cpp; poll(2), accept(2),
// getrlimit(2); Beej's Guide, section 7.2 (pollserver.c); the self-pipe
// trick (D. J. Bernstein).

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "address.hpp"
#include "chat.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "number.hpp"
#include "port.hpp"

namespace {

const char kUsage[] =
    "usage: stage5-chat [-v] [-4|-6] [-m MAX] -l [ADDRESS] PORT\n"
    "  -l ADDRESS PORT  listen on ADDRESS (numeric) and PORT, host a room for every client\n"
    "  -l PORT          listen on every address, IPv4 and IPv6\n"
    "  -4, -6           IPv4 only, IPv6 only\n"
    "  -m MAX           let in at most MAX clients at once\n"
    "  -v               tell who comes and goes on stderr\n"
    "  -h, --help       show this help\n";

struct Options {
  bool help = false;
  bool verbose = false;
  bool listen = false;
  int family = AF_UNSPEC;  // AF_INET for -4, AF_INET6 for -6
  std::string host;        // HOST, or ADDRESS (empty for every address)
  std::uint16_t port = 0;
  std::size_t max_clients = SIZE_MAX;  // -m
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

// -m MAX, 1 to a million.
std::size_t parse_maximum(const char* text) {
  unsigned long max = parse_number(text, 1000000, "maximum");
  if (max == 0) throw UsageError("invalid maximum \"0\": at least 1");
  return max;
}

Options parse_args(int argc, char* argv[]) {
  static const option kLongOptions[] = {{"help", no_argument, nullptr, 'h'}, {}};
  Options options;
  opterr = 0;  // getopt stays quiet: main prints the error and the usage
  for (int c; (c = getopt_long(argc, argv, ":hvl46m:", kLongOptions, nullptr)) != -1;) {
    switch (c) {
      case 'h': options.help = true; break;
      case 'v': options.verbose = true; break;
      case 'l': options.listen = true; break;
      case '4': options.family = AF_INET; break;
      case '6': options.family = AF_INET6; break;
      case 'm': options.max_clients = parse_maximum(optarg); break;
      case ':': throw UsageError("option " + option_name(argv) + " needs a value");
      default: throw UsageError("unknown option " + option_name(argv));
    }
  }
  if (options.help) return options;
  int operands = argc - optind;
  if (!options.listen || (operands != 1 && operands != 2)) {
    throw UsageError("expected -l [ADDRESS] PORT");
  }
  if (operands == 2) options.host = argv[optind];
  options.port = parse_port(argv[argc - 1]);
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
  // A whole class may connect within a second: SOMAXCONN, the longest queue allowed.
  check(listen(listener.get(), SOMAXCONN), "listen on " + describe(where));
  return listener;
}

// Each client costs a descriptor, and the soft limit is often 1024: raise
// it to the hard limit, the most an unprivileged process may have.
void raise_descriptor_limit(bool verbose) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == -1 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
#ifdef OPEN_MAX
  // macOS says its hard limit is unlimited but refuses more than OPEN_MAX.
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, OPEN_MAX);
#endif
  if (setrlimit(RLIMIT_NOFILE, &limit) == -1 && verbose) {
    std::cerr << std::string("setrlimit RLIMIT_NOFILE: ") + std::strerror(errno) + "\n";
  }
}

// The self-pipe: a handler may write(), and its byte wakes chat()'s poll(),
// where a flag set just before poll() slept would wake nothing.
int stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  int saved = errno;  // the interrupted code may be about to read errno
  ssize_t ignored = write(stop_pipe[1], "x", 1);
  (void)ignored;  // a full pipe already holds a byte: that is enough
  errno = saved;
}

void catch_stop_signals() {
  check(pipe(stop_pipe), "pipe");
  // Non-blocking: a handler that waited on a full pipe would hang the program.
  check(fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK), "fcntl O_NONBLOCK");
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  check(sigaction(SIGINT, &action, nullptr), "sigaction SIGINT");
  check(sigaction(SIGTERM, &action, nullptr), "sigaction SIGTERM");
}

// The listening socket, which stays open: clients come and go. Once -v says
// "listening on", a script may send SIGTERM and count on the descriptor limit.
Fd open_room(const Options& options) {
  catch_stop_signals();
  raise_descriptor_limit(options.verbose);
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
  return listener;
}

void transfer(const Options& options, ChatCounts& counts, bool& opened) {
  Fd listener = open_room(options);
  opened = true;  // a room that never opened has no summary to give
  ChatOptions chat_options;
  chat_options.max_clients = options.max_clients;
  chat_options.verbose = options.verbose;
  chat(listener.get(), STDIN_FILENO, STDOUT_FILENO, stop_pipe[0], chat_options, counts);
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
  ChatCounts counts;
  bool opened = false;
  int status = 0;
  try {
    options = parse_args(argc, argv);
    if (options.help) {
      std::cout << kUsage;
      return 0;
    }
    transfer(options, counts, opened);
  } catch (const UsageError& e) {
    std::cerr << program + ": " + e.what() + "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program + ": " + e.what() + "\n";
    status = 1;
  }
  if (options.verbose && opened) {
    std::cerr << "served " + std::to_string(counts.clients) + " clients, relayed " +
                     std::to_string(counts.lines) + " lines\n";
  }
  return status;
}
