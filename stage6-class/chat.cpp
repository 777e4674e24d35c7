// chat.cpp: Bob hosts the whole class. One thread, one poll(), many clients:
// each pass accepts, reads and writes whatever is ready.
//
//   slots_:   [stop] [listener] [stdin] [stdout] [client 0] [client 1] ...
//   clients_:                                    [client 0] [client 1] ...
//
// Stage 5's room, and what a real class needs (docs/stage6-class.md):
// - A Pacer per client (-r): lines over its rate wait their turn, in order.
//   A backlog that shrinks is a paste; one kept full for a minute is a
//   flood, and its sender is dropped.
// - Names (/nick) and the host's commands (/who, /kick, /help).
// - News: joins, leaves and renames go out together, at most once a second
//   or before the next line, counted when many: 10,000 arrivals told one by
//   one to everyone would be 10,000 x 10,000 lines. Nobody is named to a
//   reader who was never told of them.
//
// See also: poll(2), accept(2), fcntl(2) O_NONBLOCK, Beej's pollserver.c.

#include "chat.hpp"

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "visible.hpp"

namespace {

using Clock = std::chrono::steady_clock;

const char kHostName[] = "host";             // the name of lines typed on stdin
const std::size_t kReadSize = 4096;          // per client per pass: nobody starves the others
const int kAcceptsPerPass = 1024;            // so a crowd at the door cannot stall the room
const std::chrono::seconds kRetryAccept{1};  // out of descriptors: try accept() again
const char kNotReading[] = "not reading";
const char kFlooding[] = "flooding";
// News goes out at most this often, unless a line goes first.
const std::chrono::seconds kNewsEvery{1};
// More news than this for one reader is counted, not named.
const std::size_t kNamedNews = 3;
// The newcomer's line names those here up to this width.
const std::size_t kScreenWidth = 80;
// What /who quotes of a client's last line: enough to tell who an address is.
const std::size_t kLastShown = 40;

// Flood control (-r): a token bucket. Tokens drip in at `rate` a second, up
// to `burst`; each line relayed spends one.
struct Pacer {
  double tokens = 0;
  Clock::time_point filled{};      // when `tokens` was last brought up to date
  Clock::time_point full_since{};  // the backlog full since then, without a break
  bool warned = false;             // told it sends too fast, this episode

  void refill(Clock::time_point now, double rate, double burst) {
    const double seconds = std::chrono::duration<double>(now - filled).count();
    tokens = std::min(burst, tokens + rate * seconds);
    filled = now;
    if (tokens >= burst) warned = false;  // quiet long enough: the episode is over
  }
  // When the bucket will hold a whole token again.
  Clock::time_point next_token(double rate) const {
    const std::chrono::duration<double> wait((1 - tokens) / rate);
    return filled + std::chrono::duration_cast<Clock::duration>(wait);
  }
  // Whether the backlog, `full` now, has stayed full for `limit` without a
  // break: a paste's shrinks, a flood's does not.
  bool flooding(bool full, Clock::time_point now, std::chrono::milliseconds limit) {
    if (!full) full_since = {};
    if (full && full_since == Clock::time_point{}) full_since = now;
    return full && now - full_since >= limit;
  }
};

// Bytes queued for one reader; `blocked` until poll() says POLLOUT.
struct Outbox {
  std::string data;
  bool blocked = false;
  bool mid_line = false;  // the reader holds the start of a line whose end is still here
};

enum class State {
  kIn,       // in the room
  kLeaving,  // announced and closed (or given its last words) at the end of the pass
  kClosing,  // dropped or closing: only its last lines go out, until `closing_by`
  kDone,     // closed at the end of the pass, without a word more
};

struct Client {
  std::uint64_t id = 0;  // 1, 2, ... in order of arrival
  Fd socket;
  std::string name;     // "127.0.0.1:40000" or "[::1]:40000", as the others read it
  std::string address;  // its name before any /nick
  std::string where;    // "127.0.0.1 port 40000", for -v
  std::string partial;  // read, not taken: lines waiting their turn, and the one being typed
  Clock::time_point since;
  std::uint64_t lines = 0;  // relayed from it
  std::string last;         // the start of its last line, as shown: /who tells an address by it
  Pacer pacer;
  bool held = false;         // lines wait in `partial` for their turn
  bool cut = false;          // the start of the line being typed went out, in pieces
  bool input_ended = false;  // its end of stream is read: it leaves once `partial` is out
  bool named = false;        // its join was told by name to everyone then here
  std::vector<std::uint64_t> welcomed;  // the ids its welcome named
  std::string departure;                // what the room reads when it goes, if not the usual
  Outbox out;
  State state = State::kIn;
  std::string why;        // why it leaves: "" for a plain end of stream
  std::string last_line;  // the notice a dropped client reads last
  Clock::time_point closing_by{};
  bool said_all = false;    // closing: its last line is out, and our end of stream
  bool read_ended = false;  // closing: its end of stream is read
};

// Frees the memory too: idle clients keep no large buffers.
void release(std::string& text) {
  std::string().swap(text);
}

// Why a connection failed, as poll() reported it (POLLERR, POLLHUP) for a
// client not read: a read() would first return what is still queued.
std::string socket_error(const Client& client) {
  int error = 0;
  socklen_t size = sizeof error;
  if (getsockopt(client.socket.get(), SOL_SOCKET, SO_ERROR, &error, &size) == -1) error = errno;
  return std::strerror(error != 0 ? error : ECONNRESET);
}

bool try_again(ssize_t result) {
  return result == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

// Cuts a queue short: the end of the line begun, then `notice`.
void cut_to(Outbox& out, const std::string& notice) {
  const std::size_t lf = out.mid_line ? out.data.find('\n') : std::string::npos;
  out.data.erase(lf == std::string::npos ? 0 : lf + 1);
  out.data.append(notice);
}

// 1 to 32 letters, digits, '-', '_' or '.': no spaces, and no ':' or '[',
// so nobody can pass for an address.
bool valid_nick(std::string_view nick) {
  if (nick.empty() || nick.size() > 32) return false;
  return std::all_of(nick.begin(), nick.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// Names compare without case: ASCII letters only, as nicks allow.
bool same_name(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// "12 lines" or "1 line".
std::string count(std::size_t n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// Joins, leaves and renames not told yet. Each item is about one client:
// its id, and whether its join was told by name (a reader older than it
// knows it then; a newer one, if its welcome named it).
struct News {
  struct Item {
    std::uint64_t id;      // the client it is about
    std::uint64_t newest;  // the readers then here: ids up to this
    bool named;
    std::string line;  // "* NAME joined", "* NAME left", "* OLD is now NEW"
  };
  std::vector<Item> joins, leaves, renames;  // joins in order of arrival
  Clock::time_point due{};                   // the earliest time to tell them alone

  bool empty() const { return joins.empty() && leaves.empty() && renames.empty(); }
};

// Whether the reader with `id`, whose welcome named `welcomed`, was told of
// the client `item` is about: by its join's line, or by its welcome.
bool knows(std::uint64_t id, const std::vector<std::uint64_t>& welcomed, const News::Item& item) {
  if (item.id > id) return item.named;
  return std::find(welcomed.begin(), welcomed.end(), item.id) != welcomed.end();
}

// The backlog of lines waiting their turn is at its bound: the room reads
// that client no more until it shrinks.
bool backlog_full(const std::string& partial, const ChatOptions& options) {
  if (partial.size() >= options.max_queued) return true;
  return static_cast<std::size_t>(std::count(partial.begin(), partial.end(), '\n')) >=
         options.max_waiting;
}

enum Slot { kStop, kListener, kInput, kOutput, kClients };

// A client's last line as /who quotes it: kLastShown bytes at most, cut
// before a UTF-8 character it would split, "..." where it goes on.
std::string last_said(const std::string& last) {
  std::string said = last.substr(0, last.find('\n'));
  if (said.size() <= kLastShown) return said;
  std::size_t end = kLastShown;  // back to the start of a character cut in two, if any
  while (end > 0 && (static_cast<unsigned char>(said[end]) & 0xC0) == 0x80)
    --end;
  said.resize(end);
  return said + "...";
}

class Room {
 public:
  Room(int listener, int input, int output, int stop, const ChatOptions& options,
       ChatCounts& counts)
      : listener_(listener),
        stop_(stop),
        keyboard_(input),
        screen_(output),
        options_(options),
        counts_(counts),
        // At least a tenth of a second's worth: poll() may wake the room a
        // little late, and tokens a small bucket cannot hold would be lost.
        burst_(std::max(options.burst, options.rate / 10)) {
    int flags = check(fcntl(listener, F_GETFL), "fcntl F_GETFL");
    check(fcntl(listener, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
    // stdout stays blocking (it is the shell's): written only when poll() says so.
    screen_out_.blocked = true;
    struct stat screen {};
    screen_is_pipe_ = fstat(output, &screen) == 0 && S_ISFIFO(screen.st_mode);
  }

  void serve() {
    while (!closing_ || !closed()) {
      watch();
      // poll() counts its slots in nfds_t, 32 bits on macOS: converted on purpose.
      int ready = poll(slots_.data(), static_cast<nfds_t>(slots_.size()), poll_timeout());
      if (ready == -1 && errno == EINTR) continue;
      check(ready, "poll");
      if (slots_[kStop].revents) close_all();
      if (slots_[kListener].revents && !closing_) accept_clients();
      if (slots_[kInput].revents && !closing_) read_keyboard();
      if (slots_[kOutput].revents) screen_out_.blocked = false;
      // Nobody is removed before the end of the pass: indices hold.
      for (std::size_t i = 0; i < clients_.size(); ++i) {
        const pollfd& slot = slots_[kClients + i];
        if (slot.revents & POLLOUT) clients_[i].out.blocked = false;
        if ((slot.revents & (POLLHUP | POLLERR)) && !(slot.events & POLLIN) && clients_[i].held) {
          leave(clients_[i], socket_error(clients_[i]));  // reset: its waiting lines go with it
        } else if (slot.revents & (POLLIN | POLLHUP | POLLERR)) {
          read_client(clients_[i]);
        } else if (clients_[i].held || clients_[i].input_ended) {
          // Watched for more and nothing came: its backlog can only shrink.
          if (slot.events & POLLIN) clients_[i].pacer.full_since = {};
          keep_pace(clients_[i]);
        }
        if (slot.revents & POLLNVAL) leave(clients_[i], "invalid descriptor");
      }
      remove_departed();
      if (Clock::now() >= news_.due) announce();
      write_all();
    }
  }

 private:
  // Fills in what each slot waits for; poll() skips a descriptor of -1.
  void watch() {
    // The screen is the room's record: while it lags, nobody is read.
    bool reading = !closing_ && screen_out_.data.size() <= options_.max_queued;
    slots_[kStop] = {closing_ ? -1 : stop_, POLLIN, 0};
    slots_[kListener] = {!closing_ && Clock::now() >= retry_accept_ ? listener_ : -1, POLLIN, 0};
    slots_[kInput] = {closing_ ? -1 : keyboard_, POLLIN, 0};
    slots_[kOutput] = {screen_out_.data.empty() ? -1 : screen_, POLLOUT, 0};
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      const Client& client = clients_[i];
      // A closing client is read to its end: unread bytes make close() reset.
      bool wants = client.state == State::kClosing
                       ? !client.read_ended
                       : reading && !client.input_ended && !backlog_full(client.partial, options_);
      short events = (wants ? POLLIN : 0) | (client.out.blocked ? POLLOUT : 0);
      // Unwatched when nothing is wanted: POLLHUP would wake us for nothing.
      // A held client is, for just those: a reset ends it at once, waiting lines and all.
      bool watched = (events != 0 || client.held) &&
                     (client.state == State::kIn || client.state == State::kClosing);
      slots_[kClients + i] = {watched ? client.socket.get() : -1, events, 0};
    }
  }

  // How long poll() may sleep: not at all while departures wait to be
  // removed; until accept() is to be tried again, news is due, a closing
  // client's time is up or a held client's next line; else as long as
  // nothing happens.
  int poll_timeout() const {
    Clock::time_point due = Clock::time_point::max();
    if (retry_accept_ > Clock::now()) due = retry_accept_;
    if (closing_) due = std::min(due, closed_by_);
    if (!news_.empty()) due = std::min(due, news_.due);
    const bool reading = screen_out_.data.size() <= options_.max_queued;
    for (const Client& client : clients_) {
      if (client.state == State::kLeaving || client.state == State::kDone) return 0;  // to remove
      if (client.state == State::kClosing) due = std::min(due, client.closing_by);
      if (client.state == State::kIn && client.held && reading) {
        due = std::min(due, client.pacer.next_token(options_.rate));
      }
    }
    if (due == Clock::time_point::max()) return -1;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
    return static_cast<int>(std::max<long long>(0, ms + 1));  // +1: not a moment early
  }

  // Prints a -v line in one write, so it never mixes with another.
  void say(const std::string& line) const {
    if (options_.verbose) std::cerr << line + "\n";
  }

  // Lets in who waits: the listener is non-blocking, EAGAIN means nobody.
  void accept_clients() {
    for (int n = 0; n < kAcceptsPerPass; ++n) {
      sockaddr_storage address{};
      socklen_t size = sizeof address;
      int client = accept(listener_, reinterpret_cast<sockaddr*>(&address), &size);
      if (client == -1 && (errno == EINTR || errno == ECONNABORTED)) continue;
      if (client == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // nobody else waits
      if (client == -1) {
        // EMFILE: the client stays queued, and a watched listener would spin.
        if (!short_of_descriptors_)
          say(std::string("not accepting: accept: ") + std::strerror(errno));
        short_of_descriptors_ = true;
        retry_accept_ = Clock::now() + kRetryAccept;
        return;
      }
      if (short_of_descriptors_) say("accepting again");
      short_of_descriptors_ = false;
      admit(Fd(client), reinterpret_cast<sockaddr*>(&address));
    }
  }

  void admit(Fd socket, const sockaddr* address) {
    const std::string where = describe(address);
    // Linux does not inherit O_NONBLOCK from the listener (the BSDs do).
    int flags = fcntl(socket.get(), F_GETFL);
    if (flags == -1 || fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) == -1) {
      say("connection from " + where + " closed: fcntl: " + std::strerror(errno));
      return;
    }
    // One write() per pass already: Nagle would only delay it.
    int on = 1;
    setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // best effort: only speed
    if (here_ >= options_.max_clients) {
      // An empty send buffer: this short write fits.
      const std::string full =
          "* room full (" + std::to_string(options_.max_clients) + " clients)\n";
      ssize_t ignored = write(socket.get(), full.data(), full.size());
      (void)ignored;  // it is closing either way
      say("connection from " + where + " refused: room full");
      return;
    }
    say("connection from " + where);
    Client client;
    client.id = ++counts_.clients;
    client.name = client.address = address_and_port(address);
    client.where = where;
    client.socket = std::move(socket);
    client.since = Clock::now();
    client.pacer.tokens = burst_;  // a full bucket: a paste goes at once
    client.pacer.filled = client.since;
    queue(client, welcome(client));
    news_.joins.push_back({client.id, client.id - 1, false, "* " + client.name + " joined\n"});
    ++here_;
    clients_.push_back(std::move(client));
    slots_.push_back({-1, 0, 0});
  }

  // One read() per pass, so a flooder cannot starve the others.
  void read_client(Client& client) {
    ssize_t got = read(client.socket.get(), scratch_.data(), scratch_.size());
    if (try_again(got)) return;
    if (client.state == State::kClosing) {
      // Thrown away; once both ends are through, close() sends no reset.
      if (got == 0) client.read_ended = true;
      if (got == -1 || (client.read_ended && client.said_all)) finish(client);
      return;
    }
    if (got == 0 && client.held) {
      client.input_ended = true;  // its waiting lines still go, at its pace; then it leaves
      client.pacer.full_since = {};
      return;
    }
    if (got <= 0) {
      leave(client, got == 0 ? "" : std::strerror(errno));
      return;
    }
    take_lines(client.partial, std::string_view(scratch_.data(), static_cast<std::size_t>(got)),
               client.name, &client);
  }

  // The host's keyboard; its end (Ctrl-D, </dev/null) leaves the room going.
  void read_keyboard() {
    ssize_t got = read(keyboard_, scratch_.data(), scratch_.size());
    if (try_again(got)) return;
    if (got > 0) {
      take_lines(typed_, std::string_view(scratch_.data(), static_cast<std::size_t>(got)),
                 kHostName, nullptr);
      return;
    }
    if (!typed_.empty()) relay(kHostName, typed_, nullptr);
    release(typed_);
    keyboard_ = -1;
    if (got == -1)
      say(std::string("read from stdin: ") + std::strerror(errno) + ": the room goes on");
  }

  // Takes the whole lines in `partial` once `bytes` is added to it, and
  // pieces of a line grown longer than max_line, while the sender may (-r);
  // the rest stays in `partial`. `sender` is null for the host.
  void take_lines(std::string& partial, std::string_view bytes, const std::string& name,
                  Client* sender) {
    partial.append(bytes);
    if (sender != nullptr) sender->pacer.refill(Clock::now(), options_.rate, burst_);
    std::size_t taken = 0;
    bool over = false;  // over the rate: the rest waits its turn
    for (;;) {
      std::string_view rest = std::string_view(partial).substr(taken);
      const std::size_t lf = rest.find('\n');
      std::string_view line = rest.substr(0, lf);
      if (lf == std::string_view::npos && !too_long(rest)) break;
      if (sender != nullptr && !may_take(*sender)) {
        over = true;
        break;
      }
      if (lf == std::string_view::npos) line = rest.substr(0, options_.max_line);  // a piece
      // A line relayed in pieces costs a token a piece.
      if (sender != nullptr) sender->pacer.tokens -= static_cast<double>(pieces(line));
      taken += line.size() + (lf == std::string_view::npos ? 0 : 1);
      if (lf != std::string_view::npos && !line.empty() && line.back() == '\r') {
        line.remove_suffix(1);  // CRLF from nc -C, telnet
      }
      if (lf == std::string_view::npos) {
        relay(name, line, sender);
      } else {
        take_line(name, line, sender);
      }
      if (sender != nullptr) sender->cut = lf == std::string_view::npos;
    }
    partial.erase(0, taken);
    if (partial.empty()) release(partial);
    if (sender == nullptr) return;
    sender->held = over;
    if (over) hold(*sender);
  }

  // Too long to wait for its LF (a final CR waits: its LF may be next).
  bool too_long(std::string_view text) const {
    return text.size() > options_.max_line &&
           !(text.size() == options_.max_line + 1 && text.back() == '\r');
  }

  // Whether `sender` may have one more line relayed now.
  bool may_take(const Client& sender) const {
    // BEGIN SOLUTION 6.1 flood control
    // TASK: with -r 0 always; else while its pacer holds a whole token.
    // TASK: docs/stage6-class.md#floods-paste-or-flood--r
    return options_.rate == 0 || sender.pacer.tokens >= 1;
    // END SOLUTION
  }

  // How many lines relay() makes of `line`.
  std::size_t pieces(std::string_view line) const {
    return std::max<std::size_t>(1, (line.size() + options_.max_line - 1) / options_.max_line);
  }

  // Over the rate: the rest waits in `partial`, read no more while the
  // backlog is full. Told once per episode; full too long, it is a flood.
  void hold(Client& client) {
    // BEGIN SOLUTION 6.1 flood control
    // TASK: drop() as kFlooding once Pacer::flooding(); else tell it and the host, once.
    // TASK: docs/stage6-class.md#floods-paste-or-flood--r
    Pacer& pacer = client.pacer;
    const bool full = backlog_full(client.partial, options_);
    if (pacer.flooding(full, Clock::now(), std::chrono::milliseconds(options_.max_full_ms))) {
      drop(client, kFlooding);
      return;
    }
    if (pacer.warned) return;
    pacer.warned = true;
    const std::string rate = count(options_.rate, "line") + " a second";
    announce();  // who came in goes first, as before any line
    show("* " + client.name + " is sending too fast: held to " + rate + "\n");
    const int ms = options_.max_full_ms;
    const std::string limit =
        ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
    queue(client, "* you are sending too fast: your lines wait their turn, " + rate + "; " +
                      count(options_.max_waiting, "line") + " waiting for " + limit +
                      " is a flood, and is dropped\n");
    // END SOLUTION
  }

  // A held client's next line may be due; one whose stream has ended
  // leaves once its waiting lines are out.
  void keep_pace(Client& client) {
    if (client.state != State::kIn || screen_out_.data.size() > options_.max_queued) return;
    take_lines(client.partial, {}, client.name, &client);
    if (client.input_ended && !client.held && client.state == State::kIn) leave(client, "");
  }

  // "<NAME> LINE" to all but the sender, shown (visible.hpp), in max_line pieces.
  void relay(const std::string& name, std::string_view line, Client* sender) {
    do {
      std::string text = "<" + name + "> ";
      line.remove_prefix(append_visible(line, options_.max_line, text));
      text.push_back('\n');
      queue_all(text, sender, sender != nullptr);
      ++counts_.lines;
      if (sender != nullptr) {
        ++sender->lines;
        sender->last.assign(text, name.size() + 3, kLastShown + 1);  // its capacity is reused
      }
    } while (!line.empty());
  }

  // A whole line: a command, or words for the others. The host's "/" lines
  // are commands, never relayed; the end of a line sent in pieces is words.
  void take_line(const std::string& name, std::string_view line, Client* sender) {
    const std::string_view nick = "/nick ";
    if (sender == nullptr && line.substr(0, 1) == "/") {
      obey(line);
    } else if (sender != nullptr && !sender->cut && line.substr(0, nick.size()) == nick) {
      rename(*sender, line.substr(nick.size()));
    } else if (sender != nullptr && !sender->cut && line == "/who") {
      queue(*sender, who(false));
    } else {
      relay(name, line, sender);
    }
  }

  void rename(Client& client, std::string_view nick) {
    if (!valid_nick(nick)) {
      queue(client, "* invalid nick: 1 to 32 letters, digits, '-', '_' or '.'\n");
      return;
    }
    // Alice and alice would look like one person. A linear search, but
    // names change rarely.
    bool taken = same_name(nick, kHostName) ||
                 std::any_of(clients_.begin(), clients_.end(), [&](const Client& c) {
                   return &c != &client && c.state == State::kIn && same_name(c.name, nick);
                 });
    if (taken) {
      queue(client, "* nick " + std::string(nick) + " is taken\n");
      return;
    }
    announce();  // its join first, under its old name
    const std::string line = "* " + client.name + " is now " + std::string(nick) + "\n";
    queue(client, line);
    news_.renames.push_back({client.id, counts_.clients, client.named, line});
    client.name = nick;
  }

  // The host's command, `command` a line starting with "/"; the answer is
  // for the host's screen only.
  void obey(std::string_view command) {
    // BEGIN SOLUTION 6.2 host commands
    // TASK: /who, /kick NAME-OR-ADDRESS:PORT [REASON], /help; any other "/" line: an error.
    // TASK: docs/stage6-class.md#the-hosts-commands
    const std::size_t space = command.find(' ');
    const std::string_view verb = command.substr(0, space);
    std::string_view rest = space == std::string_view::npos ? "" : command.substr(space + 1);
    const std::size_t end = rest.find(' ');
    const std::string_view target = rest.substr(0, end);
    if (verb == "/who") {
      show(who(true));
    } else if (verb == "/kick" && !target.empty()) {
      kick(target, end == std::string_view::npos ? "" : rest.substr(end + 1));
    } else if (verb == "/help" || verb == "/kick") {
      show(
          "* /who: who is here; /kick NAME-OR-ADDRESS:PORT [REASON]: close that client, telling "
          "it why; /help: this\n");
    } else {
      show("* unknown command " + std::string(verb) + ": /help lists the commands\n");
    }
    // END SOLUTION
  }

  // Tells the client why, gives it its last words, and tells the room.
  void kick(std::string_view target, std::string_view reason) {
    auto found = std::find_if(clients_.begin(), clients_.end(), [&](const Client& c) {
      return c.state == State::kIn && (same_name(c.name, target) || c.address == target);
    });
    if (found == clients_.end()) {
      show("* nobody here is called " + std::string(target) + ": /who lists them\n");
      return;
    }
    const std::string why = reason.empty() ? "" : ": " + std::string(reason);
    found->departure = "* " + found->name + " was kicked by the host" + why + "\n";
    leave(*found, "kicked by the host" + why, "* you were kicked by the host" + why + "\n");
  }

  // The host's /who (`everything`): a line per client, with its address,
  // time here, lines sent and what waits. A client's: names only.
  std::string who(bool everything) const {
    std::string text = "* " + count(here_, "client") + " here" + (everything ? "\n" : ":");
    std::size_t named = 0;
    for (const Client& c : clients_) {
      if (c.state != State::kIn) continue;
      if (!everything) {
        // Bounded, so that asking cannot overflow one's own queue.
        if (text.size() > options_.max_line) break;
        text += (named++ == 0 ? " " : ", ") + c.name;
        continue;
      }
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - c.since).count();
      text += "*   " + c.name + (c.name == c.address ? "" : " (" + c.address + ")") + ", here " +
              std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s, " +
              count(c.lines, "line") + " sent";
      if (!c.last.empty()) text += ", last said \"" + last_said(c.last) + "\"";
      if (c.held) text += ", held back";
      if (c.out.blocked) text += ", slow";
      if (!c.out.data.empty()) text += ", " + count(c.out.data.size(), "byte") + " waiting";
      text += "\n";
    }
    if (!everything && named < here_) text += " and " + std::to_string(here_ - named) + " more";
    return everything ? text : text + "\n";
  }

  // "* you are NAME, 2 others here: alice, bob; /nick ...": names while the
  // line (" and N more" included) fits a screen; the newcomer knows them now.
  std::string welcome(Client& newcomer) {
    std::string line = "* you are " + newcomer.name + ", " + count(here_, "other") + " here";
    std::size_t named = 0;
    for (const Client& c : clients_) {
      if (c.state != State::kIn) continue;
      const std::string more = (named == 0 ? ": " : ", ") + c.name;
      const std::size_t rest = here_ - named - 1;
      const std::string tail = rest > 0 ? " and " + std::to_string(rest) + " more" : "";
      if (line.size() + more.size() + tail.size() > kScreenWidth) break;
      line += more;
      newcomer.welcomed.push_back(c.id);
      ++named;
    }
    if (named < here_) line += " and " + std::to_string(here_ - named) + " more";
    return line + "; /nick NAME changes your name\n";
  }

  // The host's screen, the room's record.
  void show(const std::string& text) {
    if (screen_ != -1) screen_out_.data.append(text);
  }

  // News not told yet goes first: nobody hears from a client before hearing
  // that it came in.
  void queue_all(std::string_view text, const Client* except, bool to_screen) {
    announce();
    for (Client& client : clients_) {
      if (&client != except) queue(client, text);
    }
    if (to_screen && screen_ != -1) screen_out_.data.append(text);
  }

  // Queued text goes out at the end of the pass, in one write().
  void queue(Client& client, std::string_view text) {
    if (client.state != State::kIn) return;
    if (client.out.data.size() + text.size() > options_.max_queued) {
      // A burst can fill it even for a reader: write first, then judge.
      client.out.blocked = false;
      write_queued(client);
      if (client.state != State::kIn) return;
      if (client.out.data.size() + text.size() > options_.max_queued) {
        leave(client, kNotReading, std::string("* you were dropped: ") + kNotReading + "\n");
        return;
      }
    }
    client.out.data.append(text);
  }

  // Writes what the socket takes now; the rest waits for POLLOUT.
  void write_queued(Client& client) {
    Outbox& out = client.out;
    bool writing = client.state == State::kIn || client.state == State::kClosing;
    if (out.data.empty() || out.blocked || !writing) return;
    ssize_t put = write(client.socket.get(), out.data.data(), out.data.size());
    out.blocked = true;  // until all of it went
    if (try_again(put)) return;
    if (put == -1) {
      release(out.data);
      leave(client, std::strerror(errno));                  // in the room: it leaves
      if (client.state == State::kClosing) finish(client);  // closing: it is closed
      return;
    }
    out.mid_line = out.data[static_cast<std::size_t>(put) - 1] != '\n';
    out.data.erase(0, static_cast<std::size_t>(put));
    out.blocked = !out.data.empty();  // less than offered: the socket is full
    if (!out.data.empty()) return;
    release(out.data);
    if (client.state == State::kClosing && !client.said_all) {
      shutdown(client.socket.get(), SHUT_WR);  // its last line is out: end of stream follows
      client.said_all = true;
      if (client.read_ended) finish(client);
    }
  }

  // Every client's queue, then the screen's.
  void write_all() {
    const auto now = Clock::now();
    for (Client& client : clients_) {
      write_queued(client);
      // Not reading its last lines in time: closed with lines unsent.
      if (client.state == State::kClosing && now >= client.closing_by) finish(client);
    }
    if (screen_out_.data.empty() || screen_out_.blocked || screen_ == -1) return;
    std::size_t size = screen_out_.data.size();
    if (screen_is_pipe_) size = std::min<std::size_t>(size, PIPE_BUF);
    ssize_t put = write(screen_, screen_out_.data.data(), size);
    screen_out_.blocked = true;
    if (try_again(put)) return;
    if (put == -1) {
      const std::string why = std::strerror(errno);
      release(screen_out_.data);
      screen_ = -1;
      say("write to stdout: " + why + ": the room goes on");
      return;
    }
    screen_out_.data.erase(0, static_cast<std::size_t>(put));
  }

  // Announced and closed at the end of the pass; a dropped client reads `last_line` first.
  void leave(Client& client, std::string why, std::string last_line = "") {
    if (client.state != State::kIn) return;
    client.state = State::kLeaving;
    client.why = std::move(why);
    client.last_line = std::move(last_line);
    --here_;
  }

  // Drops a client, telling it why last.
  void drop(Client& client, const std::string& why) {
    leave(client, why, "* you were dropped: " + why + "\n");
  }

  // Closed at the end of the pass, without a word more.
  void finish(Client& client) { client.state = State::kDone; }

  // Announces who left and closes who is done, the last client moving into its place.
  void remove_departed() {
    for (std::size_t i = 0; i < clients_.size();) {
      Client& client = clients_[i];
      if (client.state == State::kLeaving) farewell(client);
      if (client.state != State::kDone) {
        ++i;
        continue;
      }
      std::swap(client, clients_.back());
      clients_.pop_back();  // closes its socket
      slots_.pop_back();
      retry_accept_ = {};  // a descriptor is free again: accept() at once
    }
  }

  // What a client that leaves leaves behind: the rest of its unfinished line
  // goes out (lines held over the rate do not: a flood goes with its
  // flooder), and the room hears why it went, with the next news. A dropped
  // client gets its last line, in whole lines, until goodbye_ms is up.
  void farewell(Client& client) {
    std::string reason = client.why.empty() ? "end of stream" : client.why;
    if (client.why == kNotReading) reason += " (output queue full)";
    if (client.held) {
      const auto waiting = std::count(client.partial.begin(), client.partial.end(), '\n');
      reason +=
          ", " + count(static_cast<std::size_t>(waiting), "line") + " over the rate not relayed";
    } else if (!client.partial.empty()) {
      relay(client.name, client.partial, &client);
    }
    release(client.partial);
    const bool dropped = !client.last_line.empty();
    say("disconnected " + client.where + ": " + reason);
    const char* verb = dropped ? " dropped: " : client.why.empty() ? " left" : " left: ";
    std::string line = "* " + client.name + verb + client.why + "\n";
    if (!client.departure.empty()) line = client.departure;  // a kick's own words
    news_.leaves.push_back({client.id, counts_.clients, client.named, line});
    client.state = dropped ? State::kClosing : State::kDone;
    if (!dropped) return;
    client.closing_by = Clock::now() + std::chrono::milliseconds(options_.goodbye_ms);
    cut_to(client.out, client.last_line);
    client.out.blocked = false;
  }

  // The news not told yet, to each reader what it may know, and all of it
  // to the host's screen. O(clients), so it comes only before a line (which
  // costs that much anyway) or once a second: a crowd arriving one by one
  // costs O(clients) a second, not O(clients) each.
  void announce() {
    if (news_.empty()) return;
    news_.due = Clock::now() + kNewsEvery;
    // Few joins are told by name: their clients are known to all from now on.
    const bool named = news_.joins.size() <= kNamedNews;
    const std::uint64_t first = news_.joins.empty() ? UINT64_MAX : news_.joins.front().id;
    for (auto* items : {&news_.joins, &news_.leaves, &news_.renames}) {
      for (News::Item& item : *items) {
        if (item.id >= first) item.named = named;
      }
    }
    for (Client& client : clients_) {
      if (client.id >= first && named) client.named = true;
      const std::string text =
          client.state == State::kIn ? news_for(client.id, client.welcomed) : "";
      if (!text.empty()) queue(client, text);
    }
    show(news_for(0, {}));
    news_.joins.clear();
    news_.leaves.clear();
    news_.renames.clear();
  }

  // The news for the reader with `id` (0: the host's screen): joins after it,
  // leaves and renames of others; named when few and known to it, else
  // counted (renames of clients it does not know: not at all).
  std::string news_for(std::uint64_t id, const std::vector<std::uint64_t>& welcomed) const {
    std::string text;
    // Joins in order of arrival: those after this reader are at the end.
    const auto& joins = news_.joins;
    auto after =
        std::upper_bound(joins.begin(), joins.end(), id,
                         [](std::uint64_t mine, const News::Item& j) { return mine < j.id; });
    const auto joined = static_cast<std::size_t>(joins.end() - after);
    for (; joins.size() <= kNamedNews && after != joins.end(); ++after)
      text += after->line;
    if (joins.size() > kNamedNews && joined > 0)
      text += "* " + count(joined, "client") + " joined\n";
    // Leaves in order of time: those this reader was here for are at the end.
    const auto& leaves = news_.leaves;
    auto here =
        std::lower_bound(leaves.begin(), leaves.end(), id,
                         [](const News::Item& l, std::uint64_t mine) { return l.newest < mine; });
    std::size_t unnamed = 0;
    for (; here != leaves.end(); ++here) {
      if (leaves.size() > kNamedNews) {
        unnamed = static_cast<std::size_t>(leaves.end() - here);
        break;
      }
      if (knows(id, welcomed, *here)) {
        text += here->line;
      } else {
        ++unnamed;
      }
    }
    if (unnamed > 0) text += "* " + count(unnamed, "client") + " left\n";
    unnamed = 0;
    for (const News::Item& item : news_.renames) {
      if (item.id == id || item.newest < id || !knows(id, welcomed, item)) continue;
      if (news_.renames.size() <= kNamedNews) {
        text += item.line;
      } else {
        ++unnamed;
      }
    }
    if (unnamed > 0) text += "* " + count(unnamed, "client") + " changed names\n";
    return text;
  }

  // SIGINT or SIGTERM: "* server closing" to all; one behind gets only the end of its line first.
  void close_all() {
    closing_ = true;
    remove_departed();
    announce();
    const std::string notice = "* server closing\n";
    closed_by_ = Clock::now() + std::chrono::milliseconds(options_.goodbye_ms);
    for (Client& client : clients_) {
      if (client.state != State::kIn) continue;
      if (client.out.blocked) {
        cut_to(client.out, notice);
      } else {
        client.out.data.append(notice);
      }
      client.state = State::kClosing;
      client.closing_by = closed_by_;
      say("disconnected " + client.where + ": server closing");
    }
    if (screen_ != -1) screen_out_.data.append(notice);
  }

  // When every client is closed and the screen has it all, or at closed_by_.
  bool closed() const {
    const bool screen_done = screen_out_.data.empty() || screen_ == -1;
    return (clients_.empty() && screen_done) || Clock::now() >= closed_by_;
  }

  const int listener_, stop_;
  int keyboard_, screen_;  // -1 once stdin has ended, once stdout is gone
  const ChatOptions& options_;
  ChatCounts& counts_;
  std::string typed_;  // the line the host is typing
  Outbox screen_out_;
  bool screen_is_pipe_ = false;
  bool short_of_descriptors_ = false;  // since accept() last failed, for -v
  Clock::time_point retry_accept_{};   // the listener is unwatched until then
  bool closing_ = false;               // after SIGINT or SIGTERM
  Clock::time_point closed_by_{};
  std::vector<char> scratch_ = std::vector<char>(kReadSize);  // every read lands here first
  std::vector<pollfd> slots_ = std::vector<pollfd>(kClients);
  std::vector<Client> clients_;  // clients_[i] is in slots_[kClients + i]
  std::size_t here_ = 0;         // clients in the room (State::kIn)
  double burst_;                 // a client's bucket holds this many lines at most (-r)
  News news_;
};

}  // namespace

void chat(int listener, int input, int output, int stop, const ChatOptions& options,
          ChatCounts& counts) {
  Room(listener, input, output, stop, options, counts).serve();
}
