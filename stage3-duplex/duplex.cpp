// duplex.cpp: both directions of a conversation at once, in one thread.
//
// Stage 2 could only send: while it waits in read() for the keyboard, it
// cannot notice that the network has something to print. The way out is
// poll(): hand the kernel a list of "I would like to read this / write that"
// and sleep until at least one of them can be done without waiting. Then do
// exactly that much, and ask again.
//
// Four slots, two buffers, as in OpenBSD nc's readwrite():
//
//   stdin  --read-->  [ up buffer ]  --write-->  socket
//   socket --read-->  [down buffer]  --write-->  stdout
//
// A slot is watched only when it can make progress: a source while its
// buffer has room, a sink while its buffer has data. A full buffer therefore
// stops reading from its source until the sink catches up (backpressure), so
// memory stays at two buffers whatever the amount moved.
//
// Why this cannot deadlock: the blocking loop of stage 2, made to go both
// ways, would sit in write(socket) while the peer sits in write(socket) too,
// each waiting for the other to read. Here the socket is non-blocking, so a
// write takes what fits and returns, and the loop always goes back to poll(),
// where the peer's bytes are still read while ours wait for room.
//
// The directions end separately, as TCP's do. End of stdin: send what is
// buffered, then shutdown(SHUT_WR), so the peer reads end of file, and keep
// printing what it sends (the reply may come only now). End of the peer's
// stream: print what is buffered; then stop if stdin is a terminal, or else
// keep sending stdin to its end (the peer may still be reading).
//
// See also: poll(2), shutdown(2), fcntl(2) O_NONBLOCK; Stevens, UNIX Network
// Programming, section 6.7 (str_cli with select and shutdown) and 16.2.

#include "duplex.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "error.hpp"

namespace {

// One direction: bytes read from `from` wait in data[start, end) until
// written to `to`. Reading appends at `end`; writing takes from `start`.
struct Direction {
  int from;
  int to;
  const char* read_attempt;
  const char* write_attempt;
  std::vector<char> data;
  std::size_t start = 0;
  std::size_t end = 0;
  bool open = true;                       // false once `from` has reached end of file
  std::size_t most_per_write = SIZE_MAX;  // see duplex(): PIPE_BUF for a pipe with -w
  const char* end_notice = nullptr;       // said on stderr when `from` ends (-v)

  bool has_room() const { return end < data.size(); }
  bool has_data() const { return start < end; }
  bool done() const { return !open && !has_data(); }
};

// Both calls below return how many bytes moved; 0 when the descriptor was
// not ready after all (a non-blocking socket says EAGAIN) or a signal came.
bool try_again(ssize_t result) {
  return result == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

std::size_t fill(Direction& d) {
  ssize_t got = read(d.from, d.data.data() + d.end, d.data.size() - d.end);
  if (try_again(got)) return 0;
  if (check(got, d.read_attempt) == 0) {  // end of file
    d.open = false;
    if (d.end_notice != nullptr) std::cerr << d.end_notice;
  }
  d.end += static_cast<std::size_t>(got);
  return static_cast<std::size_t>(got);
}

std::size_t drain(Direction& d) {
  ssize_t put = write(d.to, d.data.data() + d.start, std::min(d.end - d.start, d.most_per_write));
  if (try_again(put)) return 0;
  d.start += static_cast<std::size_t>(check(put, d.write_attempt));
  if (d.start == d.end) d.start = d.end = 0;  // empty: the whole buffer has room again
  return static_cast<std::size_t>(put);
}

// The descriptor to watch in one poll slot, or -1, which poll() skips.
int watch(bool wanted, int fd) {
  return wanted ? fd : -1;
}

enum Slot { kInput, kSocketOut, kSocketIn, kOutput, kSlots };

// True when the copy is over: both ways ended, or the peer's ended with a
// terminal as input and nothing typed is left to send.
bool finished(const Direction& up, const Direction& down, const DuplexOptions& options) {
  if (!down.done()) return false;
  return up.done() || (options.input_is_terminal && !up.has_data());
}

void copy_both_ways(Direction& up, Direction& down, int socket, const DuplexOptions& options,
                    Counts& counts) {
  bool shut = false;  // shutdown(SHUT_WR) done
  while (!finished(up, down, options)) {
    // BEGIN SOLUTION 3.1 poll loop
    // TASK: poll() the four slots, a source while its buffer has room, a sink while it has
    // TASK: data (watch()); fill() or drain() each ready one; -w: nothing moved for N s.
    // TASK: docs/stage3-duplex.md#the-idea-wait-for-several-things-at-once-with-poll
    pollfd slots[kSlots] = {
        {watch(up.open && up.has_room(), up.from), POLLIN, 0},
        {watch(up.has_data(), up.to), POLLOUT, 0},
        {watch(down.open && down.has_room(), down.from), POLLIN, 0},
        {watch(down.has_data(), down.to), POLLOUT, 0},
    };
    int ready = poll(slots, kSlots, options.idle_timeout_ms);
    if (ready == -1 && errno == EINTR) continue;
    check(ready, "poll");
    if (ready == 0) {
      throw std::system_error(
          ETIMEDOUT, std::generic_category(),
          "nothing moved for " + std::to_string(options.idle_timeout_ms / 1000) + " s");
    }
    for (const pollfd& slot : slots) {
      if (slot.revents & POLLNVAL) throw std::system_error(EBADF, std::generic_category(), "poll");
    }
    // Any event, POLLHUP and POLLERR included, is answered with the call
    // itself: read() and write() tell exactly what happened (data, end of
    // file with 0, or the error). POLLHUP with POLLIN still means "read the
    // rest first", and read() does just that.
    if (slots[kInput].revents) fill(up);
    if (slots[kSocketOut].revents) counts.sent += drain(up);
    if (slots[kSocketIn].revents) counts.received += fill(down);
    if (slots[kOutput].revents) drain(down);
    // END SOLUTION
    if (up.done() && !shut) {
      // BEGIN SOLUTION 3.2 half-close
      // TASK: all of stdin has gone out: shutdown(SHUT_WR), so the peer reads end of stream.
      // TASK: docs/stage3-duplex.md#half-close-send-a-file
      check(shutdown(socket, SHUT_WR), "shutdown");
      shut = true;
      // END SOLUTION
    }
  }
}

// After a failure, prints what was received before it, if stdout still
// takes it: the down buffer, then what the kernel still holds (data that
// came before a reset can still be read). Stops at the first error, when
// nothing more is ready, or, with -w, when stdout takes nothing for that
// long: as in the loop, each write waits for room in poll(), where -w
// reaches, and never in write(). The failure that got here is what gets
// reported, not the stall: it is what ended the conversation.
void print_what_arrived(Direction& down, int timeout_ms, Counts& counts) {
  down.end_notice = nullptr;  // a failure ended the conversation: main says which
  try {
    for (;;) {
      while (down.has_data()) {
        pollfd slot{down.to, POLLOUT, 0};
        int ready = poll(&slot, 1, timeout_ms);
        if (ready == -1 && errno == EINTR) continue;
        if (check(ready, "poll") == 0) return;  // nothing taken for -w: give up
        drain(down);
      }
      std::size_t got = down.open ? fill(down) : 0;
      if (got == 0) return;
      counts.received += got;
    }
  } catch (const std::system_error&) {
  }
}

}  // namespace

void duplex(int input, int socket, int output, const DuplexOptions& options, Counts& counts) {
  // Only the socket is made non-blocking: it is ours. stdin and stdout are
  // shared with the shell, which would find them non-blocking after we exit.
  // BEGIN SOLUTION 3.1 poll loop
  // TASK: make the socket non-blocking: fcntl() F_GETFL, then F_SETFL with O_NONBLOCK.
  // TASK: docs/stage3-duplex.md#the-idea-wait-for-several-things-at-once-with-poll
  int flags = check(fcntl(socket, F_GETFL), "fcntl F_GETFL");
  check(fcntl(socket, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
  // END SOLUTION

  Direction up{input, socket, "read from stdin", "write to network",
               std::vector<char>(options.buffer_size)};
  Direction down{socket, output, "read from network", "write to stdout",
                 std::vector<char>(options.buffer_size)};
  // -w must fire even when stdout is a pipe nobody reads. stdout stays
  // blocking, and a write() of more than the pipe has room for waits for
  // the reader, out of poll()'s reach; a ready pipe has room for PIPE_BUF
  // bytes, so with -w no write to a pipe asks for more.
  struct stat out {};
  bool pipe = fstat(output, &out) == 0 && S_ISFIFO(out.st_mode);
  if (options.idle_timeout_ms >= 0 && pipe) down.most_per_write = PIPE_BUF;
  if (options.verbose) down.end_notice = "the peer closed its end of the connection\n";
  try {
    copy_both_ways(up, down, socket, options, counts);
  } catch (const std::system_error& failure) {
    // After a timeout, -w is spent: whatever is still to print waits for a
    // stdout that took nothing for that long (else something would have
    // moved), so none of it is printed.
    if (failure.code() != std::errc::timed_out) {
      print_what_arrived(down, options.idle_timeout_ms, counts);
    }
    throw;
  }
}
