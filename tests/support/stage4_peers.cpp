// stage4_peers.cpp: a scripted HTTP server in a thread; nginx from a
// configuration of its own.

#include "stage4_peers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "error.hpp"
#include "io.hpp"

namespace support {

namespace {

int cloexec(int fd) {
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

// Not a poll() timeout: a pause between two response pieces, long enough for
// the client to read the first one on its own.
constexpr int kPiecePauseMs = 20;

// True when nginx answers on the loopback address of `family`: a connection
// alone could reach another program that took the port first (nginx then
// fails to bind it, but only after retrying for a few seconds).
bool nginx_answers(int family, int port) {
  Fd connection;
  if (try_connect(family, port, &connection) != 0) return false;
  try {
    send_all(connection.get(), "HEAD / HTTP/1.0\r\n\r\n");
    return receive_all(connection.get(), Millis(1000)).find("\r\nServer: nginx") !=
           std::string::npos;
  } catch (const std::exception&) {
    return false;
  }
}

// In the foreground, one process (stopping its PID stops it all), every
// file it writes in {scratch}, listening on loopback only.
const char kConfig[] = R"(# stage4_test's own nginx.
daemon off;
master_process off;
worker_processes 1;
pid {scratch}/nginx.pid;
error_log {scratch}/error.log info;
events { worker_connections 64; }
http {
  access_log {scratch}/access.log;
  {temp_paths}
  server {
    listen 127.0.0.1:{port};
    listen [::1]:{port};
    root {root};
  }
}
)";

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

ScriptedServer::ScriptedServer(std::vector<std::string> response, AfterResponse after, int family)
    : response_(std::move(response)), after_(after), family_(family) {
  LoopbackServer server(family);
  port_ = server.port();
  // LoopbackServer owns its socket; the thread needs one it can own.
  Fd listener(cloexec(check(dup(server.fd()), "dup")));
  std::signal(SIGPIPE, SIG_IGN);  // a client that left makes send() fail, not the test die
  int ends[2];
  check(pipe(ends), "pipe");
  wake_read_.reset(cloexec(ends[0]));
  wake_write_.reset(cloexec(ends[1]));
  thread_ = std::thread(&ScriptedServer::serve, this, std::move(listener), Fd());
}

ScriptedServer::ScriptedServer(Fd connection, std::vector<std::string> response,
                               AfterResponse after)
    : response_(std::move(response)), after_(after), family_(AF_UNIX) {
  std::signal(SIGPIPE, SIG_IGN);
  int ends[2];
  check(pipe(ends), "pipe");
  wake_read_.reset(cloexec(ends[0]));
  wake_write_.reset(cloexec(ends[1]));
  thread_ = std::thread(&ScriptedServer::serve, this, Fd(), std::move(connection));
}

ScriptedServer::~ScriptedServer() {
  const char byte = 0;
  ssize_t ignored = ::write(wake_write_.get(), &byte, 1);
  (void)ignored;
  thread_.join();
}

std::string ScriptedServer::url(const std::string& target) const {
  const std::string host = family_ == AF_INET6 ? "[::1]" : "127.0.0.1";
  return "http://" + host + ":" + std::to_string(port_) + target;
}

std::string ScriptedServer::received() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_;
}

bool ScriptedServer::wait_received(const std::string& text, Millis timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    return received_.find(text) != std::string::npos || done_;
  }) && received_.find(text) != std::string::npos;
}

bool ScriptedServer::wait_done(Millis timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return done_; });
}

bool ScriptedServer::client_closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return client_closed_;
}

std::string ScriptedServer::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

void ScriptedServer::fail(const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_.empty()) error_ = what;
}

bool ScriptedServer::wait_readable(int fd) const {
  pollfd slots[2] = {{fd, POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
  int ready = 0;
  do {
    ready = poll(slots, 2, static_cast<int>(kExitTimeout.count()));
  } while (ready == -1 && errno == EINTR);
  check(ready, "poll");
  return ready > 0 && slots[1].revents == 0;
}

bool ScriptedServer::read_some(int fd) {
  char buffer[65536];
  ssize_t got = 0;
  do {
    got = ::read(fd, buffer, sizeof buffer);
  } while (got == -1 && errno == EINTR);
  std::lock_guard<std::mutex> lock(mutex_);
  if (got <= 0) {
    // A reset ends the client's stream too; what it means is the test's call.
    if (got == -1) error_ = std::string("read from client: ") + std::strerror(errno);
    client_closed_ = true;
  } else {
    received_.append(buffer, static_cast<std::size_t>(got));
  }
  changed_.notify_all();
  return got > 0;
}

void ScriptedServer::serve(Fd listener, Fd connection) {
  try {
    if (!connection) {
      if (!wait_readable(listener.get())) throw std::runtime_error("no client");
      connection.reset(cloexec(check(::accept(listener.get(), nullptr, nullptr), "accept")));
      listener.reset();  // one client, as stage4-http -l serves one
    }
    const int fd = connection.get();
    // The request head; a client that ends its stream first gets the response all the same.
    while (received().find("\r\n\r\n") == std::string::npos) {
      if (!wait_readable(fd)) throw std::runtime_error("no complete request head");
      if (!read_some(fd)) break;
    }
    for (std::size_t i = 0; i < response_.size(); ++i) {
      if (i > 0) {
        pollfd wake{wake_read_.get(), POLLIN, 0};
        if (poll(&wake, 1, kPiecePauseMs) != 0) break;
      }
      write_all(fd, response_[i].data(), response_[i].size(), "send response");
    }
    if (after_ == AfterResponse::kHoldOpen) {
      while (!client_closed() && wait_readable(fd) && read_some(fd)) {
      }
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = true;
  changed_.notify_all();
}

std::string nginx_program() {
  const std::string found = find_program("nginx");
  if (!found.empty()) return found;
  return access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
}

Nginx::Nginx(const std::string& root) {
  const std::string program = nginx_program();
  // Each *_temp_path directive exists only if its module was compiled in,
  // and the compiled-in folders (/var/lib/nginx/...) are not ours to write.
  const Result version = run(program, {"-V"}, Stdin::null(), Millis(5000));
  std::string temp_paths = "client_body_temp_path " + scratch_.file("client_body") + ";\n";
  for (const char* module : {"proxy", "fastcgi", "uwsgi", "scgi"}) {
    const std::string name = module;
    if ((version.out + version.err).find("--without-http_" + name + "_module") ==
        std::string::npos) {
      temp_paths += "  " + name + "_temp_path " + scratch_.file(name) + ";\n";
    }
  }
  const std::string config_path = scratch_.file("nginx.conf");
  std::string log;
  constexpr int kAttempts = 5;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    port_ = unused_port(AF_INET);
    std::string config = kConfig;
    replace_all(config, "{scratch}", scratch_.path());
    replace_all(config, "{temp_paths}", temp_paths);
    replace_all(config, "{port}", std::to_string(port_));
    replace_all(config, "{root}", root);
    write_file(config_path, config);
    process_.emplace(Process::start(program, {"-p", scratch_.path() + "/", "-c", config_path},
                                    Stdin::null(), Stdout::null()));
    const bool answering = eventually([&] {
      return !process_->running() ||
             (nginx_answers(AF_INET, port_) && nginx_answers(AF_INET6, port_));
    });
    if (answering && process_->running()) return;
    process_->stop();
    log = error_log();
    // Only a port taken in the meantime is worth another try.
    if (log.find("Address already in use") == std::string::npos) break;
  }
  throw std::runtime_error("nginx did not start on 127.0.0.1 and ::1 port " +
                           std::to_string(port_) + "; its error log:\n" + log);
}

std::string Nginx::error_log() const {
  // Until it has read its configuration, nginx writes to the log it was
  // built with (stderr on Debian), which the Process keeps in a file.
  std::string log = process_ ? process_->stderr_text() : "";
  try {
    log += read_file(scratch_.file("error.log"));
  } catch (const std::exception&) {
  }
  return log;
}

}  // namespace support
