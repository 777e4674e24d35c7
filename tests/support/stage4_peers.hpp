// stage4_peers.hpp: the web servers stage4-http talks to in its tests: a
// scripted HTTP server in a thread of the test process, and a real nginx
// started from a configuration of its own.
//
// Purpose: URL mode must stop exactly at the end of a response however it is
// framed, and report responses that are cut short, malformed or never come.
// A scripted server sends exact bytes, including wrong ones, and records
// exactly what it received; nginx is the server a student will meet. Both
// listen on loopback only, on ports the system chose, and every wait is
// bounded: a hung client fails the test, it never hangs it.
//
// Usage:
//   ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
//   Result result = run(stage_program("stage4-http"), {server.url("/")});
//   EXPECT_EQ(server.received(), "GET / HTTP/1.1\r\n...");
//
//   TempDir www;  write_file(www.file("index.html"), "hello\n");
//   Nginx nginx(www.path());                 // throws if it cannot start
//   ... "http://127.0.0.1:" + std::to_string(nginx.port()) + "/" ...
//
// See also: peers.hpp (LoopbackServer, REQUIRE_PROGRAM), process.hpp.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data.hpp"
#include "fd.hpp"
#include "peers.hpp"
#include "process.hpp"

namespace support {

// What a scripted server does once its response is sent.
enum class AfterResponse {
  kClose,     // close the connection at once (HTTP/1.0, or a server cut short)
  kHoldOpen,  // keep it open, still reading, until the client closes its side
};

// One client served by a thread: read until the request head is complete
// (CRLF CRLF) or the client ends its stream, send the response pieces (a
// short pause between two pieces, so that they arrive in separate reads),
// then close or hold open. Everything read is recorded, before and after the
// response. The thread gives up after kExitTimeout at each step, and the
// destructor wakes it and joins it at once.
class ScriptedServer {
 public:
  // Listens on the loopback address of `family`, on a port the system chose.
  explicit ScriptedServer(std::vector<std::string> response,
                          AfterResponse after = AfterResponse::kClose, int family = AF_INET);
  explicit ScriptedServer(std::string response, AfterResponse after = AfterResponse::kClose,
                          int family = AF_INET)
      : ScriptedServer(std::vector<std::string>{std::move(response)}, after, family) {}
  // Serves a connection that already exists, e.g. one end of a socketpair.
  ScriptedServer(Fd connection, std::vector<std::string> response, AfterResponse after);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:PORT" + target, or "http://[::1]:PORT" + target.
  std::string url(const std::string& target) const;

  // Every byte read from the client so far.
  std::string received() const;
  // Waits until `received()` contains `text`; false after `timeout`.
  bool wait_received(const std::string& text, Millis timeout = kStartTimeout) const;
  // Waits until the thread has ended: the client closed, or it gave up.
  bool wait_done(Millis timeout = kExitTimeout) const;
  // True once the client has ended its stream (read() returned 0).
  bool client_closed() const;
  // What went wrong in the thread ("" if nothing), e.g. "no client".
  std::string error() const;

 private:
  void serve(Fd listener, Fd connection);
  bool wait_readable(int fd) const;  // false when woken or at the deadline
  bool read_some(int fd);            // records what came; false at end of stream
  void fail(const std::string& what);

  std::vector<std::string> response_;
  AfterResponse after_;
  int family_;
  int port_ = 0;
  Fd wake_read_, wake_write_;  // a byte here tells the thread to stop
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::string received_;
  bool client_closed_ = false;
  bool done_ = false;
  std::string error_;
  std::thread thread_;
};

// The nginx program: "nginx" in PATH, else /usr/sbin/nginx (where Debian
// puts it, often outside a user's PATH). For REQUIRE_PROGRAM.
std::string nginx_program();

// A real nginx serving the files of `root` on 127.0.0.1:PORT and [::1]:PORT,
// one process (master_process off, so stopping its PID stops it all), with
// its configuration, logs, pid file and temporary folders in a TempDir of its
// own. The port is one the system had free a moment ago; if another program
// takes it first, nginx fails to bind and is started again on another, a
// few times at most. The constructor returns once nginx answers a request on
// both addresses, or throws std::runtime_error with nginx's error log.
class Nginx {
 public:
  explicit Nginx(const std::string& root);
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  int port() const { return port_; }
  std::string error_log() const;  // what nginx wrote to its error log so far
  bool running() { return process_->running(); }
  Exit stop() { return process_->stop(); }

 private:
  TempDir scratch_;  // configuration, logs, pid file, temporary folders
  std::optional<Process> process_;
  int port_ = 0;
};

}  // namespace support
