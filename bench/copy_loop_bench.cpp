// copy_loop_bench.cpp: how fast stage 3's copy loop moves bytes, and what sets the pace.
//
// Purpose: runs duplex() from stage3-duplex/duplex.cpp, the very function
// bin/stage3-duplex runs, over socketpair(AF_UNIX) and TCP loopback
// (127.0.0.1), one way and both ways at once, with buffers from 1 byte to
// 1 MiB. Beside it, at the same sizes, the loops it is measured against:
//   blocking  read() then write() on blocking descriptors, no poll(): the
//             ceiling for a loop that copies through its own buffer. Both
//             ways, it needs a second thread (one per direction).
//   splice    (Linux only, one way) the kernel hands the file's pages to the
//             socket without copying them into a buffer of ours: what a
//             copy loop would save by not being one.
// The loop reads a file held in memory (tmpfs), like `stage3-duplex HOST
// PORT <file`, so no feeder thread competes for the two cores; the
// socket's far end is one thread reading into a discard buffer and, both
// ways, one writing from a preallocated buffer. The loop under test copies
// every byte twice (file to buffer, buffer to socket), the reader once:
// the loop is the bottleneck.
//
// Benchmarks, named TRANSPORT/DIRECTION/WHAT[/BUFFER]:
//   .../duplex/N, .../blocking/N, .../splice/N   one loop: bytes_per_second
//   .../paired/N   duplex and blocking in turns: duplex_ratio, the figure
//                  to trust on a busy machine
//   .../sizes      duplex at 4 KiB ... 1 MiB in turns, each against 128 KiB
// Counters, per MiB moved: syscalls made by the loop, how many were poll(),
// and how often the loop went to sleep (voluntary context switches);
// bytes_per_cpu_second, the loop's own CPU cost. Syscalls are counted on
// Linux only (the linker's --wrap, see bench/CMakeLists.txt); elsewhere 0.
//
// Usage: make bench   (Release build in build-bench/, JSON in bench/results/)
//        build-bench/bin/copy_loop_bench --benchmark_filter='tcp/one_way/.*/131072/'
//
// See also: docs/benchmarks.md, bench/report.py (tables from the JSON),
// bench/peers.sh (whole programs against nc), stage3-duplex/duplex.cpp;
// poll(2), splice(2), socket(7), tcp(7).

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "duplex.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "io.hpp"

namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

// ---------------------------------------------------------------------------
// Syscall counting. CMake links this program with --wrap=read (and write,
// poll, splice) where the linker supports it, so every call to read() made
// by duplex.cpp, io.hpp or this file goes through __wrap_read below, which
// counts it on the calling thread when that thread is being measured.

struct Tally {
  bool on = false;  // only the thread running the loop under test counts
  std::uint64_t calls = 0;
  std::uint64_t polls = 0;
};
thread_local Tally tally;

void count(bool is_poll) {
  if (!tally.on) return;
  ++tally.calls;
  if (is_poll) ++tally.polls;
}

// What the measured threads did: syscalls, polls, voluntary context
// switches (the thread slept: in poll(), or in a blocking read or write),
// and CPU time, which other programs on the machine barely disturb.
struct Usage {
  std::uint64_t calls = 0;
  std::uint64_t polls = 0;
  std::uint64_t sleeps = 0;
  double cpu_seconds = 0;
  Usage& operator+=(const Usage& other) {
    calls += other.calls;
    polls += other.polls;
    sleeps += other.sleeps;
    cpu_seconds += other.cpu_seconds;
    return *this;
  }
};

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

std::uint64_t voluntary_switches() {
#ifdef RUSAGE_THREAD
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return static_cast<std::uint64_t>(usage.ru_nvcsw);
#else
  return 0;  // per-thread figures are Linux only
#endif
}

// Measures the calling thread from construction to destruction, adding
// what it saw to `total` (shared by the threads of one loop).
class Meter {
 public:
  Meter(Usage& total, std::mutex& lock) : total_(total), lock_(lock) {
    tally = Tally{};
    tally.on = true;
    switches_ = voluntary_switches();
    cpu_ = thread_cpu_seconds();
  }
  ~Meter() {
    double cpu = thread_cpu_seconds() - cpu_;
    std::uint64_t sleeps = voluntary_switches() - switches_;
    tally.on = false;
    std::lock_guard<std::mutex> guard(lock_);
    total_ += Usage{tally.calls, tally.polls, sleeps, cpu};
  }
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

 private:
  Usage& total_;
  std::mutex& lock_;
  std::uint64_t switches_ = 0;
  double cpu_ = 0;
};

}  // namespace

#ifdef COUNT_SYSCALLS
extern "C" {
ssize_t __real_read(int fd, void* data, std::size_t size);
ssize_t __real_write(int fd, const void* data, std::size_t size);
int __real_poll(pollfd* slots, nfds_t count, int timeout_ms);
ssize_t __real_splice(int in, loff_t* in_offset, int out, loff_t* out_offset, std::size_t size,
                      unsigned flags);

ssize_t __wrap_read(int fd, void* data, std::size_t size) {
  count(false);
  return __real_read(fd, data, size);
}
ssize_t __wrap_write(int fd, const void* data, std::size_t size) {
  count(false);
  return __real_write(fd, data, size);
}
int __wrap_poll(pollfd* slots, nfds_t count_of_slots, int timeout_ms) {
  count(true);
  return __real_poll(slots, count_of_slots, timeout_ms);
}
ssize_t __wrap_splice(int in, loff_t* in_offset, int out, loff_t* out_offset, std::size_t size,
                      unsigned flags) {
  count(false);
  return __real_splice(in, in_offset, out, out_offset, size, flags);
}
}
#endif

namespace {

// ---------------------------------------------------------------------------
// The data: what each iteration moves, where it comes from, where it goes.

// Bytes moved per iteration and direction: 32 MiB (about 10 ms), scaled
// down for small buffers (4096 buffers' worth), so that a 1-byte buffer,
// which costs a few syscalls per byte, still takes milliseconds.
std::size_t bytes_per_iteration(std::size_t buffer_size) {
  return std::min(32 * kMiB, buffer_size * 4096);
}

// A file of `size` bytes in memory, read by the loop under test as stdin
// would be. tmpfs (/dev/shm) keeps it in RAM and out of the disk's way.
// Unlinked at once: it disappears when the program exits.
int input_file(std::size_t size) {
  static std::map<std::size_t, Fd> files;  // made once per size, reused
  Fd& file = files[size];
  if (file) return file.get();
  struct stat shm {};
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path = stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm"
                     : tmpdir != nullptr                                 ? tmpdir
                                                                         : "/tmp";
  path += "/copy_loop_bench.XXXXXX";
  file.reset(check(mkstemp(path.data()), "mkstemp " + path));
  unlink(path.c_str());
  std::vector<char> chunk(kMiB);
  for (std::size_t i = 0; i < chunk.size(); ++i)
    chunk[i] = static_cast<char>(i * 31 + 7);
  for (std::size_t left = size; left > 0;) {
    std::size_t n = std::min(left, chunk.size());
    write_all(file.get(), chunk.data(), n, "write input file");
    left -= n;
  }
  return file.get();
}

int dev_null() {
  static const Fd null(check(open("/dev/null", O_WRONLY), "open /dev/null"));
  return null.get();
}

// The far end's buffers, allocated and touched once, so that no page fault
// lands inside a measurement.
std::vector<char>& far_buffer(int which) {
  static std::vector<char> buffers[2] = {std::vector<char>(kMiB, 'f'), std::vector<char>(kMiB)};
  return buffers[which];
}

// Far end, receiving: read until end of stream into a discard buffer.
void sink(int fd) {
  std::vector<char>& discard = far_buffer(1);
  for (;;) {
    ssize_t got = read(fd, discard.data(), discard.size());
    if (got == -1 && errno == EINTR) continue;
    if (check(got, "sink read") == 0) return;
  }
}

// Far end, sending: write `size` bytes from a preallocated buffer, then end
// the stream.
void feed(int fd, std::size_t size) {
  const std::vector<char>& data = far_buffer(0);
  for (std::size_t left = size; left > 0;) {
    std::size_t n = std::min(left, data.size());
    write_all(fd, data.data(), n, "feeder write");
    left -= n;
  }
  check(shutdown(fd, SHUT_WR), "feeder shutdown");
}

// A far-end thread; join() passes on what it threw.
class FarEnd {
 public:
  template <typename Work>
  explicit FarEnd(Work work)
      : thread_([this, work] {
          try {
            work();
          } catch (...) {
            failure_ = std::current_exception();
          }
        }) {}
  FarEnd(FarEnd&&) = delete;
  FarEnd& operator=(FarEnd&&) = delete;
  ~FarEnd() { wait(); }

  void wait() {
    if (thread_.joinable()) thread_.join();
  }
  void join() {
    wait();
    if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
  }

 private:
  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once failure_ exists
};

// ---------------------------------------------------------------------------
// The link: the socket given to the loop (`near`) and its peer (`far`).

enum class Transport { kUnix, kTcp };

struct Link {
  Fd near;
  Fd far;
};

// A listening socket on 127.0.0.1, port chosen by the system.
class Listener {
 public:
  Listener() : fd_(check(socket(AF_INET, SOCK_STREAM, 0), "socket")) {
    address_.sin_family = AF_INET;
    address_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address_.sin_port = 0;
    auto* where = reinterpret_cast<sockaddr*>(&address_);
    check(bind(fd_.get(), where, sizeof address_), "bind 127.0.0.1");
    socklen_t size = sizeof address_;
    check(getsockname(fd_.get(), where, &size), "getsockname");
    check(listen(fd_.get(), 16), "listen");
  }

  // connect() then accept(): a fresh TCP connection over loopback.
  Link connect_pair() const {
    Link link;
    link.near.reset(check(socket(AF_INET, SOCK_STREAM, 0), "socket"));
    check(connect(link.near.get(), reinterpret_cast<const sockaddr*>(&address_), sizeof address_),
          "connect 127.0.0.1");
    link.far.reset(check(accept(fd_.get(), nullptr, nullptr), "accept"));
    return link;
  }

 private:
  Fd fd_;
  sockaddr_in address_{};
};

Link make_link(Transport transport, const Listener* listener) {
  if (transport == Transport::kTcp) return listener->connect_pair();
  int ends[2];
  check(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), "socketpair");
  return Link{Fd(ends[0]), Fd(ends[1])};
}

// ---------------------------------------------------------------------------
// The loops. Each copies `input` to `socket` and, both ways, `socket` to
// /dev/null, then ends the stream it sends with shutdown(SHUT_WR).

enum class Loop { kDuplex, kBlocking, kSplice };
enum class Mode { kOneWay, kBothWays };

struct Measured {
  Usage usage;
  std::mutex lock;
};

void run_duplex(int input, int socket, std::size_t buffer_size, Measured& m) {
  Meter meter(m.usage, m.lock);
  DuplexOptions options;
  options.buffer_size = buffer_size;
  Counts counts;
  duplex(input, socket, dev_null(), options, counts);
}

// The plainest copy: wait in read() for data, wait in write() for room.
void copy_blocking(int from, int to, std::size_t buffer_size) {
  std::vector<char> buffer(buffer_size);
  for (;;) {
    ssize_t got = read(from, buffer.data(), buffer.size());
    if (got == -1 && errno == EINTR) continue;
    if (check(got, "blocking read") == 0) return;
    write_all(to, buffer.data(), static_cast<std::size_t>(got), "blocking write");
  }
}

// Blocking both ways needs a thread per direction: a thread waiting in
// write() for room cannot also read what the peer sends (stage 2's lesson).
void run_blocking(int input, int socket, std::size_t buffer_size, Mode mode, Measured& m) {
  std::exception_ptr failure;
  std::thread down;
  if (mode == Mode::kBothWays) {
    down = std::thread([&] {
      try {
        Meter meter(m.usage, m.lock);
        copy_blocking(socket, dev_null(), buffer_size);
      } catch (...) {
        failure = std::current_exception();
      }
    });
  }
  try {
    Meter meter(m.usage, m.lock);
    copy_blocking(input, socket, buffer_size);
    check(shutdown(socket, SHUT_WR), "shutdown");
  } catch (...) {
    shutdown(socket, SHUT_RDWR);  // unblocks the other direction
    if (down.joinable()) down.join();
    throw;
  }
  if (down.joinable()) down.join();
  if (failure) std::rethrow_exception(failure);
}

#ifdef __linux__
// splice(): file to pipe to socket, the pages passed along by reference.
void run_splice(int input, int socket, std::size_t buffer_size, Measured& m) {
  int ends[2];
  check(pipe(ends), "pipe");
  Fd pipe_out(ends[0]), pipe_in(ends[1]);
  // A pipe holds 64 KiB by default; let it hold a whole "buffer".
  fcntl(pipe_in.get(), F_SETPIPE_SZ, static_cast<int>(std::max(buffer_size, std::size_t{4096})));
  Meter meter(m.usage, m.lock);
  for (;;) {
    ssize_t got = check(splice(input, nullptr, pipe_in.get(), nullptr, buffer_size, SPLICE_F_MOVE),
                        "splice from file");
    if (got == 0) break;
    for (auto left = static_cast<std::size_t>(got); left > 0;) {
      left -= static_cast<std::size_t>(check(
          splice(pipe_out.get(), nullptr, socket, nullptr, left, SPLICE_F_MOVE | SPLICE_F_MORE),
          "splice to socket"));
    }
  }
  check(shutdown(socket, SHUT_WR), "shutdown");
}
#endif

// ---------------------------------------------------------------------------
// One run of a loop: a fresh link (TCP: connect and accept), then timed,
// from the far end's threads starting to their last byte, the copy itself.

struct Setup {
  Transport transport;
  Mode mode;
  std::size_t buffer_size;
  std::size_t size;  // bytes per direction
  int input;
  std::unique_ptr<Listener> listener;

  Setup(Transport t, Mode m, std::size_t buffer)
      : transport(t),
        mode(m),
        buffer_size(buffer),
        size(bytes_per_iteration(buffer)),
        input(input_file(size)),
        listener(t == Transport::kTcp ? std::make_unique<Listener>() : nullptr) {}

  std::size_t bytes() const { return mode == Mode::kBothWays ? 2 * size : size; }
};

// Seconds taken to move setup.bytes() with `loop`.
double run_once(const Setup& setup, Loop loop, Measured& measured) {
  check(lseek(setup.input, 0, SEEK_SET), "lseek");
  Link link = make_link(setup.transport, setup.listener.get());
  // One way: the far end sends nothing, and says so at once.
  if (setup.mode == Mode::kOneWay) check(shutdown(link.far.get(), SHUT_WR), "shutdown far end");
  const int far = link.far.get();
  const int near = link.near.get();
  const std::size_t size = setup.size;

  const auto start = std::chrono::steady_clock::now();
  FarEnd receiver([far] { sink(far); });
  std::optional<FarEnd> sender;
  if (setup.mode == Mode::kBothWays) sender.emplace([far, size] { feed(far, size); });
  try {
    switch (loop) {
      case Loop::kDuplex: run_duplex(setup.input, near, setup.buffer_size, measured); break;
      case Loop::kBlocking:
        run_blocking(setup.input, near, setup.buffer_size, setup.mode, measured);
        break;
      case Loop::kSplice:
#ifdef __linux__
        run_splice(setup.input, near, setup.buffer_size, measured);
#endif
        break;
    }
  } catch (...) {
    shutdown(near, SHUT_RDWR);  // the far end's threads see the end
    receiver.wait();
    if (sender) sender->wait();
    throw;
  }
  receiver.join();
  if (sender) sender->join();
  const auto stop = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(stop - start).count();
}

double median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

// The counters that tell why: per MiB moved, syscalls, polls and sleeps;
// and the bytes moved per second of CPU spent by the loop's own thread(s),
// which other programs on the machine disturb far less than elapsed time.
void report_usage(benchmark::State& state, const std::string& prefix, const Usage& usage,
                  double bytes) {
  const double mib = bytes / kMiB;
  state.counters[prefix + "syscalls_per_MiB"] = static_cast<double>(usage.calls) / mib;
  state.counters[prefix + "polls_per_MiB"] = static_cast<double>(usage.polls) / mib;
  state.counters[prefix + "sleeps_per_MiB"] = static_cast<double>(usage.sleeps) / mib;
  state.counters[prefix + "bytes_per_cpu_second"] = bytes / usage.cpu_seconds;
}

// One loop at one buffer size: bytes_per_second is its throughput.
void copy_benchmark(benchmark::State& state, Transport transport, Mode mode, Loop loop) {
  Measured measured;
  try {
    const Setup setup(transport, mode, static_cast<std::size_t>(state.range(0)));
    for (auto _ : state)
      state.SetIterationTime(run_once(setup, loop, measured));
    const auto bytes = static_cast<std::int64_t>(setup.bytes()) * state.iterations();
    state.SetBytesProcessed(bytes);
    report_usage(state, "", measured.usage, static_cast<double>(bytes));
    state.counters["buffer_bytes"] = static_cast<double>(setup.buffer_size);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// duplex and blocking in turns, each run right next to the other, so that
// whatever else the machine does falls on both alike: the ratio to trust on
// a busy machine. An iteration is kPairs pairs, in alternating order (DB,
// BD, DB ...); `duplex_ratio` is the median over its pairs of duplex's
// throughput over blocking's (the median over repetitions then comes from
// Google Benchmark). The iteration time is the time of all the runs.
constexpr int kPairs = 8;

void paired_benchmark(benchmark::State& state, Transport transport, Mode mode) {
  Measured duplex_measured, blocking_measured;
  double duplex_seconds = 0, blocking_seconds = 0;
  std::vector<double> ratios;
  try {
    const Setup setup(transport, mode, static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
      double iteration_seconds = 0;
      for (int pair = 0; pair < kPairs; ++pair) {
        double d = 0, b = 0;
        if (pair % 2 == 0) {
          d = run_once(setup, Loop::kDuplex, duplex_measured);
          b = run_once(setup, Loop::kBlocking, blocking_measured);
        } else {
          b = run_once(setup, Loop::kBlocking, blocking_measured);
          d = run_once(setup, Loop::kDuplex, duplex_measured);
        }
        duplex_seconds += d;
        blocking_seconds += b;
        iteration_seconds += d + b;
        ratios.push_back(b / d);  // throughput ratio: same bytes, inverse times
      }
      state.SetIterationTime(iteration_seconds);
    }
    const double bytes = static_cast<double>(setup.bytes()) * static_cast<double>(ratios.size());
    state.SetBytesProcessed(static_cast<std::int64_t>(2 * bytes));
    state.counters["duplex_ratio"] = median(ratios);
    state.counters["duplex_cpu_ratio"] =
        blocking_measured.usage.cpu_seconds / duplex_measured.usage.cpu_seconds;
    state.counters["duplex_bytes_per_second"] = bytes / duplex_seconds;
    state.counters["blocking_bytes_per_second"] = bytes / blocking_seconds;
    report_usage(state, "duplex_", duplex_measured.usage, bytes);
    report_usage(state, "blocking_", blocking_measured.usage, bytes);
    state.counters["buffer_bytes"] = static_cast<double>(setup.buffer_size);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// duplex alone, at each buffer size from 4 KiB to 1 MiB in turns, four
// passes per iteration (forward, backward, forward, backward), each size
// compared in the same pass with stage 3's default (DuplexOptions, 128 KiB
// today): which size pays, measured so that the machine's slow spells fall
// on every size alike. Counters: `speed_at_N`, throughput with N bytes over
// throughput with the default, and `cpu_at_N`, bytes per CPU-second
// likewise (medians over passes); `reference_buffer_bytes`, the default.
const std::size_t kRotation[] = {4 * kKiB,   8 * kKiB,   16 * kKiB,  32 * kKiB, 64 * kKiB,
                                 128 * kKiB, 256 * kKiB, 512 * kKiB, kMiB};

// Where stage 3's default is in kRotation (128 KiB if it is not there).
std::size_t rotation_reference() {
  const std::size_t* begin = std::begin(kRotation);
  const std::size_t* end = std::end(kRotation);
  const std::size_t* found = std::find(begin, end, DuplexOptions{}.buffer_size);
  if (found == end) found = std::find(begin, end, 128 * kKiB);
  return static_cast<std::size_t>(found - begin);
}

void sizes_benchmark(benchmark::State& state, Transport transport, Mode mode) {
  constexpr std::size_t n = std::size(kRotation);
  const std::size_t reference = rotation_reference();
  std::vector<double> speed_ratios[n], cpu_ratios[n];
  try {
    std::vector<std::unique_ptr<Setup>> setups;
    for (std::size_t size : kRotation)
      setups.push_back(std::make_unique<Setup>(transport, mode, size));
    for (auto _ : state) {
      double iteration_seconds = 0;
      for (bool backward : {false, true, false, true}) {
        double speed[n], cpu[n];
        for (std::size_t k = 0; k < n; ++k) {
          const std::size_t i = backward ? n - 1 - k : k;
          Measured measured;
          const double seconds = run_once(*setups[i], Loop::kDuplex, measured);
          const auto bytes = static_cast<double>(setups[i]->bytes());
          speed[i] = bytes / seconds;
          cpu[i] = bytes / measured.usage.cpu_seconds;
          iteration_seconds += seconds;
        }
        for (std::size_t i = 0; i < n; ++i) {
          speed_ratios[i].push_back(speed[i] / speed[reference]);
          cpu_ratios[i].push_back(cpu[i] / cpu[reference]);
        }
      }
      state.SetIterationTime(iteration_seconds);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::string size = std::to_string(kRotation[i]);
      state.counters["speed_at_" + size] = median(speed_ratios[i]);
      state.counters["cpu_at_" + size] = median(cpu_ratios[i]);
    }
    state.counters["reference_buffer_bytes"] = static_cast<double>(kRotation[reference]);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Buffer sizes: powers of 4 from 1 byte to 1 MiB, plus the powers of 2
// between 16 KiB and 1 MiB, where the curve bends (128 KiB is stage 3's).
const std::size_t kSizes[] = {1,          4,          16,         64,        256,
                              kKiB,       4 * kKiB,   16 * kKiB,  32 * kKiB, 64 * kKiB,
                              128 * kKiB, 256 * kKiB, 512 * kKiB, kMiB};

void register_benchmarks() {
  const std::pair<Transport, const char*> transports[] = {{Transport::kUnix, "unix"},
                                                          {Transport::kTcp, "tcp"}};
  const std::pair<Mode, const char*> modes[] = {{Mode::kOneWay, "one_way"},
                                                {Mode::kBothWays, "both_ways"}};
  const std::pair<Loop, const char*> loops[] = {
      {Loop::kDuplex, "duplex"}, {Loop::kBlocking, "blocking"}, {Loop::kSplice, "splice"}};
  for (const auto& [transport, transport_name] : transports) {
    for (const auto& [mode, mode_name] : modes) {
      for (const auto& [loop, loop_name] : loops) {
#ifndef __linux__
        if (loop == Loop::kSplice) continue;
#endif
        if (loop == Loop::kSplice && mode == Mode::kBothWays) continue;
        const std::string name = std::string(transport_name) + "/" + mode_name + "/" + loop_name;
        auto* b = benchmark::RegisterBenchmark(name.c_str(), copy_benchmark, transport, mode, loop);
        for (std::size_t size : kSizes)
          b->Arg(static_cast<std::int64_t>(size));
        b->UseManualTime()->Unit(benchmark::kMillisecond);
      }
      const std::string prefix = std::string(transport_name) + "/" + mode_name;
      auto* b = benchmark::RegisterBenchmark((prefix + "/paired").c_str(), paired_benchmark,
                                             transport, mode);
      for (std::size_t size : kSizes)
        b->Arg(static_cast<std::int64_t>(size));
      b->UseManualTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark((prefix + "/sizes").c_str(), sizes_benchmark, transport, mode)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A far end that has gone away must show as an error, not kill the run.
  std::signal(SIGPIPE, SIG_IGN);
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
