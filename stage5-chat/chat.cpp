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
// What is new, and why (docs/stage5-chat.md tells it at length):
// - State per client beside its poll slot: its name, the line it is typing,
//   and the bytes queued for it to read.
// - Lines are the unit. TCP delivers bytes: "hello\n" may arrive as "hel"
//   then "lo\n". A line is relayed once its LF is here, so two people typing
//   at once never see their words interleaved.
// - Nobody writes on another's terminal: a line's control characters go
//   out shown (^[, as cat -v shows them: visible.hpp), never raw.
// - Nobody waits for a slow reader. Every socket is non-blocking; what a
//   client cannot take now waits in its queue, which is bounded: a client
//   whose queue would overflow is dropped, told why, in whole lines.
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

const char kHostName[] = "host";  // the name of lines typed on stdin
// Read from one client per pass at most: a flood from one cannot starve the others.
const std::size_t kReadSize = 4096;
// Accepted per pass at most, so a crowd at the door cannot keep the loop
// from the clients already in.
const int kAcceptsPerPass = 1024;
// Out of descriptors: how long before accept() is tried again anyway.
const std::chrono::seconds kRetryAccept{1};
const char kNotReading[] = "not reading";

// Bytes queued for one reader. write() takes from the front; what it does
// not take stays, and the reader is `blocked` until poll() says POLLOUT.
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
  Fd socket;
  std::string name;     // "127.0.0.1:40000" or "[::1]:40000", as the others read it
  std::string where;    // "127.0.0.1 port 40000", for -v
  std::string partial;  // the line being typed, until its LF arrives
  Outbox out;
  State state = State::kIn;
  std::string why;        // why it leaves: "" for a plain end of stream
  std::string last_line;  // the notice a dropped client reads last
  Clock::time_point closing_by{};
  bool said_all = false;    // closing: its last line is out, and our end of stream
  bool read_ended = false;  // closing: its end of stream is read
};

// Frees a string's memory, not just its contents: thousands of idle
// clients must not each keep the largest buffer they ever needed.
void release(std::string& text) {
  std::string().swap(text);
}

bool try_again(ssize_t result) {
  return result == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

// What a reader still gets, cut short: the end of the line it holds the
// start of (nobody sees half a line), then `notice`.
void cut_to(Outbox& out, const std::string& notice) {
  const std::size_t lf = out.mid_line ? out.data.find('\n') : std::string::npos;
  out.data.erase(lf == std::string::npos ? 0 : lf + 1);
  out.data.append(notice);
}

enum Slot { kStop, kListener, kInput, kOutput, kClients };

class Room {
 public:
  Room(int listener, int input, int output, int stop, const ChatOptions& options,
       ChatCounts& counts);
  void serve();  // until a byte arrives on `stop`, and the room is closed

 private:
  void watch();
  int poll_timeout() const;
  void accept_clients();
  void admit(Fd socket, const sockaddr* address);
  void read_client(Client& client);
  void read_keyboard();
  void take_lines(std::string& partial, std::string_view bytes, const std::string& name,
                  const Client* sender);
  bool too_long(std::string_view text) const;
  void relay(const std::string& name, std::string_view line, const Client* sender);
  void queue_all(std::string_view text, const Client* except, bool to_screen);
  void queue(Client& client, std::string_view text);
  void write_queued(Client& client);
  void write_screen();
  void write_all();
  void leave(Client& client, std::string why, std::string last_line = "");
  void finish(Client& client);
  void remove_departed();
  void farewell(Client& client);
  void say(const std::string& line) const;
  void close_all();
  bool closed() const;

  int listener_;
  int stop_;
  int keyboard_;  // -1 once stdin has ended
  int screen_;    // -1 once stdout is gone
  const ChatOptions& options_;
  ChatCounts& counts_;
  std::string typed_;  // the line the host is typing
  Outbox screen_out_;
  bool screen_is_pipe_ = false;
  bool accepting_ = true;              // the listener is watched
  bool short_of_descriptors_ = false;  // since accept() last failed, for -v
  Clock::time_point retry_accept_{};
  bool closing_ = false;  // after SIGINT or SIGTERM
  Clock::time_point closed_by_{};
  std::vector<pollfd> slots_;
  std::vector<Client> clients_;  // clients_[i] is in slots_[kClients + i]
  std::vector<char> scratch_;    // every read lands here first
  std::size_t departures_ = 0;   // leaving or done, not yet removed
  std::size_t here_ = 0;         // clients in the room (State::kIn)
};

Room::Room(int listener, int input, int output, int stop, const ChatOptions& options,
           ChatCounts& counts)
    : listener_(listener),
      stop_(stop),
      keyboard_(input),
      screen_(output),
      options_(options),
      counts_(counts),
      scratch_(kReadSize) {
  // stdout is the shell's and stays blocking: it is written only when poll()
  // says it is ready, and a ready pipe takes PIPE_BUF bytes without waiting.
  screen_out_.blocked = true;
  struct stat screen {};
  screen_is_pipe_ = fstat(output, &screen) == 0 && S_ISFIFO(screen.st_mode);
  slots_.resize(kClients);
}

// Fills in what each slot waits for. A descriptor of -1 is skipped by poll().
void Room::watch() {
  // The host's screen is the room's record: when it falls behind, the room
  // stops reading until it catches up, and TCP makes the senders wait.
  bool reading = !closing_ && screen_out_.data.size() <= options_.max_queued;
  slots_[kStop] = {closing_ ? -1 : stop_, POLLIN, 0};
  slots_[kListener] = {accepting_ && !closing_ ? listener_ : -1, POLLIN, 0};
  slots_[kInput] = {closing_ ? -1 : keyboard_, POLLIN, 0};
  slots_[kOutput] = {screen_out_.data.empty() ? -1 : screen_, POLLOUT, 0};
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    const Client& client = clients_[i];
    // A closing client is still read, and what it sends thrown away: bytes
    // left unread would make close() send a reset, which may destroy its last lines.
    bool wants = client.state == State::kClosing ? !client.read_ended : reading;
    short events = (wants ? POLLIN : 0) | (client.out.blocked ? POLLOUT : 0);
    // Not watched when nothing is wanted: poll() reports POLLHUP and POLLERR
    // even unasked, and would wake the loop for nothing.
    bool watched = events != 0 && (client.state == State::kIn || client.state == State::kClosing);
    slots_[kClients + i] = {watched ? client.socket.get() : -1, events, 0};
  }
}

void Room::serve() {
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
    // Clients accepted above have no events yet (revents 0). Nobody is
    // removed before the end of the pass, so indices hold until then.
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      short revents = slots_[kClients + i].revents;
      if (revents & POLLOUT) clients_[i].out.blocked = false;
      // POLLHUP and POLLERR too: read() tells what happened.
      if (revents & (POLLIN | POLLHUP | POLLERR)) read_client(clients_[i]);
      if (revents & POLLNVAL) leave(clients_[i], "invalid descriptor");
    }
    remove_departed();
    write_all();
    if (Clock::now() >= retry_accept_) accepting_ = true;
  }
}

// How long poll() may sleep: not at all while departures wait to be
// removed; until accept() is to be tried again, or a closing client's time
// is up; else as long as nothing happens.
int Room::poll_timeout() const {
  if (departures_ > 0) return 0;
  Clock::time_point due = accepting_ ? Clock::time_point::max() : retry_accept_;
  if (closing_) due = std::min(due, closed_by_);
  for (const Client& client : clients_) {
    if (client.state == State::kClosing) due = std::min(due, client.closing_by);
  }
  if (due == Clock::time_point::max()) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
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
  // TASK: accept() and admit() each waiting client; on EMFILE, unwatch the listener a while.
  // TASK: docs/stage5-chat.md#out-of-descriptors-wait-do-not-spin
  for (int n = 0; n < kAcceptsPerPass; ++n) {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    int client = accept(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    // ECONNABORTED: that client gave up while queued.
    if (client == -1 && (errno == EINTR || errno == ECONNABORTED)) continue;
    if (client == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // nobody else waits
    if (client == -1) {
      // Out of descriptors (EMFILE): the client stays queued in the kernel,
      // and a watched listener would wake us at once, again and again.
      if (!short_of_descriptors_)
        say(std::string("not accepting: accept: ") + std::strerror(errno));
      short_of_descriptors_ = true;
      accepting_ = false;
      retry_accept_ = Clock::now() + kRetryAccept;
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
  // Each pass hands a client all that is queued for it in one write():
  // Nagle's algorithm would only hold a short line back.
  int on = 1;
  setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // best effort: only speed
  if (here_ >= options_.max_clients) {
    // A new socket's send buffer is empty: this short write fits.
    const std::string full = "* room full (" + std::to_string(options_.max_clients) + " clients)\n";
    ssize_t ignored = write(socket.get(), full.data(), full.size());
    (void)ignored;  // it is closing either way
    say("connection from " + where + " refused: room full");
    return;
  }
  say("connection from " + where);
  Client client;
  client.name = address_and_port(address);
  client.where = where;
  client.socket = std::move(socket);
  queue(client, "* you are " + client.name + ", " + std::to_string(here_) +
                    (here_ == 1 ? " other" : " others") + " here\n");
  queue_all("* " + client.name + " joined\n", nullptr, true);
  ++counts_.clients;
  ++here_;
  clients_.push_back(std::move(client));
  slots_.push_back({-1, 0, 0});
}

// One read() per ready client per pass, so one that floods the room
// cannot starve the others.
void Room::read_client(Client& client) {
  ssize_t got = read(client.socket.get(), scratch_.data(), scratch_.size());
  if (try_again(got)) return;
  if (client.state == State::kClosing) {
    // Thrown away. Once both ends of stream are through, close() sends no reset.
    if (got == 0) client.read_ended = true;
    if (got == -1 || (client.read_ended && client.said_all)) finish(client);
    return;
  }
  if (got <= 0) {
    leave(client, got == 0 ? "" : std::strerror(errno));
    return;
  }
  take_lines(client.partial, std::string_view(scratch_.data(), static_cast<std::size_t>(got)),
             client.name, &client);
}

// The host's keyboard. Its end (Ctrl-D, </dev/null) or failure leaves the
// room going; what was typed last still goes out.
void Room::read_keyboard() {
  ssize_t got = read(keyboard_, scratch_.data(), scratch_.size());
  if (try_again(got)) return;
  if (got > 0) {
    take_lines(typed_, std::string_view(scratch_.data(), static_cast<std::size_t>(got)), kHostName,
               nullptr);
    return;
  }
  if (!typed_.empty()) relay(kHostName, typed_, nullptr);
  release(typed_);
  keyboard_ = -1;
  // A room run with </dev/null ends its input at once: nothing to say then.
  if (got == -1)
    say(std::string("read from stdin: ") + std::strerror(errno) + ": the room goes on");
}

// Relays the whole lines in `partial` once `bytes` is added to it, and
// pieces of a line grown longer than max_line; the rest stays in `partial`.
// `sender` is null for the host.
void Room::take_lines(std::string& partial, std::string_view bytes, const std::string& name,
                      const Client* sender) {
  partial.append(bytes);
  // BEGIN SOLUTION 5.2 lines relayed whole
  // TASK: relay() each whole line (CR before LF dropped), and pieces of one too_long().
  // TASK: docs/stage5-chat.md#lines-not-bytes
  std::size_t taken = 0;
  for (;;) {
    std::string_view rest = std::string_view(partial).substr(taken);
    const std::size_t lf = rest.find('\n');
    std::string_view line = rest.substr(0, lf);
    if (lf == std::string_view::npos && !too_long(rest)) break;
    if (lf == std::string_view::npos) line = rest.substr(0, options_.max_line);  // a piece
    taken += line.size() + (lf == std::string_view::npos ? 0 : 1);
    if (lf != std::string_view::npos && !line.empty() && line.back() == '\r') {
      line.remove_suffix(1);  // CRLF from nc -C, telnet
    }
    relay(name, line, sender);
  }
  partial.erase(0, taken);
  if (partial.empty()) release(partial);
  // END SOLUTION
}

// Too long to wait for its LF. A CR at the very end stays, in case its LF is next.
bool Room::too_long(std::string_view text) const {
  return text.size() > options_.max_line &&
         !(text.size() == options_.max_line + 1 && text.back() == '\r');
}

// "<NAME> LINE" to everyone but the sender, its control characters shown
// (visible.hpp); a line longer than max_line as shown goes in pieces.
void Room::relay(const std::string& name, std::string_view line, const Client* sender) {
  do {
    std::string text = "<" + name + "> ";
    line.remove_prefix(append_visible(line, options_.max_line, text));
    text.push_back('\n');
    queue_all(text, sender, sender != nullptr);
    ++counts_.lines;
  } while (!line.empty());
}

// Queues `text` for every client in the room but `except`, and for the
// host's screen if `to_screen`.
void Room::queue_all(std::string_view text, const Client* except, bool to_screen) {
  for (Client& client : clients_) {
    if (&client != except) queue(client, text);
  }
  if (to_screen && screen_ != -1) screen_out_.data.append(text);
}

// Queues `text` for one reader; it goes out at the end of the pass, with
// everything else queued for that reader meanwhile, in one write().
void Room::queue(Client& client, std::string_view text) {
  if (client.state != State::kIn) return;
  if (client.out.data.size() + text.size() > options_.max_queued) {
    // BEGIN SOLUTION 5.3 slow readers dropped
    // TASK: write what it takes now; still too full, leave() it, kNotReading its last line.
    // TASK: docs/stage5-chat.md#slow-readers-drop-them-never-wait-for-them
    // A burst can fill it within one pass even for a client that reads:
    // hand the kernel what it takes now before judging.
    client.out.blocked = false;
    write_queued(client);
    if (client.state != State::kIn) return;
    if (client.out.data.size() + text.size() > options_.max_queued) {
      leave(client, kNotReading, std::string("* you were dropped: ") + kNotReading + "\n");
      return;
    }
    // END SOLUTION
  }
  client.out.data.append(text);
}

// Writes what `client` will take now. A socket takes what fits in its send
// buffer and says EAGAIN when full; the rest waits for POLLOUT.
void Room::write_queued(Client& client) {
  Outbox& out = client.out;
  bool writing = client.state == State::kIn || client.state == State::kClosing;
  if (out.data.empty() || out.blocked || !writing) return;
  ssize_t put = write(client.socket.get(), out.data.data(), out.data.size());
  if (try_again(put)) {
    out.blocked = true;
    return;
  }
  if (put == -1) {
    release(out.data);
    if (client.state == State::kClosing) {
      finish(client);
    } else {
      leave(client, std::strerror(errno));
    }
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

// The screen always waits for poll(): stdout stays blocking.
void Room::write_screen() {
  if (screen_out_.data.empty() || screen_out_.blocked || screen_ == -1) return;
  std::size_t size = screen_out_.data.size();
  if (screen_is_pipe_) size = std::min<std::size_t>(size, PIPE_BUF);
  ssize_t put = write(screen_, screen_out_.data.data(), size);
  screen_out_.blocked = true;
  if (try_again(put)) return;
  if (put == -1) {
    // A closed pipe: the room goes on unseen.
    const std::string why = std::strerror(errno);
    release(screen_out_.data);
    screen_ = -1;
    say("write to stdout: " + why + ": the room goes on");
    return;
  }
  screen_out_.data.erase(0, static_cast<std::size_t>(put));
}

void Room::write_all() {
  const auto now = Clock::now();
  for (Client& client : clients_) {
    write_queued(client);
    if (client.state == State::kClosing && now >= client.closing_by) {
      finish(client);  // not reading: closed, with lines unsent
    }
  }
  write_screen();
}

// Marks a client as leaving: announced and closed at the end of the pass,
// after the others have been served. `why` is "" for a plain end of
// stream; a client with a `last_line` reads it before it is closed.
void Room::leave(Client& client, std::string why, std::string last_line) {
  if (client.state != State::kIn) return;
  client.state = State::kLeaving;
  client.why = std::move(why);
  client.last_line = std::move(last_line);
  ++departures_;
  --here_;
}

// Closes a client at the end of the pass, without a word more.
void Room::finish(Client& client) {
  client.state = State::kDone;
  ++departures_;
}

// Announces the clients that left during this pass and closes those done.
// The last client moves into each free place: no shifting. slots_ loses its
// last entry, and watch() fills it in anew before the next poll().
void Room::remove_departed() {
  for (std::size_t i = 0; departures_ > 0 && i < clients_.size();) {
    // BEGIN SOLUTION 5.1 many clients
    // TASK: farewell() a leaving client; close a done one, the last client moved into its place.
    // TASK: docs/stage5-chat.md#the-idea-one-loop-many-peers
    Client& client = clients_[i];
    if (client.state == State::kLeaving) farewell(client);
    if (client.state != State::kDone) {
      ++i;
      continue;
    }
    std::swap(client, clients_.back());
    clients_.pop_back();  // closes its socket
    slots_.pop_back();
    --departures_;
    accepting_ = true;  // a descriptor is free again
    // END SOLUTION
  }
}

// What a client that leaves leaves behind: the rest of its unfinished line
// goes out, and the room hears why it went. A dropped client gets its last
// line, in whole lines, until goodbye_ms is up.
void Room::farewell(Client& client) {
  if (!client.partial.empty()) relay(client.name, client.partial, &client);
  release(client.partial);
  const bool dropped = !client.last_line.empty();
  std::string reason = client.why.empty() ? "end of stream" : client.why;
  if (client.why == kNotReading) reason += " (output queue full)";
  say("disconnected " + client.where + ": " + reason);
  std::string line = "* " + client.name + " left\n";
  if (dropped) {
    line = "* " + client.name + " dropped: " + client.why + "\n";
  } else if (!client.why.empty()) {
    line = "* " + client.name + " left: " + client.why + "\n";
  }
  queue_all(line, &client, true);
  if (!dropped) {
    client.state = State::kDone;
    return;
  }
  --departures_;  // closing now: removed when done
  client.state = State::kClosing;
  client.closing_by = Clock::now() + std::chrono::milliseconds(options_.goodbye_ms);
  cut_to(client.out, client.last_line);
  client.out.blocked = false;
}

// After SIGINT or SIGTERM: "* server closing" to everyone, who then get at
// most goodbye_ms to take what is queued. A client behind (its socket
// full) gets the end of its line and the notice, not its whole queue.
// Nothing more is accepted, and what clients send is thrown away.
void Room::close_all() {
  closing_ = true;
  remove_departed();
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

// Closing is over when every client is closed and the screen has it all,
// or at closed_by_ whatever is left; then every socket still open closes.
bool Room::closed() const {
  const bool screen_done = screen_out_.data.empty() || screen_ == -1;
  return (clients_.empty() && screen_done) || Clock::now() >= closed_by_;
}

}  // namespace

void chat(int listener, int input, int output, int stop, const ChatOptions& options,
          ChatCounts& counts) {
  int flags = check(fcntl(listener, F_GETFL), "fcntl F_GETFL");
  check(fcntl(listener, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
  Room room(listener, input, output, stop, options, counts);
  room.serve();
}
