// chat.hpp: one room, many clients, one poll() loop.
//
// Purpose: chat() is a function of file descriptors only, so tests drive it
// with socket pairs and pipes exactly as main drives it with stdin, a
// listening socket and stdout.
//
// See also: chat.cpp, docs/stage5-chat.md, poll(2), accept(2).
#pragma once

#include <cstddef>
#include <cstdint>

// For the -v summary, which is printed even after a failure.
struct ChatCounts {
  std::uint64_t clients = 0;  // let in
  std::uint64_t lines = 0;    // relayed, each once whatever the number of receivers
};

struct ChatOptions {
  std::size_t max_clients = SIZE_MAX;   // -m: client max_clients+1 is turned away
  std::size_t max_line = 4096;          // a longer line goes out in pieces: no endless buffer
  std::size_t max_queued = 256 * 1024;  // bytes queued for one reader; past it, it is dropped
  int goodbye_ms = 2000;  // a dropped or closed-on client's time to take its last lines
  bool verbose = false;   // -v: joins, departures and their reasons on stderr
};

// Serves the room on `listener` (a listening socket; made non-blocking here)
// with `input` and `output` as the host's keyboard and screen, until a byte
// arrives on `stop` (main's signal handler writes one). Then tells every
// client the room is closing and closes them. Throws std::system_error if
// poll() itself fails.
void chat(int listener, int input, int output, int stop, const ChatOptions& options,
          ChatCounts& counts);
