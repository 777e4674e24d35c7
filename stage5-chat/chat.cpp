// chat.cpp: Bob hosts the whole class. One thread, one poll(), many clients:
// each pass accepts, reads and writes whatever is ready.
//
//   slots_:   [stop] [listener] [stdin] [stdout] [client 0] [client 1] ...
//   clients_:                                    [client 0] [client 1] ...
//
// Lines go out whole, control characters shown (visible.hpp); a reader too
// slow for its bounded queue is dropped (docs/stage5-chat.md).
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

// Frees the memory too: idle clients keep no large buffers.
void release(std::string& text) {
  std::string().swap(text);
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

enum Slot { kStop, kListener, kInput, kOutput, kClients };

class Room {
 public:
  Room(int listener, int input, int output, int stop, const ChatOptions& options,
       ChatCounts& counts)
      : listener_(listener),
        stop_(stop),
        keyboard_(input),
        screen_(output),
        options_(options),
        counts_(counts) {
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
        short revents = slots_[kClients + i].revents;
        if (revents & POLLOUT) clients_[i].out.blocked = false;
        if (revents & (POLLIN | POLLHUP | POLLERR)) read_client(clients_[i]);
        if (revents & POLLNVAL) leave(clients_[i], "invalid descriptor");
      }
      remove_departed();
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
      bool wants = client.state == State::kClosing ? !client.read_ended : reading;
      short events = (wants ? POLLIN : 0) | (client.out.blocked ? POLLOUT : 0);
      // Unwatched when nothing is wanted: POLLHUP would wake us for nothing.
      bool watched = events != 0 && (client.state == State::kIn || client.state == State::kClosing);
      slots_[kClients + i] = {watched ? client.socket.get() : -1, events, 0};
    }
  }

  // Until the next deadline (accept's retry, a goodbye's end); 0 with departures.
  int poll_timeout() const {
    Clock::time_point due = Clock::time_point::max();
    if (retry_accept_ > Clock::now()) due = retry_accept_;
    if (closing_) due = std::min(due, closed_by_);
    for (const Client& client : clients_) {
      if (client.state == State::kLeaving || client.state == State::kDone) return 0;  // to remove
      if (client.state == State::kClosing) due = std::min(due, client.closing_by);
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
    // BEGIN SOLUTION 5.1 many clients
    // TASK: accept() and admit() each waiting client; on EMFILE, unwatch the listener a while.
    // TASK: docs/stage5-chat.md#out-of-descriptors-wait-do-not-spin
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
    // END SOLUTION
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

  // Relays the whole lines of `partial` + `bytes`, pieces of an overlong one; null `sender`: host.
  void take_lines(std::string& partial, std::string_view bytes, const std::string& name,
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

  // Too long to wait for its LF (a final CR waits: its LF may be next).
  bool too_long(std::string_view text) const {
    return text.size() > options_.max_line &&
           !(text.size() == options_.max_line + 1 && text.back() == '\r');
  }

  // "<NAME> LINE" to all but the sender, shown (visible.hpp), in max_line pieces.
  void relay(const std::string& name, std::string_view line, const Client* sender) {
    do {
      std::string text = "<" + name + "> ";
      line.remove_prefix(append_visible(line, options_.max_line, text));
      text.push_back('\n');
      queue_all(text, sender, sender != nullptr);
      ++counts_.lines;
    } while (!line.empty());
  }

  void queue_all(std::string_view text, const Client* except, bool to_screen) {
    for (Client& client : clients_) {
      if (&client != except) queue(client, text);
    }
    if (to_screen && screen_ != -1) screen_out_.data.append(text);
  }

  // Queued text goes out at the end of the pass, in one write().
  void queue(Client& client, std::string_view text) {
    if (client.state != State::kIn) return;
    if (client.out.data.size() + text.size() > options_.max_queued) {
      // BEGIN SOLUTION 5.3 slow readers dropped
      // TASK: write what it takes now; still too full, leave() it, kNotReading its last line.
      // TASK: docs/stage5-chat.md#slow-readers-drop-them-never-wait-for-them
      // A burst can fill it even for a reader: write first, then judge.
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

  // Closed at the end of the pass, without a word more.
  void finish(Client& client) { client.state = State::kDone; }

  // Announces who left and closes who is done, the last client moving into its place.
  void remove_departed() {
    for (std::size_t i = 0; i < clients_.size();) {
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
      retry_accept_ = {};  // a descriptor is free again: accept() at once
      // END SOLUTION
    }
  }

  // The room hears its unfinished line and why it went; a dropped client gets goodbye_ms.
  void farewell(Client& client) {
    if (!client.partial.empty()) relay(client.name, client.partial, &client);
    release(client.partial);
    const bool dropped = !client.last_line.empty();
    std::string reason = client.why.empty() ? "end of stream" : client.why;
    if (client.why == kNotReading) reason += " (output queue full)";
    say("disconnected " + client.where + ": " + reason);
    const char* verb = dropped ? " dropped: " : client.why.empty() ? " left" : " left: ";
    queue_all("* " + client.name + verb + client.why + "\n", &client, true);
    client.state = dropped ? State::kClosing : State::kDone;
    if (!dropped) return;
    client.closing_by = Clock::now() + std::chrono::milliseconds(options_.goodbye_ms);
    cut_to(client.out, client.last_line);
    client.out.blocked = false;
  }

  // SIGINT or SIGTERM: "* server closing" to all; one behind gets only the end of its line first.
  void close_all() {
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
};

}  // namespace

void chat(int listener, int input, int output, int stop, const ChatOptions& options,
          ChatCounts& counts) {
  Room(listener, input, output, stop, options, counts).serve();
}
