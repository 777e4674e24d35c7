// chat.hpp: one room, many clients, one poll() loop.
//
// Purpose: stage 3's loop followed one peer; this one follows a listening
// socket, the host's keyboard and screen, and every client at once. chat()
// is a function of file descriptors only, so tests drive it with socket
// pairs and pipes exactly as main drives it with stdin, a listening socket
// and stdout.
//
// See also: chat.cpp, docs/stage6-class.md, poll(2), accept(2).
#pragma once

#include <cstddef>
#include <cstdint>

// For the -v summary, which is printed even after a failure.
struct ChatCounts {
  std::uint64_t clients = 0;  // let in
  std::uint64_t lines = 0;    // relayed, each once whatever the number of receivers
};

struct ChatOptions {
  std::size_t max_clients = SIZE_MAX;  // -m: client max_clients+1 is turned away
  // A line longer than this is relayed in pieces this long: a client that
  // never sends LF cannot make the room buffer without end.
  std::size_t max_line = 4096;
  // Bytes waiting for one client (or for the host's screen). A client
  // whose queue would pass this is dropped, so nobody waits for a slow
  // reader and memory stays bounded by clients x this. 256 KiB: 64 pieces
  // of the longest line, more than a reader that keeps up ever needs.
  std::size_t max_queued = 256 * 1024;
  // -r: lines a second each client may add to the room, once a burst of
  // `burst` lines (or a tenth of a second's worth, if more) is spent; 0: no
  // limit. Over it, the room reads that client no more until its turn
  // comes: TCP makes the sender wait, and nothing is lost. 5 a second,
  // after 50 at once: a pasted screenful goes at once, anyone typing never
  // meets the limit, and a flood adds a line every 200 ms, not 100,000 a
  // second. The host's keyboard is never limited.
  unsigned rate = 5;
  unsigned burst = 50;
  // A client held back this long without a break (every line it sent had
  // to wait) is flooding, not pasting: it is dropped, its waiting lines
  // with it, as IRC servers drop an "Excess Flood". Else a flood outlives
  // its flooder: after Ctrl-C on `yes | nc`, 120 KB wait in the room's
  // kernel, hours of "y" at 5 lines a second. A minute: a paste of 350
  // lines (50, then 60 s at 5 a second) still goes whole.
  int max_held_ms = 60 * 1000;
  bool verbose = false;  // -v: joins, departures and their reasons on stderr
};

// Serves the room on `listener` (a listening socket; made non-blocking here)
// with `input` and `output` as the host's keyboard and screen, until a byte
// arrives on `stop` (main's signal handler writes one). Then tells every
// client the room is closing, gives them a second to take what is queued,
// and closes them. Throws std::system_error if poll() itself fails.
void chat(int listener, int input, int output, int stop, const ChatOptions& options,
          ChatCounts& counts);
