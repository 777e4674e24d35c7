// common_test.cpp: unit tests of common/, the plumbing every stage shares.
//
// Each piece is tested against the kernel where it can be: Fd against real
// descriptor numbers (fcntl F_GETFD tells whether one is open), write_all
// against a socket that really accepts only part of each write, check()
// against real failing calls, describe() against the addresses a listener
// really reports.
//
// See also: common/*.hpp; tests/support/ for the programs' own tests.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>

#include "address.hpp"
#include "data.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "io.hpp"
#include "number.hpp"
#include "port.hpp"

namespace {

using support::random_bytes;
using support::same_bytes;

bool is_open(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}

// A fresh descriptor number to play with: the read end of a pipe (the
// write end is closed at once).
int new_descriptor() {
  int ends[2];
  if (pipe(ends) == -1) throw std::system_error(errno, std::generic_category(), "pipe");
  close(ends[1]);
  return ends[0];
}

// ---------------------------------------------------------------- Fd

TEST(Fd, IsMoveOnly) {
  static_assert(!std::is_copy_constructible_v<Fd>);
  static_assert(!std::is_copy_assignable_v<Fd>);
  static_assert(std::is_nothrow_move_constructible_v<Fd>);
  static_assert(std::is_nothrow_move_assignable_v<Fd>);
}

TEST(Fd, EmptyByDefault) {
  Fd fd;
  EXPECT_EQ(fd.get(), -1);
  EXPECT_FALSE(fd);
}

TEST(Fd, ClosesWhatItOwnsWhenDestroyed) {
  const int number = new_descriptor();
  {
    Fd fd(number);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), number);
    EXPECT_TRUE(is_open(number));
  }
  EXPECT_FALSE(is_open(number));
}

TEST(Fd, MoveConstructionTransfersOwnershipAndClosesOnce) {
  const int number = new_descriptor();
  auto source = std::make_unique<Fd>(number);
  {
    Fd target(std::move(*source));
    EXPECT_EQ(target.get(), number);
    EXPECT_EQ(source->get(), -1);
    EXPECT_FALSE(*source);
    EXPECT_TRUE(is_open(number));
  }
  EXPECT_FALSE(is_open(number));
  // The number is free again; the next descriptor gets it. Destroying the
  // moved-from source must not close it a second time.
  const int reused = new_descriptor();
  ASSERT_EQ(reused, number);
  source.reset();
  EXPECT_TRUE(is_open(reused));
  close(reused);
}

TEST(Fd, MoveAssignmentClosesTheOldOneAndTakesTheNew) {
  const int first = new_descriptor();
  const int second = new_descriptor();
  Fd target(first);
  {
    Fd source(second);
    target = std::move(source);
    EXPECT_FALSE(is_open(first));
    EXPECT_EQ(target.get(), second);
    EXPECT_EQ(source.get(), -1);
  }
  EXPECT_TRUE(is_open(second));  // the moved-from source closed nothing
  target = Fd();
  EXPECT_FALSE(is_open(second));
  EXPECT_EQ(target.get(), -1);
}

TEST(Fd, SelfMoveAssignmentKeepsTheDescriptor) {
  const int number = new_descriptor();
  Fd fd(number);
  Fd& same = fd;
  fd = std::move(same);
  EXPECT_EQ(fd.get(), number);
  EXPECT_TRUE(is_open(number));
}

TEST(Fd, ReleaseGivesUpOwnership) {
  const int number = new_descriptor();
  {
    Fd fd(number);
    EXPECT_EQ(fd.release(), number);
    EXPECT_EQ(fd.get(), -1);
    EXPECT_FALSE(fd);
  }
  EXPECT_TRUE(is_open(number));
  close(number);
}

TEST(Fd, ResetClosesTheOldOneAndHoldsTheNew) {
  const int first = new_descriptor();
  const int second = new_descriptor();
  Fd fd(first);
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_TRUE(is_open(second));
  EXPECT_EQ(fd.get(), second);
  fd.reset();
  EXPECT_FALSE(is_open(second));
  EXPECT_EQ(fd.get(), -1);
  fd.reset();  // nothing held: nothing closed, nothing fails
  EXPECT_EQ(fd.get(), -1);
}

// ---------------------------------------------------------------- check

TEST(Check, ReturnsTheResultUnlessMinusOne) {
  EXPECT_EQ(check(0, "zero"), 0);
  EXPECT_EQ(check(7, "seven"), 7);
  EXPECT_EQ(check(static_cast<ssize_t>(123456789), "big"), 123456789);
  static_assert(std::is_same_v<decltype(check(ssize_t{1}, "")), ssize_t>);
  // Only -1 is the failure value of POSIX calls.
  EXPECT_EQ(check(-2, "minus two"), -2);
}

TEST(Check, ThrowsAttemptColonStrerrorAndKeepsErrno) {
  errno = ECONNREFUSED;
  try {
    check(-1, "connect to 127.0.0.1 port 9");
    FAIL() << "check(-1) did not throw";
  } catch (const std::system_error& e) {
    EXPECT_STREQ(e.what(), "connect to 127.0.0.1 port 9: Connection refused");
    EXPECT_EQ(e.code(), std::errc::connection_refused);
    EXPECT_EQ(e.code().value(), ECONNREFUSED);
    EXPECT_EQ(errno, ECONNREFUSED);
  }
}

TEST(Check, ReportsARealFailure) {
  try {
    check(close(-1), "close");
    FAIL() << "close(-1) did not fail";
  } catch (const std::system_error& e) {
    EXPECT_STREQ(e.what(), (std::string("close: ") + std::strerror(EBADF)).c_str());
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
  }
}

TEST(UsageErrorTest, IsARuntimeErrorWithTheMessage) {
  static_assert(std::is_base_of_v<std::runtime_error, UsageError>);
  static_assert(!std::is_base_of_v<std::system_error, UsageError>);
  EXPECT_STREQ(UsageError("expected HOST PORT").what(), "expected HOST PORT");
}

// ---------------------------------------------------------------- check_gai

TEST(CheckGai, ZeroIsSuccess) {
  EXPECT_NO_THROW(check_gai(0, "localhost"));
}

TEST(CheckGai, ReportsGaiStrerrorText) {
  for (int code : {EAI_NONAME, EAI_AGAIN, EAI_FAIL, EAI_FAMILY, EAI_SERVICE}) {
    SCOPED_TRACE(code);
    try {
      check_gai(code, "nosuch.invalid");
      ADD_FAILURE() << "check_gai did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("nosuch.invalid: ") + gai_strerror(code));
      EXPECT_EQ(e.code().value(), code);
      EXPECT_EQ(&e.code().category(), &gai_category());
      EXPECT_STREQ(e.code().category().name(), "getaddrinfo");
    }
  }
}

#ifdef __GLIBC__
TEST(CheckGai, NoNameReadsAsGlibcSaysIt) {
  try {
    check_gai(EAI_NONAME, "nosuch.invalid");
    FAIL() << "check_gai did not throw";
  } catch (const std::system_error& e) {
    EXPECT_STREQ(e.what(), "nosuch.invalid: Name or service not known");
  }
}
#endif

TEST(CheckGai, SystemErrorReadsErrno) {
  errno = EMFILE;
  try {
    check_gai(EAI_SYSTEM, "localhost");
    FAIL() << "check_gai did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()), std::string("localhost: ") + std::strerror(EMFILE));
    EXPECT_EQ(e.code(), std::errc::too_many_files_open);
    EXPECT_EQ(&e.code().category(), &std::generic_category());
  }
}

// A real lookup, with no traffic: glibc rejects the empty label of
// "no..such..host" before asking any name server.
TEST(CheckGai, RealLookupOfAnInvalidName) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int code = getaddrinfo("no..such..host", "80", &hints, &found);
  if (code == 0) freeaddrinfo(found);
  ASSERT_NE(code, 0);
  ASSERT_NE(code, EAI_SYSTEM);
  try {
    check_gai(code, "no..such..host");
    FAIL() << "check_gai did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()), std::string("no..such..host: ") + gai_strerror(code));
  }
}

// ---------------------------------------------------------------- write_all

extern "C" void ignore_signal(int) {}

// A socketpair whose buffers are as small as the kernel allows, read slowly
// by a thread that, after every read, interrupts the writing thread with a
// signal (installed without SA_RESTART). A blocking write() then returns
// early, having written part of its buffer, or fails with EINTR: the two
// cases write_all exists for.
class SlowReader {
 public:
  SlowReader() {
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, ends) == -1) throw std::runtime_error("socketpair");
    writer_.reset(ends[0]);
    reader_.reset(ends[1]);
    int small = 4096;
    setsockopt(writer_.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(reader_.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sigaction action {};
    action.sa_handler = ignore_signal;  // no SA_RESTART: interrupted calls return
    sigaction(SIGUSR1, &action, &old_action_);
    thread_ = std::thread(&SlowReader::read_all, this, pthread_self());
  }
  ~SlowReader() {
    writer_.reset();
    if (thread_.joinable()) thread_.join();
    sigaction(SIGUSR1, &old_action_, nullptr);
  }

  int writer() const { return writer_.get(); }
  // Closes the writing end and returns every byte the reader got.
  const std::string& finish() {
    writer_.reset();
    thread_.join();
    return received_;
  }

 private:
  void read_all(pthread_t writer_thread) {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, nullptr);  // the signal is for the writer only
    char buffer[997];  // odd on purpose, so reads and writes never line up
    for (;;) {
      ssize_t got = read(reader_.get(), buffer, sizeof buffer);
      if (got == -1 && errno == EINTR) continue;
      if (got <= 0) return;
      received_.append(buffer, static_cast<std::size_t>(got));
      pthread_kill(writer_thread, SIGUSR1);
      if (++reads_ % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  Fd writer_, reader_;
  std::thread thread_;
  std::string received_;
  long reads_ = 0;
  struct sigaction old_action_ {};
};

// Proves that the rig above really produces short writes and EINTR on this
// system, so that the next test means something.
TEST(WriteAll, TheRigReallyMakesWriteReturnEarly) {
  const std::string data = random_bytes(1 << 20);
  SlowReader rig;
  int partial = 0, interrupted = 0;
  std::size_t sent = 0;
  for (int calls = 0; sent < data.size() && calls < 100000; ++calls) {
    ssize_t written = write(rig.writer(), data.data() + sent, data.size() - sent);
    if (written == -1 && errno == EINTR) {
      ++interrupted;
      continue;
    }
    ASSERT_GT(written, 0) << std::strerror(errno);
    if (static_cast<std::size_t>(written) < data.size() - sent) ++partial;
    sent += static_cast<std::size_t>(written);
  }
  EXPECT_GT(partial, 0) << "no short write; " << interrupted << " interrupted";
  EXPECT_TRUE(same_bytes(data, rig.finish()));
}

TEST(WriteAll, DeliversEveryByteInOrderThroughShortWritesAndEintr) {
  const std::string data = random_bytes(4 << 20, 7);
  SlowReader rig;
  ASSERT_NO_THROW(write_all(rig.writer(), data.data(), data.size(), "write to network"));
  EXPECT_TRUE(same_bytes(data, rig.finish()));
}

TEST(WriteAll, NothingToWriteWritesNothing) {
  // An invalid descriptor would fail any write(): none is attempted.
  EXPECT_NO_THROW(write_all(-1, "", 0, "write to nowhere"));
}

TEST(WriteAll, SmallBufferArrivesWhole) {
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0);
  Fd writer(ends[0]), reader(ends[1]);
  const std::string data("Hello\0World\n", 12);
  write_all(writer.get(), data.data(), data.size(), "write");
  writer.reset();
  char buffer[64];
  std::string received;
  for (ssize_t got; (got = read(reader.get(), buffer, sizeof buffer)) > 0;) {
    received.append(buffer, static_cast<std::size_t>(got));
  }
  EXPECT_EQ(received, data);
}

// A peer that has gone: with SIGPIPE ignored (as every stage does), write()
// fails with EPIPE and write_all reports it, naming the attempt.
TEST(WriteAll, ThrowsOnBrokenPipe) {
  const auto old_handler = std::signal(SIGPIPE, SIG_IGN);
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0);
  Fd writer(ends[0]);
  close(ends[1]);
  const std::string data = random_bytes(100000);
  try {
    write_all(writer.get(), data.data(), data.size(), "write to network");
    ADD_FAILURE() << "write_all did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::broken_pipe);
    EXPECT_EQ(std::string(e.what()), std::string("write to network: ") + std::strerror(EPIPE));
  }
  std::signal(SIGPIPE, old_handler);
}

// ---------------------------------------------------------------- parse_port

TEST(ParsePort, AcceptsDecimalNumbersFrom0To65535) {
  EXPECT_EQ(parse_port("0"), 0);
  EXPECT_EQ(parse_port("1"), 1);
  EXPECT_EQ(parse_port("80"), 80);
  EXPECT_EQ(parse_port("3000"), 3000);
  EXPECT_EQ(parse_port("65535"), 65535);
}

TEST(ParsePort, RejectsEverythingElseWithAReason) {
  const std::string kEmpty = "empty", kTooBig = "greater than 65535",
                    kNotDecimal = "not a decimal number";
  const struct {
    std::string text;
    std::string reason;
  } cases[] = {
      {"", kEmpty},
      {"65536", kTooBig},
      {"70000", kTooBig},
      {"99999999999999999999", kTooBig},  // no overflow back into range
      {"18446744073709551617", kTooBig},  // 2^64 + 1
      {"-1", kNotDecimal},
      {"+1", kNotDecimal},
      {" 1", kNotDecimal},
      {"1 ", kNotDecimal},
      {"1x", kNotDecimal},
      {"x", kNotDecimal},
      {"0x10", kNotDecimal},
      {"3000\n", kNotDecimal},
      {"1.5", kNotDecimal},
      {"http", kNotDecimal},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE("port \"" + test.text + "\"");
    try {
      const auto port = parse_port(test.text);
      ADD_FAILURE() << "accepted as " << port;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()), "invalid port \"" + test.text + "\": " + test.reason);
    }
  }
}

// parse_number is parse_port's engine, also used for other numbers on the
// command line (e.g. -w SECONDS): the same strictness, with its own limit
// and name in the message.
TEST(ParseNumber, UsesItsOwnLimitAndName) {
  EXPECT_EQ(parse_number("0", 3600, "timeout"), 0ul);
  EXPECT_EQ(parse_number("3600", 3600, "timeout"), 3600ul);
  const struct {
    std::string text;
    std::string message;
  } cases[] = {
      {"3601", "invalid timeout \"3601\": greater than 3600"},
      {"", "invalid timeout \"\": empty"},
      {"5s", "invalid timeout \"5s\": not a decimal number"},
      {"-5", "invalid timeout \"-5\": not a decimal number"},
      {"99999999999999999999999", "invalid timeout \"99999999999999999999999\": greater than 3600"},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE("\"" + test.text + "\"");
    try {
      const auto value = parse_number(test.text, 3600, "timeout");
      ADD_FAILURE() << "accepted as " << value;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()), test.message);
    }
  }
}

// Digits are checked before multiplying: one more than the largest
// unsigned long must be refused, not wrapped around to a small number.
TEST(ParseNumber, TheLargestLimitDoesNotOverflow) {
  const unsigned long max = std::numeric_limits<unsigned long>::max();
  EXPECT_EQ(parse_number(std::to_string(max), max, "count"), max);
  // One more than the largest unsigned long: must be refused, not wrapped.
  std::string beyond = std::to_string(max);
  beyond.back() = static_cast<char>(beyond.back() + 1);
  EXPECT_THROW(parse_number(beyond, max, "count"), UsageError);
  EXPECT_THROW(parse_number(beyond + "0", max, "count"), UsageError);
}

// ---------------------------------------------------------------- describe

std::string describe_v4(const char* text, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, text, &address.sin_addr), 1) << text;
  return describe(reinterpret_cast<const sockaddr*>(&address));
}

std::string describe_v6(const char* text, std::uint16_t port) {
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, text, &address.sin6_addr), 1) << text;
  return describe(reinterpret_cast<const sockaddr*>(&address));
}

TEST(Describe, IPv4) {
  EXPECT_EQ(describe_v4("127.0.0.1", 3000), "127.0.0.1 port 3000");
  EXPECT_EQ(describe_v4("0.0.0.0", 0), "0.0.0.0 port 0");
  EXPECT_EQ(describe_v4("255.255.255.255", 65535), "255.255.255.255 port 65535");
  EXPECT_EQ(describe_v4("192.0.2.1", 0x1234), "192.0.2.1 port 4660");  // byte order
}

TEST(Describe, IPv6) {
  EXPECT_EQ(describe_v6("::1", 3000), "::1 port 3000");
  EXPECT_EQ(describe_v6("::", 0), ":: port 0");
  EXPECT_EQ(describe_v6("fe80::1", 65535), "fe80::1 port 65535");
  EXPECT_EQ(describe_v6("2001:db8::8:800:200c:417a", 80), "2001:db8::8:800:200c:417a port 80");
  // The longest text form still fits.
  EXPECT_EQ(describe_v6("1234:5678:9abc:def0:1234:5678:9abc:def0", 443),
            "1234:5678:9abc:def0:1234:5678:9abc:def0 port 443");
}

TEST(Describe, IPv4MappedIPv6IsShownAsPlainIPv4) {
  EXPECT_EQ(describe_v6("::ffff:127.0.0.1", 51234), "127.0.0.1 port 51234");
  EXPECT_EQ(describe_v6("::ffff:255.255.255.255", 1), "255.255.255.255 port 1");
  // Not mapped: the IPv4-compatible form and NAT64 stay IPv6.
  EXPECT_EQ(describe_v6("64:ff9b::c000:201", 80), "64:ff9b::c000:201 port 80");
}

TEST(Describe, WhatAKernelReports) {
  // A dual-stack listener and an IPv4 client: accept() reports the client as
  // ::ffff:127.0.0.1, and describe() shows 127.0.0.1.
  Fd listener(socket(AF_INET6, SOCK_STREAM, 0));
  ASSERT_TRUE(listener);
  int off = 0;
  ASSERT_EQ(setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_any;
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  sockaddr_storage bound{};
  socklen_t size = sizeof bound;
  ASSERT_EQ(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &size), 0);
  const std::uint16_t port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  EXPECT_EQ(describe(reinterpret_cast<sockaddr*>(&bound)), ":: port " + std::to_string(port));

  Fd client(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in server = {};
  server.sin_family = AF_INET;
  server.sin_port = htons(port);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&server), sizeof server), 0);
  sockaddr_storage local{};
  size = sizeof local;
  ASSERT_EQ(getsockname(client.get(), reinterpret_cast<sockaddr*>(&local), &size), 0);
  const std::uint16_t client_port = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);

  sockaddr_storage peer{};
  size = sizeof peer;
  Fd connection(accept(listener.get(), reinterpret_cast<sockaddr*>(&peer), &size));
  ASSERT_TRUE(connection);
  ASSERT_EQ(peer.ss_family, AF_INET6);
  EXPECT_EQ(describe(reinterpret_cast<sockaddr*>(&peer)),
            "127.0.0.1 port " + std::to_string(client_port));
}

TEST(Describe, UnknownFamily) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  EXPECT_EQ(describe(reinterpret_cast<const sockaddr*>(&address)), "? port 0");
}

}  // namespace
