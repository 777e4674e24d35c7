// chat_peers.cpp: many non-blocking loopback clients, one poll() loop.

#include "chat_peers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <system_error>
#include <thread>

#include "error.hpp"
#include "peers.hpp"

namespace support {

namespace {

using Clock = std::chrono::steady_clock;

// Sockets: non-blocking for the one loop, close-on-exec so that no child
// program keeps a connection open behind the test's back.
Fd open_socket(int family, int receive_buffer) {
  Fd fd(check(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
  int on = 1;
  check(setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on), "setsockopt TCP_NODELAY");
  if (receive_buffer > 0) {
    check(setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer),
          "setsockopt SO_RCVBUF");
  }
  return fd;
}

// Starts connecting `fd` to the loopback address; true when already done.
bool start_connect(int fd, int family, int port, int* error) {
  sockaddr_storage address{};
  socklen_t size = 0;
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    size = sizeof *v4;
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_loopback;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    size = sizeof *v6;
  }
  int result = -1;
  do {
    result = ::connect(fd, reinterpret_cast<sockaddr*>(&address), size);
  } while (result == -1 && errno == EINTR);
  if (result == 0) return true;
  if (errno == EINPROGRESS) return false;
  *error = errno;
  return true;
}

}  // namespace

long raise_descriptor_limit() {
  rlimit limit{};
  check(getrlimit(RLIMIT_NOFILE, &limit), "getrlimit RLIMIT_NOFILE");
  if (limit.rlim_cur != limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    check(setrlimit(RLIMIT_NOFILE, &limit), "setrlimit RLIMIT_NOFILE");
  }
  return limit.rlim_cur == RLIM_INFINITY ? 1L << 30 : static_cast<long>(limit.rlim_cur);
}

ChatPeers::ChatPeers(int family, int port, std::function<bool()> gone)
    : family_(family), port_(port), gone_(std::move(gone)) {}

ChatPeers::ChatPeers(int family, int port, Process& server)
    : ChatPeers(family, port, [&server] { return !server.running(); }) {}

std::size_t ChatPeers::connect(std::size_t count, int receive_buffer) {
  return connect_over(family_, count, receive_buffer);
}

std::size_t ChatPeers::connect_over(int family, std::size_t count, int receive_buffer) {
  const std::size_t first = peers_.size();
  peers_.reserve(first + count);
  for (std::size_t n = 0; n < count; ++n) {
    ChatPeer peer;
    peer.fd = open_socket(family, receive_buffer);
    peer.connected = start_connect(peer.fd.get(), family, port_, &peer.error);
    if (peer.error != 0) {
      peer.ended = true;
    } else {
      peer.port = local_port(peer.fd.get());
      const std::string address = loopback_address(family);
      peer.name =
          (family == AF_INET ? address : "[" + address + "]") + ":" + std::to_string(peer.port);
    }
    peers_.push_back(std::move(peer));
    shutdown_pending_.push_back(false);
  }
  return first;
}

void ChatPeers::send(std::size_t i, std::string_view data) {
  peers_.at(i).unsent.append(data);
}

void ChatPeers::close(std::size_t i) {
  ChatPeer& peer = peers_.at(i);
  peer.fd.reset();
  peer.unsent.clear();
  peer.ended = true;
}

void ChatPeers::reset(std::size_t i) {
  ChatPeer& peer = peers_.at(i);
  if (peer.fd) {
    linger abort_on_close{1, 0};
    check(setsockopt(peer.fd.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close),
          "setsockopt SO_LINGER");
  }
  close(i);
}

void ChatPeers::shutdown_write(std::size_t i) {
  shutdown_pending_.at(i) = true;
  write_some(peers_.at(i));
}

void ChatPeers::finish_connect(ChatPeer& peer) {
  int error = 0;
  socklen_t size = sizeof error;
  check(getsockopt(peer.fd.get(), SOL_SOCKET, SO_ERROR, &error, &size), "getsockopt SO_ERROR");
  peer.connected = true;
  if (error != 0) {
    peer.error = error;
    peer.ended = true;
  }
}

void ChatPeers::write_some(ChatPeer& peer) {
  if (!peer.fd || !peer.connected || peer.error != 0) return;
  while (!peer.unsent.empty()) {
    const ssize_t sent =
        ::send(peer.fd.get(), peer.unsent.data(), peer.unsent.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent == -1 && errno == EINTR) continue;
    if (sent == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (sent == -1) {
      peer.error = errno;
      peer.ended = true;
      return;
    }
    peer.unsent.erase(0, static_cast<std::size_t>(sent));
    peer.sent += static_cast<std::size_t>(sent);
  }
  const std::size_t i = static_cast<std::size_t>(&peer - peers_.data());
  if (shutdown_pending_[i]) {
    shutdown_pending_[i] = false;
    check(::shutdown(peer.fd.get(), SHUT_WR), "shutdown");
  }
}

void ChatPeers::read_some(ChatPeer& peer) {
  char buffer[65536];
  ssize_t got = -1;
  do {
    got = ::read(peer.fd.get(), buffer, sizeof buffer);
  } while (got == -1 && errno == EINTR);
  if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (got <= 0) {
    if (got == -1) peer.error = errno;
    peer.ended = true;
    return;
  }
  peer.received += static_cast<std::size_t>(got);
  // Only the bytes just appended can hold a new "\n".
  std::size_t start = 0;
  std::size_t search = peer.partial.size();
  peer.partial.append(buffer, static_cast<std::size_t>(got));
  for (std::size_t end; (end = peer.partial.find('\n', search)) != std::string::npos;) {
    peer.lines.emplace_back(peer.partial, start, end - start);
    start = search = end + 1;
  }
  peer.partial.erase(0, start);
}

void ChatPeers::pump(Millis wait) {
  std::vector<pollfd> slots;
  std::vector<std::size_t> owners;
  slots.reserve(peers_.size());
  owners.reserve(peers_.size());
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const ChatPeer& peer = peers_[i];
    if (!peer.fd) continue;
    short events = 0;
    if (!peer.connected || ((!peer.unsent.empty() || shutdown_pending_[i]) && peer.error == 0))
      events |= POLLOUT;
    if (peer.connected && peer.reading && !peer.ended) events |= POLLIN;
    // A connection polled for nothing would still report POLLHUP or
    // POLLERR at once, and turn every pump into a busy loop.
    if (events == 0) continue;
    slots.push_back(pollfd{peer.fd.get(), events, 0});
    owners.push_back(i);
  }
  if (slots.empty()) {
    std::this_thread::sleep_for(wait);
    return;
  }
  const int ready = poll(slots.data(), slots.size(), static_cast<int>(wait.count()));
  if (ready == -1 && errno == EINTR) return;
  check(ready, "poll");
  for (std::size_t n = 0; n < slots.size() && ready > 0; ++n) {
    if (slots[n].revents == 0) continue;
    ChatPeer& peer = peers_[owners[n]];
    if (!peer.connected) {
      finish_connect(peer);
      if (peer.error != 0) continue;
    }
    if (slots[n].revents & (POLLOUT | POLLERR | POLLHUP)) write_some(peer);
    if (peer.reading && !peer.ended && (slots[n].revents & (POLLIN | POLLERR | POLLHUP)))
      read_some(peer);
  }
}

bool ChatPeers::pump_until(const std::function<bool()>& done, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  const auto never = Clock::time_point::max();
  auto ended_since = never;
  for (;;) {
    if (done()) return true;
    const auto now = Clock::now();
    const auto left = std::chrono::duration_cast<Millis>(deadline - now);
    if (left.count() <= 0) return false;
    // Every connection ended (the room stopped, or crashed): no line can
    // come any more, but the host's screen may still show the last
    // announcements (a second later), so give up only after kEndedGrace
    // rather than wait out the whole timeout.
    const bool server_gone = gone_ && gone_();
    if (!all_ended_now(server_gone)) {
      ended_since = never;
      gave_up_on_ended_ = false;
    } else if (server_gone || gave_up_on_ended_) {
      return false;  // the server stopped, or nothing came in the grace given: nothing will
    } else if (ended_since == never) {
      ended_since = now;
    } else if (now - ended_since >= kEndedGrace) {
      gave_up_on_ended_ = true;
      return false;
    }
    pump(std::min(left, Millis(10)));
  }
}

namespace {

// Whether the server has closed this connection (its FIN, or a reset, has
// come) although the test does not read it: a peer playing a client that
// stopped reading still sees the room stop. Linux's POLLRDHUP says so even
// with unread bytes before the FIN.
bool closed_by_server(int fd) {
#ifdef POLLRDHUP
  pollfd slot{fd, POLLRDHUP, 0};
#else
  pollfd slot{fd, 0, 0};
#endif
  return poll(&slot, 1, 0) == 1 && slot.revents != 0;
}

}  // namespace

// A client the test does not read counts as ended once the server has gone
// (its FIN may wait forever behind bytes the server could not send it), or
// once the server's close has come.
bool ChatPeers::all_ended_now(bool server_gone) const {
  bool any = false;
  for (const ChatPeer& peer : peers_) {
    if (!peer.fd) continue;
    if (!peer.connected) return false;
    const bool unread_and_closed =
        !peer.reading && (server_gone || closed_by_server(peer.fd.get()));
    if (!peer.ended && !unread_and_closed) return false;
    any = true;
  }
  return any;
}

bool ChatPeers::has_line(std::size_t i, std::string_view line) const {
  const std::vector<std::string>& lines = peers_.at(i).lines;
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

bool ChatPeers::wait_for_lines(std::size_t i, std::size_t count, Millis timeout) {
  return pump_until([&] { return peers_.at(i).lines.size() >= count; }, timeout);
}

}  // namespace support
