// process.cpp: fork, exec, redirect, wait with deadlines, stop by PID.
//
// Everything the child needs (paths, argv, descriptors) is prepared before
// fork(), so the child only calls async-signal-safe functions until exec.
// Every descriptor the parent opens is close-on-exec, and the child closes
// any other it inherited: a stray copy of a pipe's write end in some child
// would keep another child from ever seeing end of input.

#include "process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "data.hpp"  // lines_of()

extern char** environ;  // the environment (declared by unistd.h on some systems only)

namespace support {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int cloexec(int fd) {
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// A test runner may start us with 0, 1 or 2 closed (CI has no stdin). Then
// open() would hand out those numbers, and the dup2() calls in the child
// would overwrite one redirection with another. Fill them once.
void keep_standard_descriptors_open() {
  static const bool done = [] {
    for (int fd = 0; fd <= 2; ++fd) {
      if (fcntl(fd, F_GETFD) == -1) open("/dev/null", O_RDWR);
    }
    return true;
  }();
  (void)done;
}

// Writing to a child that has exited must fail with EPIPE, not kill the
// test; the child gets SIGPIPE back to its default before exec.
void ignore_sigpipe() {
  std::signal(SIGPIPE, SIG_IGN);
}

std::string temporary_file(const char* what) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/nc-test-" + what + "-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd == -1) fail("mkstemp " + path);
  ::close(fd);
  return path;
}

// The descriptors open in this process above 2, listed before fork().
std::vector<int> open_descriptors() {
  std::vector<int> fds;
  if (DIR* dir = opendir("/dev/fd")) {
    const int own = dirfd(dir);
    while (const dirent* entry = readdir(dir)) {
      int fd = std::atoi(entry->d_name);
      if (fd > 2 && fd != own) fds.push_back(fd);
    }
    closedir(dir);
  } else {
    for (int fd = 3; fd < 1024; ++fd) {
      if (fcntl(fd, F_GETFD) != -1) fds.push_back(fd);
    }
  }
  return fds;
}

// This process's environment, with each "NAME=VALUE" of `changes` added or
// replacing NAME's value.
std::vector<std::string> environment_with(const std::vector<std::string>& changes) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry)
    entries.emplace_back(*entry);
  for (const std::string& change : changes) {
    const std::string name = change.substr(0, change.find('=') + 1);  // "NAME="
    if (name.size() < 2) throw std::invalid_argument("not NAME=VALUE: " + change);
    auto same_name = [&](const std::string& entry) { return entry.rfind(name, 0) == 0; };
    entries.erase(std::remove_if(entries.begin(), entries.end(), same_name), entries.end());
    entries.push_back(change);
  }
  return entries;
}

// Writes into the pipe whose write end is `fd` until it takes no more, then
// makes `fd` blocking again. A non-blocking write() takes what fits, so the
// EAGAIN that ends the loop means not one more byte fits.
void fill_pipe(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) fail("fcntl");
  const std::string block(65536, 's');
  for (int writes = 0; writes < 4096; ++writes) {  // bounded: at most 256 MiB
    if (::write(fd, block.data(), block.size()) == -1 && errno != EINTR) break;
  }
  if (errno != EAGAIN && errno != EWOULDBLOCK) fail("fill a pipe");
  if (fcntl(fd, F_SETFL, flags) == -1) fail("fcntl");
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string stage_program(std::string_view name) {
  const char* exercise = std::getenv("EXERCISE_BIN_DIR");
  if (exercise != nullptr && *exercise != '\0') {
    std::string path = std::string(exercise) + "/" + std::string(name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return BIN_DIR "/" + std::string(name);
}

bool eventually(const std::function<bool()>& done, Millis timeout, Millis step) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

Stdin Stdin::null() {
  return Stdin(Kind::kNull, {});
}
Stdin Stdin::file(std::string path) {
  return Stdin(Kind::kFile, std::move(path));
}
Stdin Stdin::pipe() {
  return Stdin(Kind::kPipe, {});
}
Stdin Stdin::terminal() {
  return Stdin(Kind::kTerminal, {});
}

Stdout Stdout::file(std::string path) {
  return Stdout(Kind::kFile, std::move(path));
}
Stdout Stdout::pipe() {
  return Stdout(Kind::kPipe, {});
}
Stdout Stdout::null() {
  return Stdout(Kind::kNull, {});
}
Stdout Stdout::stalled() {
  return Stdout(Kind::kStalled, {});
}

Exit Exit::from_wait_status(int status) {
  if (WIFSIGNALED(status)) return signal(WTERMSIG(status));
  return code(WEXITSTATUS(status));
}

std::ostream& operator<<(std::ostream& out, const Exit& exit) {
  switch (exit.kind_) {
    case Exit::Kind::kCode: return out << "exit status " << exit.value_;
    case Exit::Kind::kSignal:
      return out << "killed by signal " << exit.value_ << " (" << strsignal(exit.value_) << ")";
    case Exit::Kind::kTimedOut: return out << "still running at the deadline (killed)";
  }
  return out;
}

Process Process::start(const std::string& program, const std::vector<std::string>& args, Stdin in,
                       Stdout out, const std::vector<std::string>& env) {
  keep_standard_descriptors_open();
  ignore_sigpipe();
  Process process;
  process.program_ = program;

  // The child's ends, closed in the parent once the child has them.
  int child_in = -1, child_out = -1, child_err = -1;
  bool terminal = false;
  struct Cleanup {
    int* fds[3];
    ~Cleanup() {
      for (int* fd : fds)
        close_fd(*fd);
    }
  } cleanup{{&child_in, &child_out, &child_err}};

  switch (in.kind_) {
    case Stdin::Kind::kNull: child_in = cloexec(open("/dev/null", O_RDONLY)); break;
    case Stdin::Kind::kFile:
      child_in = cloexec(open(in.path_.c_str(), O_RDONLY));
      if (child_in == -1) fail("open " + in.path_);
      break;
    case Stdin::Kind::kPipe: {
      int ends[2];
      if (::pipe(ends) == -1) fail("pipe");
      child_in = cloexec(ends[0]);
      process.stdin_ = cloexec(ends[1]);
      break;
    }
    case Stdin::Kind::kTerminal: {
      terminal = true;
      process.stdin_ = cloexec(posix_openpt(O_RDWR | O_NOCTTY));
      if (process.stdin_ == -1) fail("posix_openpt");
      if (grantpt(process.stdin_) == -1 || unlockpt(process.stdin_) == -1) fail("grantpt");
      const char* name = ptsname(process.stdin_);
      if (name == nullptr) fail("ptsname");
      child_in = cloexec(open(name, O_RDWR | O_NOCTTY));
      if (child_in == -1) fail(std::string("open ") + name);
      termios settings{};
      if (tcgetattr(child_in, &settings) == 0) {
        settings.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
        tcsetattr(child_in, TCSANOW, &settings);
      }
      break;
    }
  }

  switch (out.kind_) {
    case Stdout::Kind::kFile:
      process.stdout_path_ = out.path_;
      if (process.stdout_path_.empty()) {
        process.stdout_path_ = temporary_file("stdout");
        process.temporary_files_.push_back(process.stdout_path_);
      }
      child_out = cloexec(open(process.stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
      if (child_out == -1) fail("open " + process.stdout_path_);
      break;
    case Stdout::Kind::kPipe: {
      int ends[2];
      if (::pipe(ends) == -1) fail("pipe");
      process.stdout_ = cloexec(ends[0]);
      child_out = cloexec(ends[1]);
      break;
    }
    case Stdout::Kind::kNull: child_out = cloexec(open("/dev/null", O_WRONLY)); break;
    case Stdout::Kind::kStalled: {
      int ends[2];
      if (::pipe(ends) == -1) fail("pipe");
      process.stalled_ = cloexec(ends[0]);
      child_out = cloexec(ends[1]);
      fill_pipe(child_out);
      break;
    }
  }

  process.stderr_path_ = temporary_file("stderr");
  process.temporary_files_.push_back(process.stderr_path_);
  child_err = cloexec(open(process.stderr_path_.c_str(), O_WRONLY | O_TRUNC));
  if (child_err == -1) fail("open " + process.stderr_path_);

  // exec() closes the write end (close-on-exec); if exec fails, the child
  // writes its errno there instead.
  int report[2];
  if (::pipe(report) == -1) fail("pipe");
  cloexec(report[0]);
  cloexec(report[1]);

  std::vector<std::string> words;
  words.push_back(program);
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& word : words)
    argv.push_back(word.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment = environment_with(env);
  std::vector<char*> envp;
  for (std::string& entry : environment)
    envp.push_back(entry.data());
  envp.push_back(nullptr);
  const std::vector<int> inherited = open_descriptors();

  const pid_t pid = fork();
  if (pid == -1) {
    ::close(report[0]);
    ::close(report[1]);
    fail("fork");
  }
  if (pid == 0) {
    // The child: async-signal-safe calls only, until exec.
    if (terminal) {
      setsid();  // a session of its own, whose controlling terminal is child_in
      ioctl(child_in, TIOCSCTTY, 0);
    }
    dup2(child_in, STDIN_FILENO);
    dup2(child_out, STDOUT_FILENO);
    dup2(child_err, STDERR_FILENO);
    for (int fd : inherited) {
      if (fd != report[1]) ::close(fd);
    }
    // Signals as a terminal's foreground gives them: a test run in the
    // background of a shell (or by a grader started so) inherits SIGINT
    // and SIGQUIT ignored, and Ctrl-C would then stop nothing.
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGQUIT, &action, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    environ = envp.data();  // what execvp passes on; a plain assignment, safe here
    execvp(argv[0], argv.data());
    int error = errno;
    ssize_t ignored = ::write(report[1], &error, sizeof error);
    (void)ignored;
    _exit(127);
  }

  process.pid_ = pid;
  ::close(report[1]);
  int error = 0;
  pollfd ready{report[0], POLLIN, 0};
  ssize_t got = 0;
  if (poll(&ready, 1, static_cast<int>(kStartTimeout.count())) == 1) {
    do {
      got = ::read(report[0], &error, sizeof error);
    } while (got == -1 && errno == EINTR);
  }
  ::close(report[0]);
  if (got > 0) {
    process.wait(kStartTimeout);
    throw std::runtime_error("cannot run " + program + ": " + std::strerror(error));
  }
  return process;
}

void Process::move_from(Process& other) {
  program_ = std::move(other.program_);
  pid_ = std::exchange(other.pid_, -1);
  exit_ = std::exchange(other.exit_, std::nullopt);
  stdin_ = std::exchange(other.stdin_, -1);
  stdout_ = std::exchange(other.stdout_, -1);
  stalled_ = std::exchange(other.stalled_, -1);
  stdout_buffer_ = std::move(other.stdout_buffer_);
  stdout_path_ = std::move(other.stdout_path_);
  stderr_path_ = std::move(other.stderr_path_);
  temporary_files_ = std::move(other.temporary_files_);
  other.temporary_files_.clear();
}

Process::Process(Process&& other) noexcept {
  move_from(other);
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    close_all();
    move_from(other);
  }
  return *this;
}

Process::~Process() {
  close_all();
}

void Process::close_all() {
  if (pid_ > 0 && !exit_) stop();
  close_fd(stdin_);
  close_fd(stdout_);
  close_fd(stalled_);
  for (const std::string& path : temporary_files_)
    ::unlink(path.c_str());
  temporary_files_.clear();
  pid_ = -1;
}

void Process::write_stdin(std::string_view data) {
  if (stdin_ < 0) throw std::logic_error("write_stdin: stdin is not a pipe or a terminal");
  while (!data.empty()) {
    ssize_t written = ::write(stdin_, data.data(), data.size());
    if (written == -1 && errno == EINTR) continue;
    if (written == -1) fail("write to the stdin of " + program_);
    data.remove_prefix(static_cast<std::size_t>(written));
  }
}

void Process::close_stdin() {
  close_fd(stdin_);
}

void Process::close_stdout() {
  drain_stdout(Millis(0));
  close_fd(stdout_);
}

// Reads whatever the stdout pipe holds into stdout_buffer_, waiting at most
// `wait_at_most` for the first byte; otherwise just sleeps that long, so
// that every wait loop also keeps the pipe from filling up.
void Process::drain_stdout(Millis wait_at_most) {
  if (stdout_ < 0) {
    if (wait_at_most.count() > 0) std::this_thread::sleep_for(wait_at_most);
    return;
  }
  int timeout = static_cast<int>(wait_at_most.count());
  char buffer[65536];
  // Bounded: stop after 64 reads (4 MiB); the next call goes on.
  for (int reads = 0; reads < 64; ++reads) {
    pollfd ready{stdout_, POLLIN, 0};
    int events = poll(&ready, 1, timeout);
    if (events == -1 && errno == EINTR) continue;
    if (events != 1) return;
    timeout = 0;
    ssize_t got = ::read(stdout_, buffer, sizeof buffer);
    if (got == -1 && errno == EINTR) continue;
    if (got <= 0) {  // end of file: every writer has closed it
      close_fd(stdout_);
      return;
    }
    stdout_buffer_.append(buffer, static_cast<std::size_t>(got));
  }
}

std::string Process::stdout_text() {
  if (!stdout_path_.empty()) return read_whole_file(stdout_path_);
  drain_stdout(Millis(0));
  return stdout_buffer_;
}

std::string Process::wait_for_stdout(std::size_t size, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string text = stdout_text();
    if (text.size() >= size || Clock::now() >= deadline) return text;
    if (!running()) return stdout_text();
    drain_stdout(Millis(5));
  }
}

std::string Process::stderr_text() const {
  return read_whole_file(stderr_path_);
}

bool Process::wait_for_stderr(std::string_view text, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (stderr_text().find(text) != std::string::npos) return true;
    if (!running()) return stderr_text().find(text) != std::string::npos;
    if (Clock::now() >= deadline) return false;
    drain_stdout(Millis(5));
  }
}

int Process::wait_for_listening_port(Millis timeout, std::string_view prefix) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const bool alive = running();  // before reading, so no line is missed
    const std::string text = stderr_text();
    // Whole lines only: the last one may still be half written.
    for (const std::string& line : lines_of(text)) {
      if (line.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string word = line.substr(line.find_last_of(' ') + 1);
      char* rest = nullptr;
      const long port = std::strtol(word.c_str(), &rest, 10);
      if (!word.empty() && *rest == '\0' && port > 0 && port <= 65535) {
        return static_cast<int>(port);
      }
    }
    std::ostringstream why;
    if (!alive) {
      why << program_ << " ended (" << *exit_ << ") before \"" << prefix << "...\"";
    } else if (Clock::now() >= deadline) {
      why << program_ << " printed no \"" << prefix << "...\" line in " << timeout.count() << " ms";
    } else {
      drain_stdout(Millis(5));
      continue;
    }
    why << "; its stderr:\n" << text;
    throw std::runtime_error(why.str());
  }
}

bool Process::running() {
  if (exit_) return false;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == 0) return true;
  exit_ = done == pid_ ? Exit::from_wait_status(status) : Exit::code(-1);
  drain_stdout(Millis(0));
  return false;
}

Exit Process::wait(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) {
      stop();
      return Exit::timed_out();
    }
    drain_stdout(Millis(5));
  }
  return *exit_;
}

void Process::send_signal(int number) {
  if (running()) ::kill(pid_, number);
}

Exit Process::stop() {
  if (!running()) return exit_ ? *exit_ : Exit::code(-1);
  ::kill(pid_, SIGTERM);
  const auto grace = Clock::now() + Millis(2000);
  while (running() && Clock::now() < grace)
    drain_stdout(Millis(5));
  if (running()) {
    ::kill(pid_, SIGKILL);
    const auto last = Clock::now() + Millis(5000);
    while (running() && Clock::now() < last)
      drain_stdout(Millis(5));
  }
  if (!exit_) {
    std::fprintf(stderr, "warning: could not reap %s (pid %d)\n", program_.c_str(),
                 static_cast<int>(pid_));
    return Exit::timed_out();
  }
  return *exit_;
}

Result run(const std::string& program, const std::vector<std::string>& args, Stdin in,
           Millis timeout) {
  Process process = Process::start(program, args, std::move(in), Stdout::pipe());
  Exit exit = process.wait(timeout);
  return Result{exit, process.stdout_text(), process.stderr_text()};
}

long peak_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

}  // namespace support
