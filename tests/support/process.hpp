// process.hpp: run a built stage program, or a real peer such as nc, as a
// child process; feed its stdin, capture its stdout and stderr, and make sure
// it never outlives the test.
//
// Purpose: the stage tests run the real programs, as a student would, and
// check exact bytes, messages and exit statuses. Every wait here is bounded
// by a deadline. A child still running at a deadline, or when its Process is
// destroyed (a failed ASSERT included), is stopped by its PID: SIGTERM, then
// SIGKILL, then reaped. Nothing is left behind.
//
// Usage:
//   Process bob = Process::start(stage_program("stage1-listen"), {"-v", "-l", "0"});
//   int port = bob.wait_for_listening_port();
//   ... connect, send ...
//   EXPECT_EQ(bob.wait(), Exit::code(0));
//   EXPECT_EQ(bob.stdout_text(), "Hello\n");
//
// See also: peers.hpp (nc, loopback sockets), data.hpp (files, random bytes).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace support {

using Millis = std::chrono::milliseconds;

// Generous, because sanitizer builds start and run slowly; a passing test
// never waits this long.
inline constexpr Millis kStartTimeout{10000};  // until a program listens
inline constexpr Millis kExitTimeout{20000};   // until a program exits

// The path of a built stage program, e.g. stage_program("stage1-listen").
// Grading a student's copy (docs/exercises.md), EXERCISE_BIN_DIR names the
// folder of the copy's program: a program found there is used, and every
// other one (the peers) is still the reference's.
std::string stage_program(std::string_view name);

// Calls `done` every `step` until it returns true (then returns true) or
// until `timeout` has passed (then returns false).
bool eventually(const std::function<bool()>& done, Millis timeout = kStartTimeout,
                Millis step = Millis(5));

// Where a child's standard input comes from.
class Stdin {
 public:
  static Stdin null();                  // /dev/null: end of input at once
  static Stdin file(std::string path);  // the bytes of a file
  static Stdin pipe();                  // what the test writes: Process::write_stdin
  // A pseudo-terminal that stays idle until the test types into it
  // (Process::write_stdin). isatty(0) is true in the child, which leads its
  // own session with this terminal as controlling terminal, so "\x03" sends
  // it SIGINT and "\x04" at the start of a line is end of input. Echo is
  // off, so nothing piles up unread on the test's side.
  static Stdin terminal();

 private:
  friend class Process;
  enum class Kind { kNull, kFile, kPipe, kTerminal };
  Stdin(Kind kind, std::string path) : kind_(kind), path_(std::move(path)) {}
  Kind kind_;
  std::string path_;
};

// Where a child's standard output goes.
class Stdout {
 public:
  // A file: any amount, compared byte for byte. A temporary file (removed
  // with the Process) unless `path` is given.
  static Stdout file(std::string path = {});
  // A pipe the test reads. Every wait on the Process drains it, so the
  // child never blocks on a full pipe; Process::close_stdout() makes the
  // child's next write fail with EPIPE ("stdout went away").
  static Stdout pipe();
  static Stdout null();  // /dev/null
  // A pipe nobody reads, as in `program | sleep 60`, already full when the
  // child starts: its first write() blocks, and poll() never reports room.
  // The read end stays open (no EPIPE) and is never read: stdout_text() is
  // "". The child is blocking on it, as on any stdout a shell hands over.
  static Stdout stalled();

 private:
  friend class Process;
  enum class Kind { kFile, kPipe, kNull, kStalled };
  Stdout(Kind kind, std::string path) : kind_(kind), path_(std::move(path)) {}
  Kind kind_;
  std::string path_;
};

// How a child ended: an exit status, a signal, or still running at the
// deadline (then it was killed). Compare with ==; gtest prints it in words.
class Exit {
 public:
  static Exit code(int status) { return Exit(Kind::kCode, status); }
  static Exit signal(int number) { return Exit(Kind::kSignal, number); }
  static Exit timed_out() { return Exit(Kind::kTimedOut, 0); }
  static Exit from_wait_status(int status);

  bool operator==(const Exit& other) const {
    return kind_ == other.kind_ && value_ == other.value_;
  }
  bool operator!=(const Exit& other) const { return !(*this == other); }
  // "exit status 1", "killed by signal 15 (Terminated)", "timed out (killed)"
  friend std::ostream& operator<<(std::ostream& out, const Exit& exit);

 private:
  enum class Kind { kCode, kSignal, kTimedOut };
  Exit(Kind kind, int value) : kind_(kind), value_(value) {}
  Kind kind_;
  int value_;
};

class Process {
 public:
  // Starts `program` (a path, or a name looked up in PATH) with `args`;
  // argv[0] is `program`. stderr always goes to a temporary file. The child
  // gets the test's environment, with each "NAME=VALUE" of `env` added or
  // replacing NAME's value (e.g. LD_PRELOAD). Throws std::runtime_error if
  // the program cannot be started.
  static Process start(const std::string& program, const std::vector<std::string>& args,
                       Stdin in = Stdin::null(), Stdout out = Stdout::file(),
                       const std::vector<std::string>& env = {});

  Process() = default;  // no child yet: as a Process moved from, or a RoomTest's room
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();  // stops the child if it still runs, removes temporary files

  pid_t pid() const { return pid_; }
  const std::string& program() const { return program_; }

  // Stdin::pipe() or Stdin::terminal() only.
  void write_stdin(std::string_view data);
  // A pipe: end of input. A terminal: hang up (the child gets SIGHUP).
  void close_stdin();
  int stdin_fd() const { return stdin_; }  // -1 unless a pipe or a terminal

  // A file: what it holds now. A pipe: every byte read from it so far.
  std::string stdout_text();
  // Waits until stdout holds at least `size` bytes, the child has exited, or
  // `timeout` has passed; returns stdout_text() then.
  std::string wait_for_stdout(std::size_t size, Millis timeout = kStartTimeout);
  const std::string& stdout_path() const { return stdout_path_; }
  void close_stdout();  // Stdout::pipe() only

  std::string stderr_text() const;
  const std::string& stderr_path() const { return stderr_path_; }
  // Waits until stderr contains `text`; false if the child exited or
  // `timeout` passed first.
  bool wait_for_stderr(std::string_view text, Millis timeout = kStartTimeout);
  // Waits until stderr has a whole line starting with `prefix` and returns
  // its last word as a port number: "listening on :: port 43211" (stage
  // programs with -v), "Listening on 127.0.0.1 43211" (OpenBSD nc -v -l).
  // Throws std::runtime_error, with the stderr seen, if the child exits or
  // `timeout` passes first.
  int wait_for_listening_port(Millis timeout = kStartTimeout,
                              std::string_view prefix = "listening on ");

  // True until the child has exited (and then it is reaped).
  bool running();
  // Waits until the child exits; at the deadline, stops it and returns
  // Exit::timed_out().
  Exit wait(Millis timeout = kExitTimeout);
  // SIGTERM, then SIGKILL if it is still there after a grace period; reaps.
  Exit stop();
  void send_signal(int number);

 private:
  void drain_stdout(Millis wait_at_most);
  void close_all();
  void move_from(Process& other);

  std::string program_;
  pid_t pid_ = -1;
  std::optional<Exit> exit_;
  int stdin_ = -1;    // pipe write end, or terminal master
  int stdout_ = -1;   // pipe read end
  int stalled_ = -1;  // read end of a Stdout::stalled() pipe, held open, never read
  std::string stdout_buffer_;
  std::string stdout_path_, stderr_path_;
  std::vector<std::string> temporary_files_;
};

// What a short-lived program did: how it ended, its stdout and its stderr.
struct Result {
  Exit exit;
  std::string out;
  std::string err;
};

// Runs `program` to its end (killed at `timeout`).
Result run(const std::string& program, const std::vector<std::string>& args,
           Stdin in = Stdin::null(), Millis timeout = kExitTimeout);

// The peak resident size (VmHWM) of a running process, in KiB; 0 if it is
// gone. Read from /proc while the program runs: the ru_maxrss of a reaped
// child would also count the pages of this test process it was forked from.
long peak_rss_kib(pid_t pid);

}  // namespace support
