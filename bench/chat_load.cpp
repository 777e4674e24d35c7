// chat_load.cpp: many clients in one chat room, timed: joining, relaying, server memory and CPU.
//
// Purpose: the load generator of `make bench-chat` (bench/chat.sh). It opens
// N TCP connections to a chat server on 127.0.0.1 (bin/stage6-class, or
// `ncat --chat`), all driven by one poll() loop, as the server drives them,
// and measures in these phases:
//   join    every client connects at once (-c 0, the default: a storm, as a
//           class does), or at most -c at a time; a client has joined when
//           its first byte from the server arrives (stage6-class's welcome
//           line, ncat's `<announce>` line). Time: from the first connect()
//           to the last first byte. With -j, that is all. Otherwise the room
//           is left to settle (everything the server still sends about the
//           joins is read until nothing came for -q ms), and the server's
//           RSS is read: the room idle.
//   relay   ten clients (-t) type in turn, one line per send(), keeping at
//           most -w lines in flight (a line is done when every other client
//           has it), for -d seconds; then the lines in flight are waited for.
//           Each line carries its number and its send time (steady clock,
//           the same for every process on the machine); each receiver checks
//           that the line is whole and in order, and takes the delivery
//           latency on arrival. Delivered lines per second counts every copy
//           received, by all clients.
//   flood   with -F, instead of relay: the last client floods the room as
//           `yes | nc` does (2-byte "y" lines, as fast as TCP takes them,
//           64 KiB per send()) while -t talkers (the first clients) each send
//           a timestamped line every -i ms, taking turns. The flood runs
//           alone for half a second, then with the talkers for -d seconds,
//           then stops; then the talkers' lines still in flight are waited
//           for (-R). Each talker line is timed at every other client still
//           connected (the flooder too): p50/p99/max delivery latency under
//           the flood. Also counted: "y" lines reaching each screen per
//           second, what the flooder got to send, clients the server closed
//           (with a per-client output bound, a flood can drop those that
//           fall behind), and the server's peak RSS and CPU.
//   scan    once the room is idle: the median time of a poll() over every
//           client when none is ready (scan_us), the linear scan a poll()
//           loop pays on every pass, the server's as much as ours.
//   server  with -P PID: VmRSS and VmHWM from /proc/PID/status, and the
//           server's CPU time (utime + stime, /proc/PID/stat, in clock ticks
//           of 10 ms: hence relaying for a second or more) during the relay
//           phase divided by the lines delivered: its cost per line.
// Every wait is bounded (-J, -R): a phase that overruns its budget is
// reported as such (status=join_timeout, relay_timeout), never hung.
//
// Output: one line of KEY=VALUE words on stdout (status: ok, join_timeout,
// join_failed, settle_timeout, relay_timeout, client_closed, skipped; then
// join_s, settle_s, lines_per_s, p50_us, p99_us, rss_base_kib, rss_idle_kib,
// hwm_kib, cpu_per_line_us, lost, closed, unnamed, load_cpu_share: the
// generator's own CPU share while relaying, near 1 when it set the pace;
// lines_per_read: relay lines per recv() at the receivers, how many lines
// the server's TCP packed together),
// read by bench/chat.sh; problems seen on the way (a client closed, a line
// garbled, out of order or never complete) go to stderr.
//
// Usage: chat_load -p PORT -n CLIENTS [-P SERVER_PID] [-t TYPERS] [-w WINDOW]
//                  [-d RELAY_SECONDS] [-s LINE_BYTES] [-c CONNECT_WINDOW]
//                  [-q QUIET_MS] [-J JOIN_BUDGET_S] [-R RELAY_BUDGET_S] [-j] [-k]
//                  [-F [-i TALK_MS]]
//   -j  join only (the storm measure)
//   -F  flood instead of relay (at least 3 clients); -t talkers, default 10,
//       at most CLIENTS - 1; -i each talker's interval, default 500 ms
//   -k  when done, send SIGTERM to SERVER_PID and wait (at most 3 s) for it
//       to go before closing the clients, so that a server which announces
//       each leave to everyone (quadratic) does not burn CPU after the run.
// Linux only (/proc); needs N + 16 descriptors (the soft RLIMIT_NOFILE is
// raised to the hard limit; past it, status=skipped says so).
//
// See also: bench/chat.sh (runs it against each server, interleaved),
// bench/chat_report.py (tables and plot), docs/benchmarks.md,
// stage6-class/, ncat(1) --chat, poll(2), proc(5).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double seconds(int64_t ns) {
  return static_cast<double>(ns) / 1e9;
}

struct Options {
  unsigned port = 0;
  int clients = 0;
  long server_pid = 0;
  int typers = 10;
  int window = 10;
  double relay_seconds = 1.0;
  int line_bytes = 40;
  int connect_window = 0;  // 0: every connect at once
  int quiet_ms = 200;
  double join_budget = 10;
  bool join_only = false;
  double relay_budget = 15;
  bool stop_server = false;
  bool flood = false;
  int talk_ms = 500;
};

// The flood runs alone this long before the talkers start.
const double kFloodLeadSeconds = 0.5;
// What the flooder hands send() each time its socket has room: `yes` output.
const size_t kFloodChunk = 64 * 1024;

// --- The server, seen through /proc. ----------------------------------------

// The text of /proc/PID/NAME, or "" once the process is gone. (Not
// ifstream: libstdc++ throws when read() fails, as it does with ESRCH when
// the process exits between open and read.)
std::string proc_text(long pid, const char* name) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "";
  std::string text;
  char chunk[4096];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0)
    text.append(chunk, static_cast<size_t>(got));
  close(fd);
  return got < 0 ? "" : text;
}

// A field of /proc/PID/status in KiB (VmRSS, VmHWM), or -1.
long status_kib(long pid, const char* field) {
  if (pid <= 0) return -1;
  const std::string text = proc_text(pid, "status");
  const std::string key = "\n" + std::string(field) + ":";
  const auto at = text.find(key);
  return at == std::string::npos ? -1 : std::atol(text.c_str() + at + key.size());
}

// The server's user + system CPU time in seconds, or -1. Fields 14 and 15 of
// /proc/PID/stat, counted after the command name's closing parenthesis
// (the name may hold spaces).
double cpu_seconds(long pid) {
  if (pid <= 0) return -1;
  const std::string text = proc_text(pid, "stat");
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {  // field 3 is the state
    if (index == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (index == 15) {
      stime = std::strtoull(field.c_str(), nullptr, 10);
      return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return -1;
}

// True while the process exists and is not a zombie.
bool running(long pid) {
  const std::string text = proc_text(pid, "stat");
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

// --- Latency: a log-linear histogram (32 steps per power of two, so a
// percentile is within about 3%), since a run may deliver millions of lines.
class Histogram {
 public:
  void add(int64_t ns) {
    const uint64_t value = ns > 0 ? static_cast<uint64_t>(ns) : 0;
    ++counts_[index(value)];
    ++total_;
  }
  uint64_t total() const { return total_; }
  // The value below which a fraction q of the samples lie, in microseconds.
  double percentile_us(double q) const {
    if (total_ == 0) return -1;
    const auto want = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want) return middle(i) / 1000.0;
    }
    return -1;
  }

 private:
  static constexpr int kSteps = 32;  // per power of two
  static size_t index(uint64_t value) {
    if (value < kSteps) return value;
    const int top = 63 - __builtin_clzll(value);  // value >= 32, so top >= 5
    const auto step = (value >> (top - 5)) & (kSteps - 1);
    return static_cast<size_t>((top - 4) * kSteps) + step;
  }
  static double middle(size_t i) {
    if (i < kSteps) return static_cast<double>(i);
    const int top = static_cast<int>(i / kSteps) + 4;
    const double low = std::ldexp(1.0, top) * (1.0 + static_cast<double>(i % kSteps) / kSteps);
    return low * (1.0 + 0.5 / kSteps);
  }
  std::array<uint64_t, 64 * kSteps> counts_{};
  uint64_t total_ = 0;
};

// --- The room, from the clients' side. ----------------------------------------

enum class State { idle, connecting, waiting, joined, closed };

struct Client {
  State state = State::idle;
  std::string partial;  // a line whose LF has not arrived yet
  std::string unsent;   // what the last send() did not take (rare)
};

struct Counters {
  uint64_t bytes = 0;          // every byte received, all phases
  uint64_t delivered = 0;      // relay lines received, all clients
  uint64_t garbled = 0;        // lines that look like ours but do not parse
  uint64_t out_of_order = 0;   // a line older than one already received
  uint64_t duplicates = 0;     // more copies of a line than receivers
  uint64_t unnamed = 0;        // lines that came without `<NAME> ` (ncat)
  uint64_t partial_sends = 0;  // send() took part of a line
  uint64_t polls = 0;
  uint64_t reads = 0;       // recv() calls that brought data
  uint64_t flood_sent = 0;  // bytes the flooder's send() took
  int closed = 0;           // clients the server closed on us
  std::string first_close;  // why the first one went
};

class Room {
 public:
  explicit Room(const Options& options)
      : options_(options),
        clients_(static_cast<size_t>(options.clients)),
        polls_(static_cast<size_t>(options.clients), pollfd{-1, 0, 0}),
        last_seen_(static_cast<size_t>(options.clients) * static_cast<size_t>(options.typers), -1),
        last_sent_(static_cast<size_t>(options.typers), -1),
        flood_seen_(static_cast<size_t>(options.clients), 0) {
    buffer_.resize(256 * 1024);
  }
  ~Room() {
    for (auto& p : polls_)
      if (p.fd >= 0) close(p.fd);
  }
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  // Connects every client; true when all received their first byte within
  // the budget. Sets join_ns.
  bool join();
  // Reads until nothing arrived for quiet_ms (or the budget ends).
  bool settle(int64_t budget_ns);
  // Ten typers in turn; true when every line sent reached every other client.
  bool relay();
  // One client floods, talkers talk; true when every talker line reached
  // every other client still connected.
  bool flood();
  uint64_t unheard() const;         // talker lines not at a connected receiver
  double flood_per_screen() const;  // "y" lines a second at each other client
  void report_problems() const;
  double scan_us();

  int joined = 0;
  int64_t join_ns = 0;
  int64_t settle_ns = 0;
  int64_t relay_ns = 0;  // first send to last delivery
  int64_t flood_ns = 0;  // the flood, from its start to its end
  int64_t drain_ns = 0;  // the flood's end to the last talker line's arrival
  int64_t max_latency_ns = 0;
  uint64_t lines_sent = 0;
  uint64_t lines_done = 0;
  Histogram latency;
  Counters count;

 private:
  bool connect_all(size_t window, int64_t deadline);
  bool start_connect(size_t i);
  void finish_connect(size_t i);
  void read_from(size_t i, int64_t now);
  void on_line(size_t i, const char* line, size_t size, int64_t now);
  void lose(size_t i, const std::string& why);
  bool send_line(uint64_t id);
  void flush(size_t i);
  void flood_once(size_t flooder, const std::string& chunk);
  bool talker_lines_heard() const;
  int wait(int64_t deadline_ns, int cap_ms);

  const Options& options_;
  std::vector<Client> clients_;
  std::vector<pollfd> polls_;
  std::vector<int64_t> last_seen_;  // [receiver * typers + typer]: last line number seen
  std::vector<uint32_t> receipts_;  // per relay line: copies received
  std::vector<char> buffer_;
  std::vector<int64_t> last_sent_;    // per talker: its last line number sent, or -1
  std::vector<uint64_t> flood_seen_;  // per client: "y" lines received while flooding
  bool flooding_ = false;
  int64_t last_delivery_ns_ = 0;
  int64_t last_byte_ns_ = 0;
};

bool Room::start_connect(size_t i) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    lose(i, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // a line is a packet, now
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options_.port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  polls_[i].fd = fd;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    clients_[i].state = State::waiting;
    polls_[i].events = POLLIN;
  } else if (errno == EINPROGRESS) {
    clients_[i].state = State::connecting;
    polls_[i].events = POLLOUT;
  } else {
    lose(i, std::string("connect: ") + std::strerror(errno));
    return false;
  }
  return true;
}

void Room::finish_connect(size_t i) {
  int error = 0;
  socklen_t size = sizeof error;
  getsockopt(polls_[i].fd, SOL_SOCKET, SO_ERROR, &error, &size);
  if (error != 0) {
    lose(i, std::string("connect: ") + std::strerror(error));
    return;
  }
  clients_[i].state = State::waiting;
  polls_[i].events = POLLIN;
}

void Room::lose(size_t i, const std::string& why) {
  if (count.closed++ == 0) count.first_close = "client " + std::to_string(i) + ": " + why;
  clients_[i].state = State::closed;
  if (polls_[i].fd >= 0) close(polls_[i].fd);
  polls_[i] = pollfd{-1, 0, 0};
}

// One recv() per readiness: level-triggered poll() comes back for the rest.
void Room::read_from(size_t i, int64_t now) {
  const ssize_t got = recv(polls_[i].fd, buffer_.data(), buffer_.size(), 0);
  if (got < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) lose(i, std::strerror(errno));
    return;
  }
  if (got == 0) {
    lose(i, "end of stream");
    return;
  }
  count.bytes += static_cast<uint64_t>(got);
  ++count.reads;
  last_byte_ns_ = now;
  Client& client = clients_[i];
  if (client.state == State::waiting) {
    client.state = State::joined;
    ++joined;
  }
  const char* data = buffer_.data();
  const char* end = data + got;
  while (data < end) {
    const char* lf =
        static_cast<const char*>(std::memchr(data, '\n', static_cast<size_t>(end - data)));
    if (lf == nullptr) {
      client.partial.append(data, end);
      break;
    }
    if (client.partial.empty()) {
      on_line(i, data, static_cast<size_t>(lf - data), now);
    } else {
      client.partial.append(data, lf);
      on_line(i, client.partial.data(), client.partial.size(), now);
      client.partial.clear();
    }
    data = lf + 1;
  }
}

// A relay line arrives as `<NAME> L ID SENT_NS xxx...` from either server;
// everything else (announcements: `* ...`, `<announce> ...`) is skipped.
void Room::on_line(size_t i, const char* line, size_t size, int64_t now) {
  static const char kMark[] = "> L ";
  // The flooder's "y": `<NAME> y`, or a bare `y` from ncat (which names
  // only the first line of each read()).
  if (size > 0 && line[size - 1] == 'y' && (size == 1 || (size > 2 && line[size - 2] == ' '))) {
    if (flooding_) ++flood_seen_[i];
    return;
  }
  const char* payload = nullptr;  // `L ID SENT_NS x...`, as the typer sent it without its LF
  if (size > 2 && line[0] == 'L' && line[1] == ' ') {
    // ncat --chat names what one read() brought, not each line: the second
    // of two lines read at once arrives without its sender's name.
    ++count.unnamed;
    payload = line;
  } else {
    if (size == 0 || line[0] != '<' || std::strncmp(line, "<announce>", 10) == 0) return;
    const char* at = static_cast<const char*>(memmem(line, size, kMark, sizeof kMark - 1));
    if (at == nullptr) return;
    payload = at + 2;
  }
  const std::string text(payload, line + size);
  char* rest = nullptr;
  const unsigned long long id = std::strtoull(text.c_str() + 2, &rest, 10);
  const long long sent = std::strtoll(rest, &rest, 10);
  if (id >= receipts_.size() || sent <= 0 || *rest != ' ' ||
      text.size() + 1 != static_cast<size_t>(options_.line_bytes)) {
    ++count.garbled;
    return;
  }
  const size_t typer = id % static_cast<size_t>(options_.typers);
  int64_t& last = last_seen_[i * static_cast<size_t>(options_.typers) + typer];
  if (static_cast<int64_t>(id) <= last) ++count.out_of_order;
  last = std::max<int64_t>(last, static_cast<int64_t>(id));
  latency.add(now - sent);
  max_latency_ns = std::max<int64_t>(max_latency_ns, now - sent);
  ++count.delivered;
  last_delivery_ns_ = now;
  const auto receivers = static_cast<uint32_t>(options_.clients - 1);
  if (++receipts_[id] == receivers) {
    ++lines_done;
  } else if (receipts_[id] > receivers) {
    ++count.duplicates;
  }
}

// poll() over every client until the deadline; returns the count of ready
// descriptors (0 on timeout). cap_ms bounds one wait, so callers can act on time.
int Room::wait(int64_t deadline_ns, int cap_ms) {
  const int64_t left_ms = (deadline_ns - now_ns()) / 1000000;
  const int timeout = static_cast<int>(std::clamp<int64_t>(left_ms, 0, cap_ms));
  ++count.polls;
  const int ready = poll(polls_.data(), polls_.size(), timeout);
  if (ready < 0 && errno != EINTR) {
    std::perror("chat_load: poll");
    std::exit(1);
  }
  return std::max(ready, 0);
}

// Connects every idle client, at most `window` of them waiting for their
// first byte at a time; true when all joined before the deadline.
bool Room::connect_all(size_t window, int64_t deadline) {
  const size_t n = clients_.size();
  size_t next = 0, waiting = 0;
  while (now_ns() < deadline) {
    for (; next < n && waiting < window; ++next) {
      if (clients_[next].state == State::idle && start_connect(next)) ++waiting;
    }
    if (waiting == 0 && next == n) break;
    if (wait(deadline, 100) == 0) continue;
    const int64_t now = now_ns();
    for (size_t i = 0; i < next; ++i) {
      const short revents = polls_[i].revents;
      if (revents == 0) continue;
      const State before = clients_[i].state;
      if (before == State::connecting) {
        finish_connect(i);
      } else if (revents & (POLLIN | POLLHUP | POLLERR)) {
        read_from(i, now);
      }
      const State after = clients_[i].state;
      const bool was_waiting = before == State::connecting || before == State::waiting;
      if (was_waiting && (after == State::joined || after == State::closed)) --waiting;
    }
  }
  return joined == static_cast<int>(n);
}

// Everyone at once by default (-c 0), as a class does; a server that cannot
// take them within the budget is reported as such. (ncat's listen backlog is
// 10: the SYNs past it are dropped and retried after 1, 3, 7, 15 s... And
// ncat quits when a client it accepts has already gone, so clients left
// waiting cannot be closed and let in again more gently.)
bool Room::join() {
  const int64_t start = now_ns();
  const size_t window =
      options_.connect_window > 0 ? static_cast<size_t>(options_.connect_window) : clients_.size();
  const bool all = connect_all(window, start + static_cast<int64_t>(options_.join_budget * 1e9));
  join_ns = now_ns() - start;
  return all;
}

bool Room::settle(int64_t budget_ns) {
  const int64_t start = now_ns();
  const int64_t deadline = start + budget_ns;
  const int64_t quiet = static_cast<int64_t>(options_.quiet_ms) * 1000000;
  last_byte_ns_ = start;
  while (now_ns() < deadline) {
    if (now_ns() - last_byte_ns_ >= quiet) {
      settle_ns = last_byte_ns_ - start;
      return true;
    }
    if (wait(std::min(deadline, last_byte_ns_ + quiet), 50) == 0) continue;
    const int64_t now = now_ns();
    for (size_t i = 0; i < polls_.size(); ++i) {
      if (polls_[i].revents & (POLLIN | POLLHUP | POLLERR)) read_from(i, now);
    }
  }
  settle_ns = now_ns() - start;
  return false;
}

// Line number id from typer id % typers, in one send(): `L ID SENT_NS xxx`,
// padded with x to line_bytes with the LF. False if the typer still has an
// unsent rest (then the line waits for its turn).
bool Room::send_line(uint64_t id) {
  const size_t typer = id % static_cast<size_t>(options_.typers);
  Client& client = clients_[typer];
  if (!client.unsent.empty() || client.state == State::closed) return false;
  char text[64];
  const int head =
      std::snprintf(text, sizeof text, "L %llu %lld ", static_cast<unsigned long long>(id),
                    static_cast<long long>(now_ns()));
  std::string line(text, static_cast<size_t>(head));
  const size_t want = static_cast<size_t>(options_.line_bytes) - 1;  // then the LF
  if (line.size() < want) line.append(want - line.size(), 'x');
  line.push_back('\n');
  receipts_.push_back(0);
  const ssize_t sent = send(polls_[typer].fd, line.data(), line.size(), 0);
  if (sent == static_cast<ssize_t>(line.size())) return true;
  ++count.partial_sends;
  client.unsent = line.substr(sent > 0 ? static_cast<size_t>(sent) : 0);
  polls_[typer].events |= POLLOUT;
  return true;
}

void Room::flush(size_t i) {
  Client& client = clients_[i];
  const ssize_t sent = send(polls_[i].fd, client.unsent.data(), client.unsent.size(), 0);
  if (sent > 0) client.unsent.erase(0, static_cast<size_t>(sent));
  if (client.unsent.empty()) polls_[i].events = POLLIN;
}

bool Room::relay() {
  const int64_t start = now_ns();
  const int64_t stop_sending = start + static_cast<int64_t>(options_.relay_seconds * 1e9);
  const int64_t deadline = start + static_cast<int64_t>(options_.relay_budget * 1e9);
  last_delivery_ns_ = start;
  while (now_ns() < deadline && count.closed == 0) {
    const bool sending = now_ns() < stop_sending;
    while (sending && lines_sent - lines_done < static_cast<uint64_t>(options_.window)) {
      if (!send_line(lines_sent)) break;
      ++lines_sent;
    }
    if (!sending && lines_done == lines_sent) break;
    if (wait(sending ? stop_sending : deadline, 20) == 0) continue;
    const int64_t now = now_ns();
    for (size_t i = 0; i < polls_.size(); ++i) {
      const short revents = polls_[i].revents;
      if (revents & (POLLIN | POLLHUP | POLLERR)) read_from(i, now);
      if ((revents & POLLOUT) && polls_[i].fd >= 0) flush(i);
    }
  }
  relay_ns = last_delivery_ns_ - start;
  return lines_done == lines_sent && count.closed == 0;
}

// One send() of `yes` output, if the flooder's socket has room (POLLOUT).
void Room::flood_once(size_t flooder, const std::string& chunk) {
  const ssize_t sent = send(polls_[flooder].fd, chunk.data(), chunk.size(), 0);
  if (sent > 0) {
    count.flood_sent += static_cast<uint64_t>(sent);
  } else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    lose(flooder, std::string("flooding: ") + std::strerror(errno));
  }
}

// True when every client still connected has the last line of every other talker.
bool Room::talker_lines_heard() const {
  return unheard() == 0;
}

uint64_t Room::unheard() const {
  const auto talkers = static_cast<int64_t>(options_.typers);
  uint64_t missing = 0;
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i].state == State::closed) continue;
    for (int64_t t = 0; t < talkers; ++t) {
      const int64_t last = last_sent_[static_cast<size_t>(t)];
      if (static_cast<size_t>(t) == i || last < 0) continue;
      const int64_t seen = last_seen_[i * static_cast<size_t>(talkers) + static_cast<size_t>(t)];
      const int64_t from = seen < 0 ? t - talkers : seen;  // lines t, t + talkers, ... after it
      if (from < last) missing += static_cast<uint64_t>((last - from) / talkers);
    }
  }
  return missing;
}

double Room::flood_per_screen() const {
  uint64_t lines = 0;
  int screens = 0;
  for (size_t i = 0; i + 1 < clients_.size(); ++i) {  // all but the flooder
    if (clients_[i].state == State::closed) continue;
    lines += flood_seen_[i];
    ++screens;
  }
  return screens == 0 || flood_ns <= 0 ? -1
                                       : static_cast<double>(lines) / screens / seconds(flood_ns);
}

// The talkers' lines are numbered in turn (line k from talker k % talkers)
// and fall due evenly: talk_ms / talkers apart. A talker the server closed
// skips its turns.
bool Room::flood() {
  const size_t flooder = clients_.size() - 1;
  const auto talkers = static_cast<uint64_t>(options_.typers);
  std::string chunk;
  while (chunk.size() < kFloodChunk)
    chunk += "y\n";
  const int64_t start = now_ns();
  const int64_t talk_start = start + static_cast<int64_t>(kFloodLeadSeconds * 1e9);
  const int64_t talk_end = talk_start + static_cast<int64_t>(options_.relay_seconds * 1e9);
  const int64_t deadline = talk_end + static_cast<int64_t>(options_.relay_budget * 1e9);
  const int64_t step =
      static_cast<int64_t>(options_.talk_ms) * 1000000 / static_cast<int64_t>(talkers);
  polls_[flooder].events = POLLIN | POLLOUT;
  flooding_ = true;
  last_delivery_ns_ = talk_start;
  for (int64_t now = start; now < deadline; now = now_ns()) {
    if (flooding_ && now >= talk_end) {
      flooding_ = false;
      flood_ns = now - start;
      if (polls_[flooder].fd >= 0) polls_[flooder].events = POLLIN;
    }
    while (now < talk_end && now >= talk_start + static_cast<int64_t>(lines_sent) * step) {
      if (send_line(lines_sent)) {
        last_sent_[lines_sent % talkers] = static_cast<int64_t>(lines_sent);
      } else {
        receipts_.push_back(0);  // a closed talker's turn: no line
      }
      ++lines_sent;
    }
    if (!flooding_ && talker_lines_heard()) break;
    const int64_t next_talk = talk_start + static_cast<int64_t>(lines_sent) * step;
    if (wait(flooding_ ? std::min(next_talk, talk_end) : deadline, 20) == 0) continue;
    const int64_t arrived = now_ns();
    for (size_t i = 0; i < polls_.size(); ++i) {
      const short revents = polls_[i].revents;
      if (revents & (POLLIN | POLLHUP | POLLERR)) read_from(i, arrived);
      if (!(revents & POLLOUT) || polls_[i].fd < 0) continue;
      if (i == flooder) {
        if (flooding_) flood_once(flooder, chunk);
      } else {
        flush(i);
      }
    }
  }
  if (flooding_) flood_ns = now_ns() - start;  // (a budget shorter than the flood)
  flooding_ = false;
  drain_ns = std::max<int64_t>(0, last_delivery_ns_ - talk_end);
  return talker_lines_heard();
}

// What one poll() over every client costs when none is ready: the linear
// scan a poll() loop pays on every pass, whatever happened. The median of
// 21 calls, in microseconds.
double Room::scan_us() {
  std::vector<int64_t> times;
  for (int i = 0; i < 21; ++i) {
    const int64_t start = now_ns();
    poll(polls_.data(), polls_.size(), 0);
    times.push_back(now_ns() - start);
  }
  std::nth_element(times.begin(), times.begin() + 10, times.end());
  return static_cast<double>(times[10]) / 1000.0;
}

void Room::report_problems() const {
  int shown = 0;
  const auto receivers = static_cast<uint32_t>(options_.clients - 1);
  for (size_t id = 0; id < receipts_.size() && shown < 5; ++id) {
    if (receipts_[id] < receivers) {
      std::fprintf(stderr, "chat_load: line %zu (typer %zu) reached %u of %u receivers\n", id,
                   id % static_cast<size_t>(options_.typers), receipts_[id], receivers);
      ++shown;
    }
  }
  if (count.closed > 0)
    std::fprintf(stderr, "chat_load: %d clients closed by the server; first: %s\n", count.closed,
                 count.first_close.c_str());
  if (count.garbled > 0)
    std::fprintf(stderr, "chat_load: %llu lines garbled\n",
                 static_cast<unsigned long long>(count.garbled));
  if (count.out_of_order > 0)
    std::fprintf(stderr, "chat_load: %llu lines out of order\n",
                 static_cast<unsigned long long>(count.out_of_order));
  if (count.duplicates > 0)
    std::fprintf(stderr, "chat_load: %llu lines received twice\n",
                 static_cast<unsigned long long>(count.duplicates));
}

// --- The command line. ----------------------------------------------------------

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "chat_load: %s\n"
               "usage: chat_load -p PORT -n CLIENTS [-P SERVER_PID] [-t TYPERS] [-w WINDOW]\n"
               "                 [-d RELAY_SECONDS] [-s LINE_BYTES] [-c CONNECT_WINDOW]\n"
               "                 [-q QUIET_MS] [-J JOIN_BUDGET_S] [-R RELAY_BUDGET_S] [-j] [-k]\n"
               "                 [-F [-i TALK_MS]]\n",
               why);
  std::exit(2);
}

double number(const char* text, double low, double high, const char* what) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || value < low || value > high)
    usage((std::string("bad ") + what + " \"" + text + "\"").c_str());
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  int option;
  while ((option = getopt(argc, argv, "p:n:P:t:w:d:s:c:q:J:R:jkFi:")) != -1) {
    switch (option) {
      case 'p': o.port = static_cast<unsigned>(number(optarg, 1, 65535, "port")); break;
      case 'n': o.clients = static_cast<int>(number(optarg, 2, 1000000, "client count")); break;
      case 'P': o.server_pid = static_cast<long>(number(optarg, 1, 1e9, "pid")); break;
      case 't': o.typers = static_cast<int>(number(optarg, 1, 1000, "typer count")); break;
      case 'w': o.window = static_cast<int>(number(optarg, 1, 100000, "window")); break;
      case 'd': o.relay_seconds = number(optarg, 0.01, 3600, "relay seconds"); break;
      case 's': o.line_bytes = static_cast<int>(number(optarg, 40, 4000, "line size")); break;
      case 'c':
        o.connect_window = static_cast<int>(number(optarg, 0, 1000000, "connect window"));
        break;
      case 'q': o.quiet_ms = static_cast<int>(number(optarg, 1, 60000, "quiet time")); break;
      case 'J': o.join_budget = number(optarg, 0.1, 3600, "join budget"); break;
      case 'j': o.join_only = true; break;
      case 'R': o.relay_budget = number(optarg, 0.1, 3600, "relay budget"); break;
      case 'k': o.stop_server = true; break;
      case 'F': o.flood = true; break;
      case 'i': o.talk_ms = static_cast<int>(number(optarg, 1, 60000, "talk interval")); break;
      default: usage("unknown option");
    }
  }
  if (optind != argc || o.port == 0 || o.clients == 0) usage("-p PORT and -n CLIENTS are needed");
  if (o.stop_server && o.server_pid == 0) usage("-k needs -P SERVER_PID");
  o.typers = std::min(o.typers, o.clients);
  if (o.flood && o.clients < 3)
    usage("-F needs at least 3 clients: a flooder, a talker, a listener");
  if (o.flood) o.typers = std::min(o.typers, o.clients - 1);  // the last one floods
  return o;
}

// Raises the soft descriptor limit to the hard one; false if N clients do not fit.
bool enough_descriptors(int clients, rlim_t* hard) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  *hard = limit.rlim_max;
  return limit.rlim_max == RLIM_INFINITY || static_cast<rlim_t>(clients) + 16 <= limit.rlim_max;
}

void stop(long pid) {
  kill(static_cast<pid_t>(pid), SIGTERM);
  for (int i = 0; i < 300 && running(pid); ++i)
    usleep(10000);
}

// What one run measured: the phases in order, -1 where a phase did not run.
struct Result {
  std::string status = "ok";
  long rss_base = -1, rss_idle = -1, rss_after = -1, hwm = -1;  // KiB
  double cpu_join = -1, cpu_relay = -1;                         // the server's, seconds
  double own_cpu = 0, scan = -1;
  uint64_t relay_reads = 0;
};

// Join, settle, scan, relay, settle again, reading the server's /proc at each step.
Result measure(Room& room, const Options& options) {
  Result r;
  const long pid = options.server_pid;
  const auto budget = static_cast<int64_t>(options.join_budget * 1e9);
  r.rss_base = status_kib(pid, "VmRSS");
  const double cpu_start = cpu_seconds(pid);
  if (!room.join()) {
    r.status = room.count.closed > 0 ? "join_failed" : "join_timeout";
  } else if (!options.join_only && !room.settle(budget)) {
    r.status = "settle_timeout";
  } else if (options.flood) {
    r.rss_idle = status_kib(pid, "VmRSS");
    const double cpu_before = cpu_seconds(pid), own_before = own_cpu_seconds();
    if (!room.flood()) r.status = "drain_timeout";
    r.cpu_relay = cpu_seconds(pid) - cpu_before;
    r.own_cpu = own_cpu_seconds() - own_before;
    r.rss_after = status_kib(pid, "VmRSS");
  } else if (!options.join_only) {
    r.rss_idle = status_kib(pid, "VmRSS");
    r.scan = room.scan_us();
    const double cpu_before = cpu_seconds(pid), own_before = own_cpu_seconds();
    const uint64_t reads_before = room.count.reads;
    if (!room.relay()) r.status = room.count.closed > 0 ? "client_closed" : "relay_timeout";
    r.cpu_relay = cpu_seconds(pid) - cpu_before;
    r.own_cpu = own_cpu_seconds() - own_before;
    r.relay_reads = room.count.reads - reads_before;
    room.settle(budget);
    r.rss_after = status_kib(pid, "VmRSS");  // given back after the burst?
  }
  r.cpu_join = cpu_seconds(pid) - cpu_start - std::max(r.cpu_relay, 0.0);
  r.hwm = status_kib(pid, "VmHWM");
  return r;
}

double ratio(double a, double b) {
  return b > 0 ? a / b : -1;
}

// The flood's line: latency of the talkers' lines, what reached the screens.
void print_flood(const Room& room, const Options& options, const Result& r) {
  const auto talkers = static_cast<uint64_t>(options.typers);
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << "status=" << r.status
      << " clients=" << options.clients << " joined=" << room.joined
      << " join_s=" << seconds(room.join_ns) << " settle_s=" << seconds(room.settle_ns)
      << " talkers=" << talkers << " talk_ms=" << options.talk_ms
      << " lines_sent=" << room.lines_sent << " delivered=" << room.count.delivered
      << " unheard=" << room.unheard() << " flood_s=" << seconds(room.flood_ns)
      << " drain_s=" << seconds(room.drain_ns) << std::setprecision(1)
      << " p50_us=" << room.latency.percentile_us(0.5)
      << " p99_us=" << room.latency.percentile_us(0.99)
      << " max_us=" << static_cast<double>(room.max_latency_ns) / 1000.0 << std::setprecision(0)
      << " flood_sent_lines=" << room.count.flood_sent / 2
      << " flood_per_screen_per_s=" << room.flood_per_screen() << " rss_base_kib=" << r.rss_base
      << " rss_idle_kib=" << r.rss_idle << " rss_after_kib=" << r.rss_after << " hwm_kib=" << r.hwm
      << std::setprecision(2) << " cpu_flood_s=" << r.cpu_relay
      << " load_cpu_share=" << ratio(r.own_cpu, seconds(room.flood_ns + room.drain_ns))
      << " closed=" << room.count.closed << " garbled=" << room.count.garbled
      << " out_of_order=" << room.count.out_of_order << " unnamed=" << room.count.unnamed
      << " server_alive=" << (options.server_pid > 0 && running(options.server_pid) ? 1 : 0)
      << "\n";
  std::fputs(out.str().c_str(), stdout);
  std::fflush(stdout);
}

// One line of KEY=VALUE words, for bench/chat.sh.
void print(const Room& room, const Options& options, const Result& r) {
  const double relay_s = seconds(room.relay_ns);
  const auto delivered = room.count.delivered;
  const auto lines = static_cast<double>(delivered);
  const uint64_t expected = room.lines_sent * static_cast<uint64_t>(options.clients - 1);
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << "status=" << r.status
      << " clients=" << options.clients << " joined=" << room.joined
      << " join_s=" << seconds(room.join_ns) << " settle_s=" << seconds(room.settle_ns)
      << " lines_sent=" << room.lines_sent << " lines_done=" << room.lines_done
      << " delivered=" << delivered << " lost=" << expected - std::min(expected, delivered)
      << " relay_s=" << relay_s << std::setprecision(0) << " lines_per_s=" << ratio(lines, relay_s)
      << std::setprecision(1) << " p50_us=" << room.latency.percentile_us(0.5)
      << " p99_us=" << room.latency.percentile_us(0.99) << " rss_base_kib=" << r.rss_base
      << " rss_idle_kib=" << r.rss_idle << " rss_after_kib=" << r.rss_after << " hwm_kib=" << r.hwm
      << std::setprecision(2) << " cpu_join_s=" << r.cpu_join << " cpu_relay_s=" << r.cpu_relay
      << std::setprecision(3)
      << " cpu_per_line_us=" << (r.cpu_relay >= 0 ? ratio(r.cpu_relay * 1e6, lines) : -1.0)
      << std::setprecision(2) << " load_cpu_share=" << ratio(r.own_cpu, relay_s)
      << " closed=" << room.count.closed << " garbled=" << room.count.garbled
      << " out_of_order=" << room.count.out_of_order << " unnamed=" << room.count.unnamed
      << " partial_sends=" << room.count.partial_sends << " bytes=" << room.count.bytes
      << " polls=" << room.count.polls
      << " server_alive=" << (options.server_pid > 0 && running(options.server_pid) ? 1 : 0)
      << std::setprecision(1) << " scan_us=" << r.scan << std::setprecision(2)
      << " lines_per_read=" << ratio(lines, static_cast<double>(r.relay_reads)) << "\n";
  std::fputs(out.str().c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a server that closes on us is counted, not fatal
  rlim_t hard = 0;
  if (!enough_descriptors(options.clients, &hard)) {
    std::printf("status=skipped clients=%d note=needs_%d_descriptors,hard_limit_%llu\n",
                options.clients, options.clients + 16, static_cast<unsigned long long>(hard));
    return 0;
  }
  Room room(options);
  const Result result = measure(room, options);
  if (options.flood) {
    print_flood(room, options, result);
    if (room.count.closed > 0)
      std::fprintf(stderr,
                   "chat_load: %d clients closed by the server during the flood; first: %s\n",
                   room.count.closed, room.count.first_close.c_str());
  } else {
    print(room, options, result);
    room.report_problems();
  }
  if (options.stop_server) stop(options.server_pid);
  return 0;
}
