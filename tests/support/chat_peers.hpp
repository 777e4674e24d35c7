// chat_peers.hpp: many clients of a line-based server in one test process:
// non-blocking loopback connections, all driven by one poll() loop, each
// cutting what it receives into whole lines.
//
// Purpose: a chat room is tested with hundreds or thousands of clients at
// once, which neither threads nor child processes afford. Here a client is
// a socket and two buffers. pump() polls every open connection once:
// finishes connects, writes what send() queued, reads what arrived. The
// test decides what happens between pumps (send, close, reset, stop
// reading), and waits with pump_until(), which is bounded by a deadline.
// Sockets are close-on-exec with TCP_NODELAY set, so each send() leaves as
// it was made (one byte is one segment) and no child program inherits one.
//
// Usage:
//   raise_descriptor_limit();                // room for thousands of sockets
//   ChatPeers peers(AF_INET, port);
//   std::size_t alice = peers.connect(1);
//   std::size_t bob = peers.connect_over(AF_INET6, 1);
//   ASSERT_TRUE(peers.pump_until([&] { return peers.has_line(alice, welcome); }));
//   peers.send(alice, "hello\n");
//   peers.reset(alice);                       // the server reads ECONNRESET
//
// See also: peers.hpp (one blocking connection at a time); poll(2).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fd.hpp"
#include "process.hpp"

namespace support {

// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns
// the new soft limit: a test process holding thousands of sockets needs it.
long raise_descriptor_limit();

// One client connection and what it has exchanged so far.
struct ChatPeer {
  Fd fd;
  std::string name;                // as a server names it: "127.0.0.1:PORT", "[::1]:PORT"
  int port = 0;                    // its local port
  std::vector<std::string> lines;  // whole lines received, each without its "\n"
  std::string partial;             // bytes received after the last "\n"
  std::string unsent;              // queued by send(), not yet taken by the kernel
  std::size_t sent = 0;            // bytes the kernel took
  std::size_t received = 0;        // bytes read
  bool connected = false;          // the connect() finished (or failed: see error)
  bool reading = true;             // false: pump() leaves arriving bytes in the kernel
  bool ended = false;              // end of stream, or a failure: nothing more comes
  int error = 0;                   // errno of a failed connect, read or write
};

class ChatPeers {
 public:
  // Clients of the server at `port`, on the loopback address of `family`
  // unless connect_over() says otherwise. `gone` (or the process `server`)
  // says when the server has stopped: once it has, and every connection
  // has ended, pump_until() gives up at once, as nothing more can come.
  ChatPeers(int family, int port, std::function<bool()> gone = nullptr);
  ChatPeers(int family, int port, Process& server);

  // Starts `count` more non-blocking connects and returns the index of the
  // first new client. `receive_buffer` (bytes, 0 for the system's default)
  // is set before connecting, so a client that stops reading fills fast.
  std::size_t connect(std::size_t count, int receive_buffer = 0);
  // The same over `family` (AF_INET or AF_INET6), e.g. to mix both.
  std::size_t connect_over(int family, std::size_t count, int receive_buffer = 0);

  std::size_t size() const { return peers_.size(); }
  ChatPeer& operator[](std::size_t i) { return peers_.at(i); }
  const ChatPeer& operator[](std::size_t i) const { return peers_.at(i); }

  // Queues `data`; the following pumps send it.
  void send(std::size_t i, std::string_view data);
  // Closes the connection (FIN); what is still queued is dropped.
  void close(std::size_t i);
  // Closes with SO_LINGER 0: the server gets a reset (RST), not a FIN.
  void reset(std::size_t i);
  // shutdown(SHUT_WR) once what is queued has left: the server reads end
  // of stream and this client can still read.
  void shutdown_write(std::size_t i);

  // One round: polls every open connection for at most `wait`, then
  // completes connects, writes and reads whatever is ready.
  void pump(Millis wait = Millis(10));
  // Pumps until `done()` returns true (then true) or `timeout` passes (false).
  // Gives up sooner, kEndedGrace after every connection has ended: a room
  // that stopped (a student's copy that stops at a part not written) fails
  // its test in seconds, not at the timeout. Once it has given up so, the
  // next calls give up at once while every connection stays ended.
  bool pump_until(const std::function<bool()>& done, Millis timeout = kExitTimeout);
  static constexpr Millis kEndedGrace{5000};

  // True when client `i` has received `line` (without "\n") among its lines.
  bool has_line(std::size_t i, std::string_view line) const;
  // Pumps until client `i` has at least `count` whole lines.
  bool wait_for_lines(std::size_t i, std::size_t count, Millis timeout = kExitTimeout);

 private:
  bool all_ended_now(bool server_gone) const;
  void finish_connect(ChatPeer& peer);
  void write_some(ChatPeer& peer);
  void read_some(ChatPeer& peer);

  int family_;
  int port_;
  std::vector<ChatPeer> peers_;
  std::vector<bool> shutdown_pending_;
  std::function<bool()> gone_;
  bool gave_up_on_ended_ = false;  // a pump waited kEndedGrace for connections that all ended
};

}  // namespace support
