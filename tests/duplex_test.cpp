// duplex_test.cpp: unit tests of stage 3's copy loop, duplex().
//
// Purpose: drive duplex() in a thread exactly as main drives it, with a pipe
// as stdin, a pipe as stdout and one end of a socket pair (or of a TCP
// loopback connection, where a reset is needed) as the connection. The test
// plays the peer, the typist and the reader of stdout from one poll() loop of
// its own, so it can send and receive at once, stop reading on purpose, or
// half-close at a chosen moment. Everything is compared byte for byte.
//
// Every wait is bounded: a deadlock fails the test instead of hanging it,
// and a watchdog ends the process should the loop itself get stuck.
//
// See also: stage3-duplex/duplex.hpp, docs/design.md (stage 3), poll(2),
// shutdown(2), socket(7) on SO_LINGER, tcp(7) on SIOCOUTQ.
#include "duplex.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "error.hpp"
#include "fd.hpp"
#include "peers.hpp"

namespace {

using namespace std::chrono_literals;
using support::reset;  // RST rather than FIN
using Clock = std::chrono::steady_clock;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

// Sanitizers slow everything down several times; the amounts moved shrink
// with them so the suite stays quick, while every case is still exercised.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// SIGPIPE would kill the test binary on the first write to a closed pipe or
// socket; ignored, as in main, the write fails with EPIPE instead.
const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

// Ends the process if the test is still running after `limit`: the last
// resort against a test that hangs in spite of its own bounded waits.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_changed_.wait_for(lock, limit, [this] { return done_; })) {
            const auto* test = testing::UnitTest::GetInstance()->current_test_info();
            std::fprintf(stderr, "watchdog: %s.%s still running after %lld s: deadlock?\n",
                         test ? test->test_suite_name() : "?", test ? test->name() : "?",
                         static_cast<long long>(limit.count()));
            std::_Exit(3);
          }
        }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_changed_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::thread thread_;
};

void set_nonblocking(int fd) {
  int flags = check(fcntl(fd, F_GETFL), "fcntl F_GETFL");
  check(fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
}

struct Pipe {
  Fd read;
  Fd write;
};

Pipe make_pipe() {
  int fds[2];
  check(pipe(fds), "pipe");
  return {Fd(fds[0]), Fd(fds[1])};
}

// Two connected sockets: `dut` goes to duplex(), `peer` stays with the test.
struct Connection {
  Fd dut;
  Fd peer;
};

// A socket pair; `buffer`, when not 0, fixes SO_SNDBUF on both ends (what
// limits the bytes in flight on a Unix socket).
Connection unix_pair(int buffer = 0) {
  int fds[2];
  check(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), "socketpair");
  for (int fd : fds) {
    if (buffer != 0)
      check(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer), "SO_SNDBUF");
  }
  return {Fd(fds[0]), Fd(fds[1])};
}

// A real TCP connection over 127.0.0.1: a socket pair cannot be reset.
// `buffer`, when not 0, fixes SO_SNDBUF and SO_RCVBUF on both ends (and so
// turns off the kernel's autotuning of them).
Connection tcp_pair(int buffer = 0) {
  auto fix_buffers = [buffer](int fd) {
    if (buffer == 0) return;
    check(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer), "SO_SNDBUF");
    check(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer), "SO_RCVBUF");
  };
  Fd listener(check(socket(AF_INET, SOCK_STREAM, 0), "socket"));
  fix_buffers(listener.get());  // inherited by the accepted socket
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto* where = reinterpret_cast<sockaddr*>(&address);
  socklen_t size = sizeof address;
  check(bind(listener.get(), where, size), "bind");
  check(listen(listener.get(), 1), "listen");
  check(getsockname(listener.get(), where, &size), "getsockname");
  Fd client(check(socket(AF_INET, SOCK_STREAM, 0), "socket"));
  fix_buffers(client.get());
  check(connect(client.get(), where, size), "connect");
  Fd server(check(accept(listener.get(), nullptr, nullptr), "accept"));
  return {std::move(client), std::move(server)};
}

std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::string bytes(size, '\0');
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word = generator();
    std::memcpy(&bytes[i], &word, 8);
  }
  for (; i < size; ++i)
    bytes[i] = static_cast<char>(generator());
  return bytes;
}

// The byte at `offset` of an endless pseudo-random stream: lets a test move
// hundreds of MiB and check every byte without holding them in memory.
char stream_byte(std::uint64_t offset) {
  std::uint64_t x = (offset >> 3) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<char>(x >> (8 * (offset & 7)));
}

void fill_stream(std::uint64_t offset, char* out, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i)
    out[i] = stream_byte(offset + i);
}

// The first offset at which `got` differs from the stream, or -1.
long long stream_mismatch(std::uint64_t offset, const char* got, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (got[i] != stream_byte(offset + i)) return static_cast<long long>(offset + i);
  }
  return -1;
}

// What a reset test whose reset went unseen says.
constexpr const char* kResetIsRead =
    "a reset comes as POLLHUP or POLLERR, and read() is what reports it (ECONNRESET), after any "
    "data still unread: POLLHUP is no end of file (docs/stage3-duplex.md#pollhup)";

// What a stream that stops short of its end most often means.
constexpr const char* kEndMissing =
    ": the end is missing (POLLHUP or POLLERR with data unread still means read() until it "
    "returns 0 or fails; docs/stage3-duplex.md#pollhup)";

// Where two long byte strings first differ, readable in a failure message
// (gtest would print all 32 MiB of both).
std::string compare(const std::string& expected, const std::string& got) {
  if (expected == got) return "identical";
  auto first = std::mismatch(expected.begin(), expected.end(), got.begin(), got.end());
  const bool end_missing = got.size() < expected.size() && first.second == got.end();
  return "expected " + std::to_string(expected.size()) + " bytes, got " +
         std::to_string(got.size()) + ", first difference at offset " +
         std::to_string(first.first - expected.begin()) + (end_missing ? kEndMissing : "");
}

#define EXPECT_SAME_BYTES(expected, got) EXPECT_EQ("identical", compare(expected, got))

// duplex() in its own thread, as main would run it; the outcome is kept.
class DuplexThread {
 public:
  DuplexThread(int input, int socket, int output, DuplexOptions options)
      : thread_([this, input, socket, output, options] {
          try {
            duplex(input, socket, output, options, counts_);
          } catch (const NotWritten&) {
            // A student's copy stopped at a part not written: the program
            // would exit, and its peer see the connection end, so the test
            // fails at once instead of at its time limit. The socket is
            // closed as an exit closes it (the test's Fd then closes the
            // /dev/null that takes its number, not another's descriptor).
            error_ = std::current_exception();
            close_as_exit_would(socket);
            finished_.set_value();
            drain_until_stopped(input);
            return;
          } catch (...) {
            error_ = std::current_exception();
          }
          finished_.set_value();
        }),
        done_(finished_.get_future()) {}
  DuplexThread(const DuplexThread&) = delete;
  DuplexThread& operator=(const DuplexThread&) = delete;
  // A duplex() that never returns cannot be joined: the failure has been
  // reported by then, and the process ends rather than hang.
  ~DuplexThread() {
    stop_ = true;
    if (!finished_within(2000ms)) {
      std::fprintf(stderr, "duplex() is still running: ending the test process\n");
      std::_Exit(4);
    }
    thread_.join();
  }

  // True once duplex() has returned or thrown, waiting at most `limit`.
  bool finished_within(std::chrono::milliseconds limit) {
    return done_.wait_for(limit) == std::future_status::ready;
  }
  bool finished() { return finished_within(0ms); }

  static void close_as_exit_would(int socket) {
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null == -1 || dup2(null, socket) == -1) shutdown(socket, SHUT_RDWR);
    if (null != -1) ::close(null);
  }

  // What the exit of a program stopped at a part not written does to its
  // stdin: the test's typist is not left blocked on a full pipe. Reads and
  // discards until the end of input, or until the test is over.
  void drain_until_stopped(int input) {
    char scrap[65536];
    while (!stop_) {
      pollfd slot{input, POLLIN, 0};
      if (poll(&slot, 1, 50) != 1) continue;
      ssize_t got = ::read(input, scrap, sizeof scrap);
      if (got == 0 || (got == -1 && errno != EINTR && errno != EAGAIN)) return;
    }
  }

  // Only after finished(): what duplex() counted and what it threw.
  const Counts& counts() const { return counts_; }
  std::exception_ptr error() const { return error_; }

 private:
  Counts counts_;
  std::exception_ptr error_;
  std::atomic<bool> stop_{false};
  std::promise<void> finished_;
  std::thread thread_;
  std::future<void> done_;
};

// "returned" if duplex() returned; else its errno and what(), or a note.
std::string outcome(const std::exception_ptr& error) {
  if (!error) return "returned";
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    return "system_error " + std::to_string(e.code().value()) + ": " + e.what();
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  }
}

std::string system_error_text(int code, const std::string& attempt) {
  return "system_error " + std::to_string(code) + ": " +
         std::system_error(code, std::generic_category(), attempt).what();
}

// The test's side of everything, driven by one poll() loop: bytes to write
// into stdin and to send from the peer, bytes read from stdout and received
// by the peer. A source is closed (a pipe) or shut down for writing (a
// socket) once all its bytes are out, unless told to stay open.
class Pump {
 public:
  struct Source {
    int fd = -1;
    std::string data;
    bool end_when_done = true;  // close or shutdown(SHUT_WR) after the last byte
    bool is_socket = false;
    std::size_t written = 0;
    bool ended = false;
  };
  struct Sink {
    int fd = -1;
    std::string got;
    bool eof = false;
  };

  // The descriptors are the test's: made non-blocking here.
  void add_source(Fd& fd, std::string data, bool is_socket, bool end_when_done = true) {
    set_nonblocking(fd.get());
    Source source;
    source.fd = fd.get();
    source.data = std::move(data);
    source.end_when_done = end_when_done;
    source.is_socket = is_socket;
    sources_.push_back(std::move(source));
    owners_.push_back(&fd);
  }
  void add_sink(int fd) {
    set_nonblocking(fd);
    Sink sink;
    sink.fd = fd;
    sinks_.push_back(std::move(sink));
  }

  // Closes `fd` (the test's copy of stdout's write end) once `run` has
  // finished, so that stdout's reader sees end of file as a shell would.
  void close_when_finished(DuplexThread& run, Fd& fd) {
    run_ = &run;
    output_ = &fd;
  }

  // Moves bytes until every source has ended and every sink has seen end of
  // file, or until `limit`; false then, with the state left for diagnosis.
  bool run(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    std::vector<char> chunk(256 * kKiB);
    for (;;) {
      end_finished_sources();
      if (run_ != nullptr && *output_ && run_->finished()) output_->reset();
      if (all_done()) return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return false;
      if (run_ != nullptr && *output_) left = std::min(left, 10ms);
      std::vector<pollfd> slots;
      for (Source& s : sources_) {
        if (!s.ended && s.written < s.data.size()) slots.push_back({s.fd, POLLOUT, 0});
      }
      for (Sink& s : sinks_) {
        if (!s.eof) slots.push_back({s.fd, POLLIN, 0});
      }
      int ready = poll(slots.data(), slots.size(), static_cast<int>(left.count()));
      if (ready == -1 && errno == EINTR) continue;
      check(ready, "poll");
      for (Source& s : sources_) {
        if (s.ended || s.written == s.data.size() || !ready_for(slots, s.fd)) continue;
        ssize_t n = ::write(s.fd, s.data.data() + s.written, s.data.size() - s.written);
        if (n == -1 && (errno == EAGAIN || errno == EINTR)) continue;
        check(n, "pump write");
        s.written += static_cast<std::size_t>(n);
      }
      for (Sink& s : sinks_) {
        if (s.eof || !ready_for(slots, s.fd)) continue;
        ssize_t n = ::read(s.fd, chunk.data(), chunk.size());
        if (n == -1 && (errno == EAGAIN || errno == EINTR)) continue;
        check(n, "pump read");
        if (n == 0) s.eof = true;
        s.got.append(chunk.data(), static_cast<std::size_t>(n));
      }
    }
  }

  Source& source(std::size_t i) { return sources_[i]; }
  Sink& sink(std::size_t i) { return sinks_[i]; }

 private:
  static bool ready_for(const std::vector<pollfd>& slots, int fd) {
    for (const pollfd& slot : slots) {
      if (slot.fd == fd && slot.revents) return true;
    }
    return false;
  }
  void end_finished_sources() {
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      Source& s = sources_[i];
      if (s.ended || s.written < s.data.size() || !s.end_when_done) continue;
      if (s.is_socket) {
        check(shutdown(s.fd, SHUT_WR), "pump shutdown");
      } else {
        owners_[i]->reset();
      }
      s.ended = true;
    }
  }
  bool all_done() const {
    for (const Source& s : sources_) {
      if (s.written < s.data.size() || (s.end_when_done && !s.ended)) return false;
    }
    for (const Sink& s : sinks_) {
      if (!s.eof) return false;
    }
    return true;
  }

  std::vector<Source> sources_;
  std::vector<Fd*> owners_;
  std::vector<Sink> sinks_;
  DuplexThread* run_ = nullptr;
  Fd* output_ = nullptr;
};

// What a peer that waits for end of file after all of stdin was sent lacks
// (the half-close rule of part 3.2).
constexpr const char* kNoFin =
    "stdin ended and everything went out, yet no FIN came: once all of stdin has gone out, "
    "shutdown(SHUT_WR) tells the peer (docs/stage3-duplex.md#half-close-send-a-file)";

// Reads `fd` (blocking, with a deadline) until end of file, or `most` bytes.
// `missing_eof` is what a failure says when no end of file comes.
std::string read_to_eof(int fd, std::chrono::milliseconds limit, const char* missing_eof = nullptr,
                        std::size_t most = std::string::npos) {
  const auto deadline = Clock::now() + limit;
  std::string got;
  char chunk[64 * 1024];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd slot{fd, POLLIN, 0};
    int ready = poll(&slot, 1, static_cast<int>(std::max(left, 0ms).count()));
    if (ready == -1 && errno == EINTR) continue;
    if (check(ready, "poll") == 0) {
      ADD_FAILURE() << "no end of file within " << limit.count() << " ms, " << got.size()
                    << " bytes read" << (missing_eof ? ": " : "")
                    << (missing_eof ? missing_eof : "");
      return got;
    }
    ssize_t n = ::read(fd, chunk, std::min(sizeof chunk, most - got.size()));
    if (n == -1 && (errno == EAGAIN || errno == EINTR)) continue;
    if (check(n, "read") == 0) return got;
    got.append(chunk, static_cast<std::size_t>(n));
    if (got.size() == most) return got;
  }
}

// Writes all of `data` to a blocking `fd`.
void write_everything(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n == -1 && errno == EINTR) continue;
    done += static_cast<std::size_t>(check(n, "write"));
  }
}

// The TCP connection on `fd` is over (reset, as when a program that stops
// closes a socket holding unread bytes).
bool closed(int fd) {
  tcp_info info{};
  socklen_t size = sizeof info;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) == 0 && info.tcpi_state == TCP_CLOSE;
}

// A typist in a thread of its own: types all of `text` on stdin, then
// ends it (Ctrl-D), as a program piped into this one would.
std::thread type_then_end(Pipe& input, const std::string& text) {
  return std::thread([&input, &text] {
    write_everything(input.write.get(), text);
    input.write.reset();
  });
}

// A typist or a peer that never stops: writes `byte` to `fd`, made
// non-blocking, from a thread of its own, until duplex() has returned.
std::thread write_until_finished(int fd, char byte, DuplexThread& run) {
  return std::thread([fd, byte, &run] {
    const std::string chunk(64 * kKiB, byte);
    set_nonblocking(fd);
    while (!run.finished()) {
      if (::write(fd, chunk.data(), chunk.size()) == -1) std::this_thread::sleep_for(1ms);
    }
  });
}

// Waits until the kernel has delivered (and the other end acknowledged)
// every byte written to the TCP socket `fd`.
bool wait_until_acknowledged(int fd, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    int unacknowledged = 0;
    check(ioctl(fd, SIOCOUTQ, &unacknowledged), "ioctl SIOCOUTQ");
    if (unacknowledged == 0) return true;
    if (Clock::now() > deadline || closed(fd)) return false;  // a reset: never acknowledged
    std::this_thread::sleep_for(1ms);
  }
}

int flags_of(int fd) {
  return check(fcntl(fd, F_GETFL), "fcntl F_GETFL");
}

// The limit on every test's own waits; the watchdog's is a little longer.
// Tests take at most a few seconds each; most make two or three such waits.
constexpr auto kLimit = std::chrono::milliseconds(kSanitized ? 40000 : 15000);
constexpr auto kWatchdog = std::chrono::seconds(kSanitized ? 110 : 50);

// What every test of duplex() starts from: a watchdog, and two pipes, one
// for stdin (the test types into `input.write`) and one for stdout (it reads
// `output.read`). Each test makes its own connection and starts duplex().
class DuplexHarness : public testing::Test {
 protected:
  Watchdog watchdog{kWatchdog};
  Pipe input = make_pipe();
  Pipe output = make_pipe();
};
using DuplexTest = DuplexHarness;

// --- Both directions at once, many buffer sizes ---------------------------

struct Flow {
  const char* name;
  std::size_t buffer_size;
  std::size_t up_bytes;    // stdin to the peer
  std::size_t down_bytes;  // the peer to stdout
  bool tcp;
};

std::ostream& operator<<(std::ostream& out, const Flow& flow) {
  return out << flow.name;
}

// A parameter's name, the end of its test's name (Links/StubbornPeer.X/TcpSmall).
template <typename Param>
std::string name_of(const testing::TestParamInfo<Param>& info) {
  return info.param.name;
}

class BothWays : public DuplexHarness, public testing::WithParamInterface<Flow> {};

// The peer and the typist both send everything at once, each direction
// ending on its own; nothing may be lost, duplicated or reordered, and the
// counts must be exact.
TEST_P(BothWays, EveryByteArrivesInOrderAndIsCounted) {
  const Flow& flow = GetParam();
  const std::size_t scale = kSanitized ? 4 : 1;
  const std::string up = random_bytes(flow.up_bytes / scale, 1);
  const std::string down = random_bytes(flow.down_bytes / scale, 2);
  Connection connection = flow.tcp ? tcp_pair() : unix_pair();

  DuplexOptions options;
  options.buffer_size = flow.buffer_size;
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  Pump pump;
  pump.add_source(input.write, up, false);
  pump.add_source(connection.peer, down, true);
  pump.add_sink(connection.peer.get());
  pump.add_sink(output.read.get());
  pump.close_when_finished(run, output.write);
  EXPECT_TRUE(pump.run(kLimit)) << "stalled: " << pump.source(0).written << " bytes typed, "
                                << pump.source(1).written << " sent by the peer, "
                                << pump.sink(0).got.size() << " received by the peer, "
                                << pump.sink(1).got.size() << " printed";
  ASSERT_TRUE(run.finished_within(kLimit)) << "duplex() did not return";
  EXPECT_EQ("returned", outcome(run.error()));

  EXPECT_SAME_BYTES(up, pump.sink(0).got);
  EXPECT_SAME_BYTES(down, pump.sink(1).got);
  EXPECT_EQ(up.size(), run.counts().sent);
  EXPECT_EQ(down.size(), run.counts().received);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, BothWays,
    testing::Values(Flow{"Buffer1", 1, 24 * kKiB, 32 * kKiB, false},
                    Flow{"Buffer7", 7, 256 * kKiB, 256 * kKiB + 3, false},
                    Flow{"Buffer4096", 4096, 8 * kMiB + 1, 8 * kMiB, false},
                    Flow{"Buffer128KiB", 128 * kKiB, 8 * kMiB, 8 * kMiB + 5, false},
                    Flow{"Buffer128KiBTcp", 128 * kKiB, 8 * kMiB + 5, 8 * kMiB, true},
                    Flow{"Buffer1Tcp", 1, 16 * kKiB, 16 * kKiB, true},
                    Flow{"UpOnly", 4096, 4 * kMiB, 0, false},
                    Flow{"DownOnly", 4096, 0, 4 * kMiB, false}, Flow{"Nothing", 4096, 0, 0, false}),
    name_of<Flow>);

// duplex() makes its socket non-blocking, and only its socket: stdin and
// stdout are shared with the shell, which would find them non-blocking later.
TEST_F(DuplexTest, OnlyTheSocketIsMadeNonBlocking) {
  Connection connection = unix_pair();
  const int input_flags = flags_of(input.read.get());
  const int output_flags = flags_of(output.write.get());
  write_everything(input.write.get(), "up");
  input.write.reset();
  write_everything(connection.peer.get(), "down");
  check(shutdown(connection.peer.get(), SHUT_WR), "shutdown");
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  EXPECT_EQ(input_flags, flags_of(input.read.get()));
  EXPECT_EQ(output_flags, flags_of(output.write.get()));
  EXPECT_TRUE(flags_of(connection.dut.get()) & O_NONBLOCK);
  output.write.reset();
  EXPECT_EQ("down", read_to_eof(output.read.get(), kLimit));
  EXPECT_EQ("up", read_to_eof(connection.peer.get(), kLimit, kNoFin));
}

struct Link {
  const char* name;
  bool tcp;
  int kernel_buffer;  // SO_SNDBUF (and SO_RCVBUF for TCP); 0: the system's
};

std::ostream& operator<<(std::ostream& out, const Link& link) {
  return out << link.name;
}

class StubbornPeer : public DuplexHarness, public testing::WithParamInterface<Link> {};

// A peer that writes everything before reading anything. Were the socket
// blocking, duplex() would sit in write() for the peer to read while the
// peer sits in write() for duplex() to read. Kernel buffers smaller than
// duplex()'s make sure a blocking write would not fit.
TEST_P(StubbornPeer, WritesEverythingBeforeReadingWithoutDeadlock) {
  const std::string up = random_bytes(16 * kMiB, 3);
  const std::string down = random_bytes(16 * kMiB, 4);
  Connection connection =
      GetParam().tcp ? tcp_pair(GetParam().kernel_buffer) : unix_pair(GetParam().kernel_buffer);
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});

  // stdin and stdout are served by threads of their own, as by two other
  // programs in a shell pipeline; the peer, here, is as stubborn as a
  // blocking program.
  std::thread typist = type_then_end(input, up);
  std::string printed;
  std::thread reader([&] { printed = read_to_eof(output.read.get(), kLimit); });
  write_everything(connection.peer.get(), down);
  check(shutdown(connection.peer.get(), SHUT_WR), "shutdown");
  std::string received = read_to_eof(connection.peer.get(), kLimit, kNoFin);
  bool returned = run.finished_within(kLimit);
  output.write.reset();  // end of file for the reader
  typist.join();
  reader.join();
  ASSERT_TRUE(returned);
  EXPECT_EQ("returned", outcome(run.error()));
  EXPECT_SAME_BYTES(up, received);
  EXPECT_SAME_BYTES(down, printed);
}

INSTANTIATE_TEST_SUITE_P(Links, StubbornPeer,
                         testing::Values(Link{"Unix", false, 0}, Link{"UnixSmall", false, 8192},
                                         Link{"TcpSmall", true, 8192}),
                         name_of<Link>);

// A write() to a non-blocking socket takes what fits in the kernel's buffer
// and returns that count: the rest is still to send. Taken as whole, bytes
// vanish from the middle of the stream. Kernel buffers of 8 KiB, smaller
// than any write duplex() makes of a full buffer, make writes partial. The
// peer reads until it has every byte, or the stream ends short.
TEST_F(DuplexTest, PartialWritesToTheSocketLoseNoBytes) {
  const std::string up = random_bytes(4 * kMiB, 13);
  Connection connection = tcp_pair(8192);
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  std::thread typist = type_then_end(input, up);
  const std::string received = read_to_eof(connection.peer.get(), kLimit, kNoFin, up.size());
  typist.join();
  connection.peer.reset();  // the peer leaves: duplex() ends either way
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ(up.size(), received.size())
      << "bytes lost on the way to the peer: a write() that took part of a buffer was taken as "
         "whole (write() returns how much it took; the rest waits for the next POLLOUT)";
  EXPECT_SAME_BYTES(up, received);
}

// --- Half-close -------------------------------------------------------------

// End of stdin: the peer reads end of file (shutdown SHUT_WR), and what it
// sends only after that, as a server answering a whole request does, still
// reaches stdout.
TEST_F(DuplexTest, EndOfInputShutsDownAndKeepsPrintingTheReply) {
  const std::string request = random_bytes(3 * kMiB, 5);
  const std::string reply = random_bytes(5 * kMiB, 6);
  Connection connection = unix_pair();
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  std::thread typist = type_then_end(input, request);

  std::string received = read_to_eof(connection.peer.get(), kLimit, kNoFin);
  typist.join();
  EXPECT_SAME_BYTES(request, received);
  EXPECT_FALSE(run.finished()) << "duplex() returned while the peer was still sending";

  Pump pump;
  pump.add_source(connection.peer, reply, true);
  pump.add_sink(output.read.get());
  pump.close_when_finished(run, output.write);
  EXPECT_TRUE(pump.run(kLimit));
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  EXPECT_SAME_BYTES(reply, pump.sink(0).got);
  EXPECT_EQ(request.size(), run.counts().sent);
  EXPECT_EQ(reply.size(), run.counts().received);
}

// Empty stdin (</dev/null): end of stream reaches the peer at once.
TEST_F(DuplexTest, EmptyInputReachesThePeerAsEndOfFileAtOnce) {
  Connection connection = unix_pair();
  input.write.reset();
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  EXPECT_EQ("", read_to_eof(connection.peer.get(), kLimit, kNoFin));
  write_everything(connection.peer.get(), "late reply");
  check(shutdown(connection.peer.get(), SHUT_WR), "shutdown");
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  output.write.reset();
  EXPECT_EQ("late reply", read_to_eof(output.read.get(), kLimit));
}

// The peer finishes first; stdin is a file or a pipe: it is sent to its
// end all the same, since the peer may still be reading (half-close).
TEST_F(DuplexTest, PeerEndsFirstAndInputIsNotATerminalInputIsStillSent) {
  const std::string greeting = "all I have to say\n";
  const std::string up = random_bytes(6 * kMiB, 7);
  Connection connection = unix_pair();
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  write_everything(connection.peer.get(), greeting);
  check(shutdown(connection.peer.get(), SHUT_WR), "shutdown");
  // Wait until duplex() has printed the greeting, so its end of stream has
  // surely been seen, before anything is typed.
  std::string printed;
  const auto deadline = Clock::now() + kLimit;
  while (printed.size() < greeting.size()) {
    // In slices: a duplex() that has ended (a part not written) ends the wait.
    ASSERT_FALSE(run.finished()) << outcome(run.error());
    ASSERT_LT(Clock::now(), deadline) << "the greeting was not printed";
    pollfd slot{output.read.get(), POLLIN, 0};
    if (check(poll(&slot, 1, 50), "poll") == 0) continue;
    char chunk[64];
    ssize_t n = check(::read(output.read.get(), chunk, sizeof chunk), "read");
    ASSERT_GT(n, 0);
    printed.append(chunk, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(greeting, printed);
  EXPECT_FALSE(run.finished()) << "duplex() stopped at the peer's end of stream";

  Pump pump;
  pump.add_source(input.write, up, false);
  pump.add_sink(connection.peer.get());
  EXPECT_TRUE(pump.run(kLimit));
  EXPECT_SAME_BYTES(up, pump.sink(0).got);
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  EXPECT_EQ(up.size(), run.counts().sent);
  EXPECT_EQ(greeting.size(), run.counts().received);
}

// The peer finishes first; stdin is a terminal where nobody types: the
// conversation is over, duplex() returns without waiting for stdin.
TEST_F(DuplexTest, PeerEndsFirstAndInputIsATerminalReturnsAtOnce) {
  const std::string farewell = random_bytes(300 * kKiB, 8);
  Connection connection = unix_pair();
  // stdin: never written to, never closed: a silent keyboard
  DuplexOptions options;
  options.input_is_terminal = true;
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  Pump pump;
  pump.add_source(connection.peer, farewell, true);
  pump.add_sink(output.read.get());
  pump.close_when_finished(run, output.write);
  EXPECT_TRUE(pump.run(kLimit)) << "duplex() waits for a terminal nobody uses";
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  EXPECT_SAME_BYTES(farewell, pump.sink(0).got);
  EXPECT_EQ(0u, run.counts().sent);
  EXPECT_EQ(farewell.size(), run.counts().received);
}

// With a terminal, what was typed before the peer left is still sent.
TEST_F(DuplexTest, PeerEndsFirstAndInputIsATerminalTypedBytesAreStillSent) {
  Connection connection = unix_pair();
  write_everything(input.write.get(), "typed before the peer left\n");
  DuplexOptions options;
  options.input_is_terminal = true;
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  // Wait for the typed line, then leave.
  std::string received;
  while (received.size() < 27) {
    pollfd slot{connection.peer.get(), POLLIN, 0};
    ASSERT_EQ(1, poll(&slot, 1, static_cast<int>(kLimit.count())));
    char chunk[64];
    ssize_t n = check(::read(connection.peer.get(), chunk, sizeof chunk), "read");
    ASSERT_GT(n, 0);
    received.append(chunk, static_cast<std::size_t>(n));
  }
  EXPECT_EQ("typed before the peer left\n", received);
  check(shutdown(connection.peer.get(), SHUT_WR), "shutdown");
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  EXPECT_EQ(27u, run.counts().sent);
}

// --- Failures ---------------------------------------------------------------

// Bytes enough to fill the stdout pipe with 32 KiB over, which duplex()'s
// down buffer and the kernel's receive queue hold between them, whatever
// buffer size the duplex.hpp under test chose (docs/exercises.md: 4 KiB to
// 1 MiB all pass). Not more: a write() to the full pipe blocks duplex(),
// and what it read before may be any part of its buffer.
std::size_t more_than_printing_holds(const Pipe& output) {
  const int pipe_size = check(fcntl(output.write.get(), F_GETPIPE_SZ), "fcntl F_GETPIPE_SZ");
  return static_cast<std::size_t>(pipe_size) + 32 * kKiB;
}

// duplex() with `options`, stdin (`input`) open and silent, and a peer that sends
// more than printing holds, then resets once the kernel has acknowledged
// it all; stdout is read only then. duplex() must end with ECONNRESET from
// the read, having printed every byte, those in the kernel's receive queue
// and in its down buffer included.
void expect_everything_printed_before_the_reset(const Pipe& input, Pipe& output,
                                                const DuplexOptions& options) {
  Connection connection = tcp_pair();
  const std::string before = random_bytes(more_than_printing_holds(output), 9);
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  write_everything(connection.peer.get(), before);
  ASSERT_TRUE(wait_until_acknowledged(connection.peer.get(), kLimit));
  reset(connection.peer);
  std::thread reader([&] { EXPECT_SAME_BYTES(before, read_to_eof(output.read.get(), kLimit)); });
  bool returned = run.finished_within(kLimit);
  output.write.reset();
  reader.join();
  ASSERT_TRUE(returned) << "duplex() went on after the peer's reset: " << kResetIsRead;
  EXPECT_EQ(system_error_text(ECONNRESET, "read from network"), outcome(run.error()))
      << kResetIsRead;
  EXPECT_EQ(before.size(), run.counts().received);
}

// A reset ends duplex() with ECONNRESET from the read; every byte the peer
// sent before it, including those still queued in the kernel and in the
// down buffer while stdout was not being read, reaches stdout.
TEST_F(DuplexTest, PeerResetThrowsAfterPrintingEverythingReceived) {
  expect_everything_printed_before_the_reset(input, output, DuplexOptions{});
}

// As above, but with bytes from stdin waiting to go up when the reset comes,
// so that the write to the socket is what fails first. What the peer sent
// before the reset, and the kernel acknowledged, must still be printed.
//
// The write to the socket fails first here, while most of what the peer
// sent is still in the kernel's receive queue: duplex() must read it out
// and print it before reporting the reset.
TEST_F(DuplexTest, PeerResetWhileSendingStillPrintsEverythingReceived) {
  const std::string bytes = random_bytes(DuplexOptions{}.buffer_size + kMiB, 10);
  Connection connection = tcp_pair(256 * 1024);
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  // The peer does not read: duplex() fills the connection, then its up
  // buffer, and keeps bytes of stdin waiting there.
  std::thread typist = write_until_finished(input.write.get(), 'u', run);
  std::this_thread::sleep_for(200ms);  // let the up buffer fill
  // stdout is not read yet: the peer's bytes fill the stdout pipe, the down
  // buffer and then the kernel's receive queue. How much duplex() reads
  // before its write to the full pipe blocks is its own business: the bytes
  // go 64 KiB at a time, each acknowledged (an empty queue has room for
  // them), until some wait in the queue.
  std::size_t sent = 0;
  int queued = 0;
  while (queued == 0 && sent < bytes.size()) {
    const std::size_t piece = std::min<std::size_t>(64 * kKiB, bytes.size() - sent);
    write_everything(connection.peer.get(), bytes.substr(sent, piece));
    ASSERT_TRUE(wait_until_acknowledged(connection.peer.get(), kLimit));
    sent += piece;
    check(ioctl(connection.dut.get(), SIOCINQ, &queued), "ioctl SIOCINQ");
  }
  ASSERT_GT(queued, 0) << "precondition: bytes waiting in the receive queue at the reset";
  const std::string before = bytes.substr(0, sent);
  reset(connection.peer);
  std::thread reader([&] { EXPECT_SAME_BYTES(before, read_to_eof(output.read.get(), kLimit)); });
  bool returned = run.finished_within(kLimit);
  typist.join();
  output.write.reset();
  reader.join();
  ASSERT_TRUE(returned);
  const std::string got = outcome(run.error());
  EXPECT_TRUE(got == system_error_text(ECONNRESET, "read from network") ||
              got == system_error_text(ECONNRESET, "write to network"))
      << got;
}

// -w after a reset: what arrived is still printed, every byte of it, to a
// stdout that takes it (here only once the reset is in), as without -w.
TEST_F(DuplexTest, PeerResetWithIdleTimeoutStillPrintsEverythingReceived) {
  DuplexOptions options;
  options.idle_timeout_ms = 5000;  // wide: the window includes the send and the reset
  expect_everything_printed_before_the_reset(input, output, options);
}

// -w after a reset, with stdout a pipe nobody reads: printing what arrived
// gives up once stdout has taken nothing for -w, and the reset, not the
// stall, is reported. A blocking write() there would wait for a reader.
TEST_F(DuplexTest, PeerResetWithStdoutStalledGivesUpAfterIdleTimeout) {
  Connection connection = tcp_pair();
  // stdin open and silent, stdout never read
  // Enough to fill the pipe, with 1 KiB left over, which any down buffer
  // (4 KiB or more, reused once empty or not) has room for: then duplex()
  // keeps reading the socket, and so meets the reset.
  const int pipe_size = check(fcntl(output.write.get(), F_GETPIPE_SZ), "fcntl F_GETPIPE_SZ");
  const std::string before = random_bytes(static_cast<std::size_t>(pipe_size) + kKiB, 12);
  DuplexOptions options;
  options.idle_timeout_ms = 5000;  // wide: the window includes the send and the reset
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  write_everything(connection.peer.get(), before);
  ASSERT_TRUE(wait_until_acknowledged(connection.peer.get(), kLimit));
  reset(connection.peer);
  // Whether it returns at all while stdout is still held, within the hang
  // limit, tells, not how fast: stuck in a write, it only returns once the
  // read end closes below (EPIPE, which print_what_arrived() swallows, so
  // the error reported cannot tell).
  const bool returned_while_stalled = run.finished_within(kLimit);
  output.read.reset();
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_TRUE(returned_while_stalled) << "stdout stalled: still printing, out of -w's reach";
  EXPECT_EQ(system_error_text(ECONNRESET, "read from network"), outcome(run.error()))
      << kResetIsRead;
}

// -w: a silent peer and a silent keyboard end duplex() with ETIMEDOUT.
TEST_F(DuplexTest, IdleTimeoutWithASilentPeerThrowsTimedOut) {
  Connection connection = unix_pair();
  DuplexOptions options;
  options.idle_timeout_ms = 1000;
  const auto start = Clock::now();
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  ASSERT_TRUE(run.finished_within(kLimit));
  const auto waited = Clock::now() - start;
  EXPECT_EQ(system_error_text(ETIMEDOUT, "nothing moved for 1 s"), outcome(run.error()));
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count(), 1000)
      << "milliseconds waited: gave up before the time limit";
}

// -w counts silence, not the whole conversation: bytes trickling in more
// often than the limit keep it alive well past it.
TEST_F(DuplexTest, IdleTimeoutIsNotTriggeredWhileBytesMove) {
  Connection connection = unix_pair();
  DuplexOptions options;
  options.idle_timeout_ms = 500;
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  std::string sent;
  for (int i = 0; i < 30; ++i) {  // 1.5 seconds, three times the limit
    std::this_thread::sleep_for(50ms);
    write_everything(connection.peer.get(), "x");
    sent += 'x';
  }
  input.write.reset();
  check(shutdown(connection.peer.get(), SHUT_WR), "shutdown");
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  output.write.reset();
  EXPECT_EQ(sent, read_to_eof(output.read.get(), kLimit));
}

// -w when stdout, not the network, is what stalls (a pager paused, a pipe
// nobody reads): nothing moves, so duplex() must give up all the same.
// stdout is blocking (it is shared with the shell): a write() of more than
// the pipe has room for would block inside the loop, out of poll()'s reach,
// so with -w duplex() writes at most PIPE_BUF bytes to a pipe at a time.
TEST_F(DuplexTest, IdleTimeoutFiresWhileStdoutIsStalled) {
  Connection connection = unix_pair();
  // stdin open and silent, stdout never read
  DuplexOptions options;
  options.idle_timeout_ms = 1000;
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);
  std::thread peer = write_until_finished(connection.peer.get(), 'd', run);
  // Within the hang budget, with stdout still held: a write() stuck on the
  // full pipe would never return. No time is measured.
  const bool gave_up = run.finished_within(kLimit);
  output.read.reset();  // unblocks a write() stuck on the full pipe (EPIPE)
  const bool returned = run.finished_within(kLimit);
  peer.join();
  ASSERT_TRUE(returned);
  EXPECT_TRUE(gave_up) << "duplex() did not return while stdout was stalled";
  EXPECT_EQ(system_error_text(ETIMEDOUT, "nothing moved for 1 s"), outcome(run.error()));
}

// stdout gone (its reader closed the pipe): EPIPE, reported, no crash.
TEST_F(DuplexTest, OutputClosedThrowsBrokenPipe) {
  Connection connection = unix_pair();
  output.read.reset();
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  write_everything(connection.peer.get(), "nobody reads this");
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ(system_error_text(EPIPE, "write to stdout"), outcome(run.error()));
}

// stdout goes away in the middle of a large transfer.
TEST_F(DuplexTest, OutputClosedMidwayThrowsBrokenPipe) {
  Connection connection = unix_pair();
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  std::thread peer = write_until_finished(connection.peer.get(), 'd', run);
  // The first bytes on stdout, unless duplex() gives up before printing any
  // (a blocking read would then wait for ever: the test holds stdout open).
  pollfd slot{output.read.get(), POLLIN, 0};
  const auto deadline = Clock::now() + kLimit;
  while (poll(&slot, 1, 10) == 0 && !run.finished() && Clock::now() < deadline) {
  }
  if (!(slot.revents & POLLIN)) {
    const std::string why = run.finished() ? outcome(run.error()) : "still running";
    peer.join();
    FAIL() << "nothing reached stdout; duplex(): " << why;
  }
  char first[100];
  ASSERT_EQ(static_cast<ssize_t>(sizeof first), ::read(output.read.get(), first, sizeof first));
  output.read.reset();
  bool returned = run.finished_within(kLimit);
  peer.join();
  ASSERT_TRUE(returned);
  EXPECT_EQ(system_error_text(EPIPE, "write to stdout"), outcome(run.error()));
}

// The peer closes completely (not a half-close) while stdin still has a lot
// to send: the write fails, and duplex() says so instead of dying of SIGPIPE.
TEST_F(DuplexTest, PeerGoneWhileSendingThrows) {
  Connection connection = unix_pair();
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), DuplexOptions{});
  connection.peer.reset();
  std::thread typist = write_until_finished(input.write.get(), 'u', run);
  bool returned = run.finished_within(kLimit);
  typist.join();
  ASSERT_TRUE(returned);
  // A closed socket pair reads as end of stream, then refuses writes.
  EXPECT_EQ(system_error_text(EPIPE, "write to network"), outcome(run.error()));
}

// --- Bounded memory -----------------------------------------------------------

long vm_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// A fast peer, a slow reader of stdout: duplex() must stop reading the
// socket while its down buffer is full, so the bytes in flight (sent by the
// peer, not yet read from stdout) never exceed what the kernel's buffers and
// duplex()'s own can hold, however much is moved; and the process does not
// grow. An unbounded buffer fails both checks within the first pause.
TEST_F(DuplexTest, SlowReaderBackpressureKeepsMemoryBounded) {
  const std::uint64_t total = 48 * kMiB;
  const int kernel_buffer = 64 * 1024;
  Connection connection = tcp_pair(kernel_buffer);
  input.write.reset();  // nothing goes up
  DuplexOptions options;
  DuplexThread run(input.read.get(), connection.dut.get(), output.write.get(), options);

  // What may be in flight: the peer's send buffer, duplex()'s receive buffer
  // (both as the kernel reports them, doubled for its bookkeeping), the down
  // buffer, the stdout pipe, and as much again as slack. An unbounded buffer
  // grows past any such sum, since the peer has 48 MiB to send.
  auto buffer_of = [](int fd, int option) {
    int size = 0;
    socklen_t length = sizeof size;
    check(getsockopt(fd, SOL_SOCKET, option, &size, &length), "getsockopt");
    return static_cast<std::uint64_t>(size);
  };
  const std::uint64_t bound =
      buffer_of(connection.peer.get(), SO_SNDBUF) + buffer_of(connection.dut.get(), SO_RCVBUF) +
      options.buffer_size +
      static_cast<std::uint64_t>(check(fcntl(output.read.get(), F_GETPIPE_SZ), "F_GETPIPE_SZ")) +
      256 * kKiB;

  set_nonblocking(connection.peer.get());
  set_nonblocking(output.read.get());
  const long rss_before = vm_rss_kib();
  long rss_most = rss_before;
  std::uint64_t sent = 0;
  std::uint64_t printed = 0;
  std::uint64_t most_in_flight = 0;
  int pauses = 0;
  std::vector<char> chunk(256 * kKiB);
  const auto deadline = Clock::now() + kLimit;
  bool reading = true;
  while (printed < total && Clock::now() < deadline) {
    if (run.finished()) {
      // Ended (done, or a part not written): what is left in stdout, then stop.
      for (ssize_t n; (n = ::read(output.read.get(), chunk.data(), chunk.size())) > 0;) {
        long long bad = stream_mismatch(printed, chunk.data(), static_cast<std::size_t>(n));
        ASSERT_EQ(-1, bad) << "stdout differs from what the peer sent at offset " << bad;
        printed += static_cast<std::uint64_t>(n);
      }
      break;
    }
    // Every 8 MiB, stop reading stdout until the peer has been unable to
    // send anything for 50 ms: the pipeline is then as full as it gets.
    if (reading && printed >= static_cast<std::uint64_t>(pauses) * 8 * kMiB) {
      reading = false;
      ++pauses;
    }
    pollfd slots[2] = {{sent < total ? connection.peer.get() : -1, POLLOUT, 0},
                       {reading ? output.read.get() : -1, POLLIN, 0}};
    int ready = check(poll(slots, 2, reading ? 1000 : 50), "poll");
    if (ready == 0 && !reading) {
      most_in_flight = std::max(most_in_flight, sent - printed);
      rss_most = std::max(rss_most, vm_rss_kib());
      reading = true;
      continue;
    }
    if (slots[0].revents) {
      std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(total - sent, 64 * kKiB));
      fill_stream(sent, chunk.data(), size);
      ssize_t n = ::write(connection.peer.get(), chunk.data(), size);
      if (n > 0) sent += static_cast<std::uint64_t>(n);
      most_in_flight = std::max(most_in_flight, sent - printed);
      if (sent - printed > bound) break;  // unbounded: no need to go on
      if (sent == total) check(shutdown(connection.peer.get(), SHUT_WR), "shutdown");
    }
    if (slots[1].revents) {
      ssize_t n = ::read(output.read.get(), chunk.data(), chunk.size());
      if (n > 0) {
        long long bad = stream_mismatch(printed, chunk.data(), static_cast<std::size_t>(n));
        ASSERT_EQ(-1, bad) << "stdout differs from what the peer sent at offset " << bad;
        printed += static_cast<std::uint64_t>(n);
      }
    }
  }
  EXPECT_LE(most_in_flight, bound)
      << "bytes in flight beyond the buffers: the rule is to read a source only while its "
         "buffer has room (watch(); docs/stage3-duplex.md#backpressure-bounded-memory)";
  EXPECT_EQ(total, printed);
  EXPECT_GE(pauses, 4);
  ASSERT_TRUE(run.finished_within(kLimit));
  EXPECT_EQ("returned", outcome(run.error()));
  EXPECT_EQ(total, run.counts().received);
  std::printf("moved %llu MiB; at most %llu KiB in flight (bound %llu KiB); VmRSS %ld -> %ld KiB\n",
              static_cast<unsigned long long>(total / kMiB),
              static_cast<unsigned long long>(most_in_flight / kKiB),
              static_cast<unsigned long long>(bound / kKiB), rss_before, rss_most);
  if (!kSanitized) {
    EXPECT_LT(rss_most - rss_before, 16 * 1024) << "the process grew while moving " << total;
  }
}

}  // namespace
