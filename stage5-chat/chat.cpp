// chat.cpp: Bob hosts the whole class. One thread, one poll(), many clients.
//
// Stage 3 followed two descriptors with poll(): the keyboard and one peer.
// Nothing in poll() limits it to two. Here its array holds the listening
// socket, the host's keyboard and screen, and every client; one pass of the
// loop asks the kernel which of them are ready, and does exactly that much
// for each: accept who is waiting, read what was typed, write what is queued.
//
//   slots_:   [stop] [listener] [stdin] [stdout] [client 0] [client 1] ...
//   clients_:                                    [client 0] [client 1] ...
//
// What is new, and why:
// - State per client, beside its poll slot: its name, the unfinished line it
//   is typing, and an outbox of bytes waiting for it to read. A client that
//   leaves is removed by moving the last one into its place (O(1)).
// - Lines are the unit. TCP delivers bytes, not messages: "hello\n" may
//   arrive as "hel" then "lo\n". A line is relayed once its LF is here, so
//   two people typing at once never see their words interleaved.
// - Nobody writes on another's terminal: a line's control characters go
//   out shown (^[, as cat -v shows them: visible.hpp), never raw.
// - Nobody waits for a slow reader. Every socket is non-blocking; what a
//   client cannot take now waits in its outbox, which is bounded: a client
//   whose outbox would overflow is dropped (IRC's "SendQ exceeded"). A
//   blocking send() to each client in turn would let one student who stopped
//   reading freeze the whole room, as it does with ncat --chat.
// - Work per pass is bounded: one read per ready client, a bounded number of
//   accepts. Joins and leaves wait, and go out together before the next
//   line relayed or a second after the last announcement ("* 500 clients
//   left"), never one by one to everyone: N arrivals told to N people is
//   N x N writes.
// - Nobody floods the room (-r). Each client's lines go through a token
//   bucket: a burst at once, then so many a second. A client over its rate
//   is not read (no POLLIN) until its next line is due, so its lines wait
//   in its own TCP connection and flow control makes its sender wait:
//   nothing is lost, and nobody else is slowed. The host's screen holds the
//   room back the same way when it falls behind. A client held back for a
//   minute without a break is flooding, not pasting: it is dropped.
//
// The cost of poll(): each pass hands the kernel the whole array, and the
// kernel checks every entry, so a pass costs O(clients) even when one client
// typed. That is fine for a class; epoll (Linux) and kqueue (BSD, macOS) keep
// the interest list in the kernel and return only the ready ones, which is
// what servers with 100,000 clients use. docs/benchmarks.md shows where the
// scan starts to show.
//
// See also: poll(2), accept(2), fcntl(2) O_NONBLOCK, Beej's pollserver.c,
// docs/stage5-chat.md.

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

const char kHostName[] = "host";  // the name of lines typed on stdin
// Read from one client per pass at most. Small, because every line read
// becomes a copy, with its sender's name, for each of the others: 4 KiB
// of one-byte lines is some 100 KiB for each reader.
const std::size_t kReadSize = 4096;
// Accepted per pass at most, so a crowd at the door cannot keep the loop
// from the clients already in.
const int kAcceptsPerPass = 1024;
// More joins (or leaves) than this at once are announced as one line.
const std::size_t kNamedAnnouncements = 3;
// Joins and leaves alone (no line to go before) are announced at most once
// in this long.
const int kAnnounceEveryMs = 1000;
// Why a client was dropped, for -v; the others read "dropped: not reading".
const char kNotReading[] = "not reading (output queue full)";
// Why a client was dropped, held back too long; the others read it too.
const char kFlooding[] = "flooding";
// How long, after SIGINT or SIGTERM, clients get to take what is queued.
const int kGoodbyeMs = 1000;

// A token bucket (-r): a client may have a line relayed when it holds a
// token. Tokens drip in at `rate` a second, up to `burst`; each line
// relayed spends one. Typing, a client never runs out; flooding, it soon
// does, and its next line waits until the next token drips in.
struct Bucket {
  double tokens = 0;
  Clock::time_point filled{};  // when `tokens` was last brought up to date

  void fill(Clock::time_point now, double rate, double burst) {
    const double seconds = std::chrono::duration<double>(now - filled).count();
    tokens = std::min(burst, tokens + rate * seconds);
    filled = now;
  }
  // When the bucket will hold a whole token again.
  Clock::time_point next_token(double rate) const {
    const std::chrono::duration<double> wait((1 - tokens) / rate);
    return filled + std::chrono::duration_cast<Clock::duration>(wait);
  }
};

// Bytes waiting for one reader. write() takes from the front; what it
// does not take stays, and the reader is `blocked` until poll() says POLLOUT.
struct Outbox {
  std::string data;
  bool blocked = false;
};

// A client, or the host: the host reads stdin and writes stdout, a client
// reads and writes its socket.
struct Peer {
  std::uint64_t id = 0;  // 1, 2, ... in order of arrival; 0 for the host
  Fd socket;             // empty for the host
  int read_fd = -1;      // -1 once there is nothing more to read
  int write_fd = -1;     // -1 once the reader is gone
  std::string name;      // "127.0.0.1:40000", "[::1]:40000", or its /nick
  std::string where;     // "127.0.0.1 port 40000", for -v
  std::string partial;   // the line being typed, until its LF arrives
  bool cut = false;      // the start of that line went out already, in pieces
  std::string inbox;     // read, but over the rate: waits for its turn
  Bucket bucket;         // the lines it may send now
  bool held = false;     // over its rate: not read until its inbox is taken
  bool warned = false;   // told it sends too fast, this episode
  // Held back since then, every line waiting its turn: a flood, if long.
  Clock::time_point held_since{};
  Outbox out;
  bool gone = false;  // leaving: closed at the end of this pass
  std::string why;    // why it left: "" for a plain end of stream
};

// The lines a held client has waiting: each LF in its unfinished line and
// its inbox ends one, and what follows the last LF is one more.
std::size_t waiting_lines(const Peer& peer) {
  const std::string rest = peer.partial + peer.inbox;
  const auto ends = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '\n'));
  return ends + (rest.empty() || rest.back() == '\n' ? 0 : 1);
}

// Frees a string's memory, not just its contents: thousands of idle
// clients must not each keep the largest buffer they ever needed.
void release(std::string& text) {
  std::string().swap(text);
}

// Why a connection failed, as poll() reported it (POLLERR, POLLHUP): a
// read() would first return what is still queued.
std::string socket_error(const Peer& peer) {
  int error = 0;
  socklen_t size = sizeof error;
  if (getsockopt(peer.socket.get(), SOL_SOCKET, SO_ERROR, &error, &size) == -1) error = errno;
  return std::strerror(error != 0 ? error : ECONNRESET);
}

bool try_again(ssize_t result) {
  return result == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
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

// A join or a leave not told yet, and who is to hear of it: the clients in
// the room when it happened, ids up to `newest`.
struct News {
  std::string line;  // "* NAME joined", "* NAME left: REASON"
  std::uint64_t newest;
};

// Names compare without case: ASCII letters only, as nicks allow.
bool same_name(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

enum Slot { kStop, kListener, kInput, kOutput, kClients };

class Room {
 public:
  Room(int listener, int input, int output, int stop, const ChatOptions& options,
       ChatCounts& counts);
  void serve();      // until a byte arrives on `stop`
  void close_all();  // "* server closing", a second to flush, close

 private:
  Clock::time_point watch();
  void accept_clients();
  void admit(Fd socket, const sockaddr* address);
  void read_lines(Peer& peer);
  void take_lines(Peer& peer, std::string_view bytes);
  void take_waiting(Peer& peer);
  void take_line(Peer& peer, std::string_view line);
  void refill(Peer& peer);
  bool may_take(const Peer& peer) const;
  void spend(Peer& peer, std::size_t lines);
  void hold(Peer& peer);
  std::size_t pieces(std::string_view line) const;
  bool too_long(const std::string& text) const;
  bool screen_keeps_up() const;
  void relay(Peer& sender, std::string_view line);
  void rename(Peer& peer, std::string_view nick);
  void broadcast(std::string_view text, const Peer* except, bool to_screen);
  void send(Peer& to, std::string_view text);
  void flush(Peer& peer);
  void flush_all();
  void leave(Peer& client, std::string why);
  void input_ended(const std::string& why);
  void screen_lost(const std::string& why);
  void remove_departed();
  void farewell(Peer& client);
  void announce();
  void tell(std::vector<News>& news, const char* what);
  void tell_earlier(std::uint64_t newest, std::string_view text);
  int poll_timeout(Clock::time_point next_token) const;
  void say(const std::string& line) const;
  bool anything_queued() const;

  int listener_;
  int stop_;
  const ChatOptions& options_;
  ChatCounts& counts_;
  double burst_;  // a client's bucket holds this many lines at most (-r)
  Peer host_;
  bool screen_is_pipe_ = false;
  bool accepting_ = true;              // the listener is watched
  bool short_of_descriptors_ = false;  // since accept() last failed, for -v
  Clock::time_point retry_accept_{};   // then try again anyway
  bool closing_ = false;               // after SIGINT or SIGTERM
  std::vector<pollfd> slots_;
  std::vector<Peer> clients_;              // clients_[i] is in slots_[kClients + i]
  std::vector<char> scratch_;              // every read lands here first
  std::size_t departures_ = 0;             // marked gone, not yet removed
  std::vector<News> joins_;                // not told yet
  std::vector<News> leaves_;               // not told yet
  Clock::time_point next_announcement_{};  // the earliest for joins and leaves alone
};

Room::Room(int listener, int input, int output, int stop, const ChatOptions& options,
           ChatCounts& counts)
    : listener_(listener),
      stop_(stop),
      options_(options),
      counts_(counts),
      // At least a tenth of a second's worth: poll() may wake the room a
      // little late, and tokens a small bucket cannot hold meanwhile would
      // be lost, keeping a high rate below itself.
      burst_(std::max(options.burst, options.rate / 10)),
      scratch_(kReadSize) {
  host_.read_fd = input;
  host_.write_fd = output;
  host_.name = kHostName;
  // stdout is the shell's and stays blocking: it is written only when poll()
  // says it is ready, and a ready pipe takes PIPE_BUF bytes without waiting.
  host_.out.blocked = true;
  struct stat screen {};
  screen_is_pipe_ = fstat(output, &screen) == 0 && S_ISFIFO(screen.st_mode);
  slots_.resize(kClients);
}

// Fills in what each slot waits for. A descriptor of -1 is skipped by poll().
// Returns when the first held client's next token is due (max() if none).
Clock::time_point Room::watch() {
  // The host's screen is the room's record: when it falls behind, the room
  // stops reading until it catches up, and TCP makes the senders wait.
  // Closing, only writing goes on.
  bool reading = !closing_ && screen_keeps_up();
  slots_[kStop] = {closing_ ? -1 : stop_, POLLIN, 0};
  slots_[kListener] = {accepting_ && !closing_ ? listener_ : -1, POLLIN, 0};
  slots_[kInput] = {closing_ ? -1 : host_.read_fd, POLLIN, 0};
  slots_[kOutput] = {host_.out.data.empty() ? -1 : host_.write_fd, POLLOUT, 0};
  Clock::time_point next_token = Clock::time_point::max();
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    const Peer& client = clients_[i];
    // A held client is not read: its lines wait in the kernel for their
    // turn, and poll() wakes the room when its next token is due.
    if (reading && client.held) {
      next_token = std::min(next_token, client.bucket.next_token(options_.rate));
    }
    bool wants = reading && !client.held;
    short events = (wants ? POLLIN : 0) | (client.out.blocked ? POLLOUT : 0);
    // Not watched at all when nothing is wanted: poll() reports POLLHUP and
    // POLLERR even unasked, and would wake the loop for nothing. A held
    // client is, for just those: a reset ends it at once, held lines and all.
    bool watched = !client.gone && (events != 0 || client.held);
    slots_[kClients + i] = {watched ? client.socket.get() : -1, events, 0};
  }
  return next_token;
}

void Room::serve() {
  for (;;) {
    const Clock::time_point next_token = watch();
    // poll() counts its slots in nfds_t, 32 bits on macOS: converted on purpose.
    int ready = poll(slots_.data(), static_cast<nfds_t>(slots_.size()), poll_timeout(next_token));
    if (ready == -1 && errno == EINTR) continue;
    check(ready, "poll");
    if (slots_[kStop].revents) return;
    if (slots_[kListener].revents) accept_clients();
    if (slots_[kInput].revents) read_lines(host_);
    if (slots_[kOutput].revents) host_.out.blocked = false;
    // Clients accepted above have no events yet (revents 0). Nobody is
    // removed before the end of the pass, so indices hold until then.
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      short revents = slots_[kClients + i].revents;
      if (revents & POLLOUT) clients_[i].out.blocked = false;
      if (clients_[i].held && (revents & (POLLHUP | POLLERR))) {
        leave(clients_[i], socket_error(clients_[i]));  // reset: its held lines go with it
      } else if (clients_[i].held) {
        // Read nothing more until what waits is taken: its turn may have come.
        if (screen_keeps_up()) take_waiting(clients_[i]);
      } else if (revents & (POLLIN | POLLHUP | POLLERR)) {
        read_lines(clients_[i]);  // POLLHUP and POLLERR too: read() tells what happened
      }
      if (revents & POLLNVAL) leave(clients_[i], "invalid descriptor");
    }
    remove_departed();
    const auto now = Clock::now();
    if (now >= next_announcement_) announce();
    if (now >= retry_accept_) accepting_ = true;  // out of descriptors a second ago: try again
    flush_all();
  }
}

// How long poll() may sleep: not at all while clients marked gone wait to
// be removed; until joins and leaves are due, a held client's next line
// (`next_token`), or accepting is to be tried again; else as long as
// nothing happens.
int Room::poll_timeout(Clock::time_point next_token) const {
  if (departures_ > 0) return 0;
  std::vector<Clock::time_point> due;
  if (!joins_.empty() || !leaves_.empty()) due.push_back(next_announcement_);
  if (!accepting_) due.push_back(retry_accept_);
  if (next_token != Clock::time_point::max()) due.push_back(next_token);
  if (due.empty()) return -1;
  auto wait = *std::min_element(due.begin(), due.end()) - Clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
  return static_cast<int>(std::max<long long>(0, ms + 1));  // +1: not a moment early
}

// Prints a -v line in one write, so it never mixes with another.
void Room::say(const std::string& line) const {
  if (options_.verbose) std::cerr << line + "\n";
}

// Lets in the clients waiting in the listen queue, as many as are there
// (up to kAcceptsPerPass): the listening socket is non-blocking, so accept()
// says EAGAIN when the queue is empty instead of waiting.
void Room::accept_clients() {
  // BEGIN SOLUTION 5.1 many clients
  // TASK: accept() up to kAcceptsPerPass clients without waiting (the listener is non-blocking:
  // TASK: EAGAIN means nobody else waits; EINTR and ECONNABORTED: go on) and admit() each; on
  // TASK: any other error (EMFILE) stop watching the listener (accepting_) until someone leaves
  // TASK: or a second passes (retry_accept_), saying "not accepting: accept: REASON" once, and
  // TASK: "accepting again" when it works again.
  // TASK: docs/stage5-chat.md#out-of-descriptors-wait-do-not-spin
  // STUB: (void)kAcceptsPerPass, (void)short_of_descriptors_, (void)&Room::admit;
  // STUB: not_written("5.1", "many clients");
  for (int n = 0; n < kAcceptsPerPass; ++n) {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    int client = accept(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    // ECONNABORTED: that client gave up while queued.
    if (client == -1 && (errno == EINTR || errno == ECONNABORTED)) continue;
    if (client == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // nobody else waits
    if (client == -1) {
      // Out of descriptors (EMFILE), or of memory: the client stays queued
      // in the kernel. Polling the listener now would wake us at once,
      // again and again, for a client we cannot take: stop watching it
      // until someone leaves, or for a second.
      if (!short_of_descriptors_)
        say(std::string("not accepting: accept: ") + std::strerror(errno));
      short_of_descriptors_ = true;
      accepting_ = false;
      retry_accept_ = Clock::now() + std::chrono::milliseconds(kAnnounceEveryMs);
      return;
    }
    if (short_of_descriptors_) say("accepting again");
    short_of_descriptors_ = false;
    admit(Fd(client), reinterpret_cast<sockaddr*>(&address));
  }
  // END SOLUTION
}

void Room::admit(Fd socket, const sockaddr* address) {
  const std::string where = describe(address);
  // On Linux an accepted socket does not inherit O_NONBLOCK from the
  // listener (on the BSDs it does): set it, so no write ever waits.
  int flags = fcntl(socket.get(), F_GETFL);
  if (flags == -1 || fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) == -1) {
    say("connection from " + where + " closed: fcntl: " + std::strerror(errno));
    return;
  }
  // Each pass hands a client all that is queued for it in one write(), so
  // Nagle's algorithm has nothing to gather: it would only hold a short
  // line back until the one before is acknowledged (up to 40 ms, with the
  // peer's delayed ACKs).
  int on = 1;
  setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // best effort: only speed
  if (clients_.size() - departures_ >= options_.max_clients) {
    // A new socket's send buffer is empty: this short write fits.
    const std::string full = "* room full (" + std::to_string(options_.max_clients) + " clients)\n";
    ssize_t ignored = write(socket.get(), full.data(), full.size());
    (void)ignored;  // it is closing either way
    say("connection from " + where + " refused: room full");
    return;
  }
  say("connection from " + where);
  Peer client;
  client.name = address_and_port(address);
  client.where = where;
  client.read_fd = client.write_fd = socket.get();
  client.socket = std::move(socket);
  client.bucket = {burst_, Clock::now()};  // a full bucket: a paste goes at once
  const std::size_t others = clients_.size() - departures_;
  send(client, "* you are " + client.name + ", " + std::to_string(others) +
                   (others == 1 ? " other" : " others") + " here; /nick NAME changes your name\n");
  client.id = ++counts_.clients;
  joins_.push_back({"* " + client.name + " joined\n", client.id - 1});
  clients_.push_back(std::move(client));
  slots_.push_back({-1, 0, 0});
}

// One read() per ready peer per pass, so a client that floods the room
// cannot starve the others.
void Room::read_lines(Peer& peer) {
  ssize_t got = read(peer.read_fd, scratch_.data(), scratch_.size());
  if (try_again(got)) return;
  if (got <= 0) {
    std::string why = got == 0 ? "" : std::strerror(errno);
    if (&peer == &host_) {
      input_ended(why);
    } else {
      leave(peer, why);
    }
    return;
  }
  take_lines(peer, std::string_view(scratch_.data(), static_cast<std::size_t>(got)));
}

// Relays the whole lines in `bytes` while the sender may (may_take()); a
// read of 4 KiB may hold hundreds of lines, and those over the rate wait in
// the sender's inbox, in order. The rest of the line being typed waits in
// `partial`, relayed in max_line pieces if it grows that long.
void Room::take_lines(Peer& peer, std::string_view bytes) {
  const bool fresh = !peer.held;  // just read, not taken from the inbox
  peer.held = false;
  refill(peer);
  // BEGIN SOLUTION 5.2 lines relayed whole
  // TASK: take_line() each whole line in `bytes`, joined to what waits in peer.partial and
  // TASK: without a trailing CR; keep the rest in peer.partial, relayed in options_.max_line
  // TASK: pieces (peer.cut = true) while too_long(). Before each line or piece, ask may_take():
  // TASK: if not, keep what is left in peer.inbox (a piece's is in partial already), hold() and
  // TASK: return; else spend() a token per piece (pieces()), and if `fresh` the hold is broken
  // TASK: (peer.held_since = {}). docs/stage5-chat.md#the-idea-one-loop-many-peers
  // STUB: (void)bytes, (void)fresh, (void)&Room::take_line, (void)&Room::too_long;
  // STUB: (void)&Room::may_take, (void)&Room::spend, (void)&Room::hold, (void)&Room::pieces;
  // STUB: not_written("5.2", "lines relayed whole");
  for (std::size_t lf; (lf = bytes.find('\n')) != std::string_view::npos;
       bytes.remove_prefix(lf + 1)) {
    if (!may_take(peer)) {
      peer.inbox.assign(bytes.data(), bytes.size());  // the rest of the read waits its turn
      hold(peer);
      return;
    }
    if (fresh) peer.held_since = {};  // a line that did not wait: a break
    std::string_view line = bytes.substr(0, lf);
    if (!peer.partial.empty()) line = peer.partial.append(line);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF from nc -C, telnet
    spend(peer, pieces(line));
    take_line(peer, line);
    release(peer.partial);
    peer.cut = false;
  }
  peer.partial.append(bytes);
  // Too long to wait for its LF: out in pieces, each a line.
  while (too_long(peer.partial)) {
    if (!may_take(peer)) {
      hold(peer);  // what waits is all in `partial`
      return;
    }
    if (fresh) peer.held_since = {};
    spend(peer, 1);
    relay(peer, std::string_view(peer.partial).substr(0, options_.max_line));
    peer.partial.erase(0, options_.max_line);
    peer.cut = true;
  }
  if (peer.cut) peer.partial.shrink_to_fit();  // idle clients keep little
  // END SOLUTION
}

// A held client's next line may be due: what waits in its inbox goes on.
void Room::take_waiting(Peer& peer) {
  std::string waiting;
  waiting.swap(peer.inbox);  // take_lines() refills the inbox with what must wait still
  take_lines(peer, waiting);
}

// Brings a client's bucket up to date with the tokens that came since.
void Room::refill(Peer& peer) {
  // BEGIN SOLUTION 5.4 flood control
  // TASK: a client's bucket (never the host's, nor with -r 0) fill()s with options_.rate tokens
  // TASK: a second up to burst_; back at burst_, the episode is over (peer.warned = false).
  // TASK: docs/stage5-chat.md#floods-read-slower-lose-nothing--r
  // STUB: (void)peer;
  if (&peer == &host_ || options_.rate == 0) return;
  peer.bucket.fill(Clock::now(), options_.rate, burst_);
  // Quiet (or slow) long enough to have its burst back: the episode is over.
  if (peer.bucket.tokens >= burst_) peer.warned = false;
  // END SOLUTION
}

// Whether `peer` may have one more line relayed now: the host always; a
// client while its bucket holds a token, or with -r 0.
bool Room::may_take(const Peer& peer) const {
  // BEGIN SOLUTION 5.4 flood control
  // TASK: the host always may; a client with -r 0, or while its bucket holds a whole token.
  // TASK: Until you write it, everyone may: your room runs as with -r 0.
  // STUB: (void)peer;
  // STUB: return true;
  return &peer == &host_ || options_.rate == 0 || peer.bucket.tokens >= 1;
  // END SOLUTION
}

// A line in pieces costs a token a piece: a client sending no LF is paced too.
void Room::spend(Peer& peer, std::size_t lines) {
  // BEGIN SOLUTION 5.4 flood control
  // TASK: a client's bucket loses a token a line.
  // STUB: (void)peer, (void)lines;
  if (&peer != &host_) peer.bucket.tokens -= static_cast<double>(lines);
  // END SOLUTION
}

// Over the rate: the client is not read until what waits in its inbox is
// taken. The host and the sender hear of it once per episode. Held back
// too long without a break, it is dropped.
void Room::hold(Peer& peer) {
  // BEGIN SOLUTION 5.4 flood control
  // TASK: mark the client held (watch() stops reading it); from held_since, a hold of
  // TASK: options_.max_held_ms without a break means leave() with kFlooding; else, once per
  // TASK: episode (peer.warned), announce() and tell the host and the sender, as the lesson shows.
  // STUB: (void)peer, (void)kFlooding;
  // STUB: not_written("5.4", "flood control");
  peer.held = true;
  const auto now = Clock::now();
  if (peer.held_since == Clock::time_point{}) peer.held_since = now;
  if (now - peer.held_since >= std::chrono::milliseconds(options_.max_held_ms)) {
    leave(peer, kFlooding);
    return;
  }
  if (peer.warned) return;
  peer.warned = true;
  const std::string rate =
      std::to_string(options_.rate) + (options_.rate == 1 ? " line" : " lines") + " a second";
  announce();  // who came in goes first, as before any line
  send(host_, "* " + peer.name + " is sending too fast: held to " + rate + "\n");
  send(peer, "* you are sending too fast: held to " + rate + ", nothing is lost\n");
  // END SOLUTION
}

// How many max_line pieces `line` is as sent: each costs a token. (Shown,
// a piece with control characters grows, and relay() may send it as more.)
std::size_t Room::pieces(std::string_view line) const {
  return std::max<std::size_t>(1, (line.size() + options_.max_line - 1) / options_.max_line);
}

// Too long to wait for its LF. A CR at the very end stays, in case its LF
// is next.
bool Room::too_long(const std::string& text) const {
  return text.size() > options_.max_line &&
         !(text.size() == options_.max_line + 1 && text.back() == '\r');
}

// The host's screen has not fallen behind: the room may read more.
bool Room::screen_keeps_up() const {
  return host_.out.data.size() <= options_.max_queued;
}

// A whole line: a command, or words for the others. The end of a line
// already sent in pieces is words, whatever it looks like.
void Room::take_line(Peer& peer, std::string_view line) {
  const std::string_view command = "/nick ";
  if (&peer != &host_ && !peer.cut && line.substr(0, command.size()) == command) {
    rename(peer, line.substr(command.size()));
  } else {
    relay(peer, line);
  }
}

// "<NAME> LINE" to everyone but the sender, its control characters shown
// (visible.hpp); a line longer than max_line as shown goes in pieces.
void Room::relay(Peer& sender, std::string_view line) {
  do {
    std::string text = "<" + sender.name + "> ";
    line.remove_prefix(append_visible(line, options_.max_line, text));
    text.push_back('\n');
    broadcast(text, &sender, &sender != &host_);
    ++counts_.lines;
  } while (!line.empty());
}

void Room::rename(Peer& peer, std::string_view nick) {
  if (!valid_nick(nick)) {
    send(peer, "* invalid nick: 1 to 32 letters, digits, '-', '_' or '.'\n");
    return;
  }
  // Alice and alice would look like one person. A linear search, but
  // names change rarely.
  bool taken = same_name(nick, kHostName) ||
               std::any_of(clients_.begin(), clients_.end(),
                           [&](const Peer& c) { return &c != &peer && same_name(c.name, nick); });
  if (taken) {
    send(peer, "* nick " + std::string(nick) + " is taken\n");
    return;
  }
  broadcast("* " + peer.name + " is now " + std::string(nick) + "\n", nullptr, true);
  peer.name = nick;
}

// Queues `text` for every client but `except`, and for the host's screen.
// Joins and leaves not told yet go first: nobody hears from a client
// before hearing that it came in.
void Room::broadcast(std::string_view text, const Peer* except, bool to_screen) {
  announce();
  for (Peer& client : clients_) {
    if (&client != except) send(client, text);
  }
  if (to_screen) send(host_, text);
}

// Queues `text` for one reader; it goes out at the end of the pass, with
// everything else queued for that reader in the meantime, in one write().
void Room::send(Peer& to, std::string_view text) {
  if (to.gone || to.write_fd == -1) return;
  // BEGIN SOLUTION 5.3 slow readers dropped
  // TASK: a client whose outbox would pass options_.max_queued: flush() what it takes now
  // TASK: (out.blocked = false first); if it is still too full, release() its outbox and leave()
  // TASK: it with kNotReading. docs/stage5-chat.md#slow-readers-drop-them-never-wait-for-them
  // STUB: (void)kNotReading;
  // STUB: if (&to != &host_ && to.out.data.size() + text.size() > options_.max_queued) {
  // STUB:   not_written("5.3", "slow readers dropped");
  // STUB: }
  if (&to != &host_ && to.out.data.size() + text.size() > options_.max_queued) {
    // Full. A burst can fill it within one pass even for a client that
    // reads: hand the kernel what it takes now before judging.
    to.out.blocked = false;
    flush(to);
    if (to.gone) return;
    if (to.out.data.size() + text.size() > options_.max_queued) {
      release(to.out.data);
      leave(to, kNotReading);
      return;
    }
  }
  // END SOLUTION
  to.out.data.append(text);
}

// Writes what `peer` will take now. A socket takes what fits in its send
// buffer and says EAGAIN when full; the rest waits for POLLOUT.
void Room::flush(Peer& peer) {
  Outbox& out = peer.out;
  if (out.data.empty() || out.blocked || peer.gone || peer.write_fd == -1) return;
  std::size_t size = out.data.size();
  if (&peer == &host_ && screen_is_pipe_) size = std::min<std::size_t>(size, PIPE_BUF);
  ssize_t put = write(peer.write_fd, out.data.data(), size);
  if (try_again(put)) {
    out.blocked = true;
    return;
  }
  if (put == -1) {
    std::string why = std::strerror(errno);
    release(out.data);
    if (&peer == &host_) {
      screen_lost(why);
    } else {
      leave(peer, why);
    }
    return;
  }
  out.data.erase(0, static_cast<std::size_t>(put));
  if (out.data.empty()) release(out.data);
  // Less than offered: the socket is full. The screen always waits for poll().
  out.blocked = !out.data.empty() || &peer == &host_;
}

void Room::flush_all() {
  for (Peer& client : clients_) {
    flush(client);
  }
  flush(host_);
}

// Marks a client as leaving; it is closed and announced at the end of the
// pass, after the others have been served. `why` is "" for a plain end of
// stream.
void Room::leave(Peer& client, std::string why) {
  if (client.gone) return;
  client.gone = true;
  client.why = std::move(why);
  ++departures_;
}

// The host's keyboard ended (Ctrl-D, </dev/null) or failed: the room goes
// on, and what was typed last still goes out.
void Room::input_ended(const std::string& why) {
  if (!host_.partial.empty()) relay(host_, host_.partial);
  release(host_.partial);
  host_.read_fd = -1;
  // A room run with </dev/null ends its input at once: nothing to say then.
  if (!why.empty()) say("read from stdin: " + why + ": the room goes on");
}

// The host's screen is gone (a closed pipe): the room goes on unseen.
void Room::screen_lost(const std::string& why) {
  release(host_.out.data);
  host_.write_fd = -1;
  say("write to stdout: " + why + ": the room goes on");
}

// Closes the clients that left during this pass. The last client moves
// into each free place: no shifting. slots_ loses its last entry, and
// watch() fills it in anew before the next poll().
void Room::remove_departed() {
  // BEGIN SOLUTION 5.1 many clients
  // TASK: for each client marked gone (while departures_ > 0): farewell() it, then move the
  // TASK: last client into its place and pop the last of clients_ and slots_ (that closes its
  // TASK: socket); a descriptor is free again (accepting_).
  // TASK: docs/stage5-chat.md#the-idea-one-loop-many-peers
  // STUB: (void)&Room::farewell;
  // STUB: if (departures_ > 0) not_written("5.1", "many clients");
  for (std::size_t i = 0; departures_ > 0 && i < clients_.size();) {
    Peer& client = clients_[i];
    if (!client.gone) {
      ++i;
      continue;
    }
    farewell(client);
    std::swap(client, clients_.back());
    clients_.pop_back();  // closes its socket
    slots_.pop_back();
    --departures_;
    accepting_ = true;  // a descriptor is free again
  }
  // END SOLUTION
}

// What a client that leaves leaves behind: the rest of an unfinished line
// goes out. Lines held over the rate do not: a flooder that leaves takes its
// flood with it, as its kernel takes what it held, instead of leaving it for
// every screen at once. Its leave is told with the next news (announce()).
void Room::farewell(Peer& client) {
  std::string reason = client.why.empty() ? "end of stream" : client.why;
  if (client.held) {
    reason += ", " + std::to_string(waiting_lines(client)) + " lines over the rate not relayed";
  } else if (!client.partial.empty()) {
    relay(client, client.partial);
  }
  say("disconnected " + client.where + ": " + reason);
  std::string line = "* " + client.name + " left\n";
  if (client.why == kNotReading) {
    line = "* " + client.name + " dropped: not reading\n";
  } else if (client.why == kFlooding) {
    line = "* " + client.name + " dropped: flooding\n";
  } else if (!client.why.empty()) {
    line = "* " + client.name + " left: " + client.why + "\n";
  }
  leaves_.push_back({line, counts_.clients});
}

// The joins and leaves not told yet. This costs O(clients), and comes only
// before something else goes to everyone (which costs that much anyway) or
// once a second: a crowd arriving one by one costs O(clients) a second,
// not O(clients) each.
void Room::announce() {
  if (joins_.empty() && leaves_.empty()) return;
  next_announcement_ = Clock::now() + std::chrono::milliseconds(kAnnounceEveryMs);
  tell(joins_, "joined");
  tell(leaves_, "left");
}

// Each line of `news` when there are few, else one line that counts them.
void Room::tell(std::vector<News>& news, const char* what) {
  if (news.size() > kNamedAnnouncements) {
    const std::string count = "* " + std::to_string(news.size()) + " clients " + what + "\n";
    tell_earlier(news.front().newest, count);
  } else {
    for (const News& item : news) {
      tell_earlier(item.newest, item.line);
    }
  }
  news.clear();
}

// `text` to the host's screen and to the clients up to id `newest`: those
// in the room when it happened. Who came later was told who was here.
void Room::tell_earlier(std::uint64_t newest, std::string_view text) {
  for (Peer& client : clients_) {
    if (client.id <= newest) send(client, text);
  }
  send(host_, text);
}

// After SIGINT or SIGTERM: "* server closing" to everyone, then at most
// kGoodbyeMs for each client to take what is queued for it. Nothing more is
// read or accepted.
void Room::close_all() {
  closing_ = true;
  remove_departed();
  broadcast("* server closing\n", nullptr, true);
  const auto deadline = Clock::now() + std::chrono::milliseconds(kGoodbyeMs);
  for (;;) {
    flush_all();
    remove_departed();  // those whose last write failed
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!anything_queued() || remaining.count() <= 0) break;
    watch();
    int ready = poll(slots_.data(), static_cast<nfds_t>(slots_.size()),
                     static_cast<int>(remaining.count()));
    if (ready == -1 && errno != EINTR) break;
    if (slots_[kOutput].revents) host_.out.blocked = false;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      if (slots_[kClients + i].revents) clients_[i].out.blocked = false;
    }
  }
  for (const Peer& client : clients_) {
    say("disconnected " + client.where + ": server closing");
  }
  clients_.clear();  // closes every socket
}

bool Room::anything_queued() const {
  bool screen = !host_.out.data.empty() && host_.write_fd != -1;
  return screen || std::any_of(clients_.begin(), clients_.end(),
                               [](const Peer& c) { return !c.out.data.empty(); });
}

}  // namespace

void chat(int listener, int input, int output, int stop, const ChatOptions& options,
          ChatCounts& counts) {
  int flags = check(fcntl(listener, F_GETFL), "fcntl F_GETFL");
  check(fcntl(listener, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
  Room room(listener, input, output, stop, options, counts);
  room.serve();
  room.close_all();
}
