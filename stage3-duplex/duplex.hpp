// duplex.hpp: copy both ways at once between a socket and stdin/stdout.
//
// Purpose: the heart of netcat. duplex() is a function of file descriptors
// only, so tests and benchmarks drive it with socket pairs and pipes exactly
// as main drives it with stdin, a TCP connection and stdout.
//
// See also: duplex.cpp, docs/stage3-duplex.md, poll(2), shutdown(2).
#pragma once

#include <cstddef>
#include <cstdint>

// Bytes moved, for the -v summary, which is printed even after a failure.
struct Counts {
  std::uint64_t sent = 0;      // written to the socket
  std::uint64_t received = 0;  // read from the socket
};

struct DuplexOptions {
  // Bytes in flight per direction. 128 KiB: in the benchmark sweep
  // (docs/benchmarks.md) throughput climbs with the buffer up to 64-128 KiB
  // (nc's 16 KiB moves 6-37% less) and is flat beyond it (256 KiB to 1 MiB:
  // -13% to +12%, within the noise) while memory keeps doubling; at this
  // size the loop moves as much as a plain blocking read/write loop.
  std::size_t buffer_size = 128 * 1024;
  // -w: give up when nothing moves for this long. -1 waits forever.
  int idle_timeout_ms = -1;
  // When the peer's stream ends and input is a terminal, the conversation
  // is over: nobody is going to type to a peer that has left.
  bool input_is_terminal = false;
  // -v: say on stderr, as it happens, that the peer closed its end (a
  // server's timeout would otherwise end the conversation without a word).
  bool verbose = false;
};

// Copies `input` to `socket` and `socket` to `output` until both directions
// have ended (or the peer's has, with a terminal as input). Makes `socket`
// non-blocking; never touches the flags of `input` and `output`, which the
// shell shares. Throws std::system_error on failure, after writing to
// `output` whatever had already been received, as far as `output` takes it
// within the idle timeout (nothing more after the timeout itself).
void duplex(int input, int socket, int output, const DuplexOptions& options, Counts& counts);
