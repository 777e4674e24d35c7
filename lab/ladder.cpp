// lab-ladder: capture the packets of one host, and draw them as a ladder.
//
// Purpose: the lab (run.sh) shows every packet the stage programs cause.
// tcpdump would do, but not everywhere: as an ordinary user inside a user
// namespace (unshare -r), Debian's tcpdump refuses to start, because it
// always drops its privileges and setgroups() is denied there. This tool
// needs nothing but a packet socket (AF_PACKET), which root of the lab's
// namespaces may open, so the lab draws the same ladder as root and as a
// student without sudo. It writes ordinary pcap files, which tcpdump -r
// and Wireshark read, and it reads tcpdump's files too.
//
// Linux only, and not a lesson: the stages are the lessons (see packet.hpp
// for the decoding).
//
// Usage: lab-ladder [-A] [-i INTERFACE] [-n HOSTS]       live: a rung per packet
//        lab-ladder [-i INTERFACE] -w FILE               record to FILE (pcap)
//        lab-ladder [-A] [-n HOSTS] -r FILE              the ladder of FILE
//   -A: each TCP segment's data under its rung, as text (what a browser sends)
//   e.g. in a lab host (make lab-shell HOST=alice):  lab-ladder -i eth0
//   Build: c++ -std=c++17 -Wall -Wextra -O2 lab/ladder.cpp lab/packet.cpp -o bin/lab-ladder
//
// See also: packet.hpp, run.sh, docs/lab.md; packet(7), pcap-savefile(5),
// tcpdump(8).

#include <arpa/inet.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "packet.hpp"

namespace {

const char kUsage[] =
    "usage: lab-ladder [-A] [-i INTERFACE] [-n HOSTS] [-w FILE]\n"
    "       lab-ladder [-A] [-n HOSTS] -r FILE\n"
    "  -i INTERFACE  capture on INTERFACE only (default: every one but lo)\n"
    "  -w FILE       write the packets to FILE (pcap, for -r or tcpdump -r)\n"
    "  -r FILE       draw the ladder of FILE (this tool's or tcpdump -w's)\n"
    "  -n HOSTS      names for addresses, a hosts file (default /etc/hosts)\n"
    "  -A            after each TCP rung, its data as text, line by line\n"
    "  -h, --help    show this help\n"
    "Capturing needs root, or root of a user namespace (the lab's hosts).\n";

struct Options {
  std::string interface, hosts = "/etc/hosts", write, read;
  bool help = false, data = false;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int check(int result, const std::string& attempt) {
  if (result == -1) throw std::system_error(errno, std::generic_category(), attempt);
  return result;
}

Options parse_args(int argc, char* argv[]) {
  static const option kLongOptions[] = {{"help", no_argument, nullptr, 'h'}, {}};
  Options options;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hAi:n:w:r:", kLongOptions, nullptr)) != -1;) {
    switch (c) {
      case 'h': options.help = true; break;
      case 'A': options.data = true; break;
      case 'i': options.interface = optarg; break;
      case 'n': options.hosts = optarg; break;
      case 'w': options.write = optarg; break;
      case 'r': options.read = optarg; break;
      case ':': throw UsageError(std::string("option -") + char(optopt) + " needs a value");
      default: throw UsageError(std::string("unknown option -") + char(optopt));
    }
  }
  if (optind != argc) throw UsageError(std::string("unexpected \"") + argv[optind] + "\"");
  if (!options.read.empty() && (!options.write.empty() || !options.interface.empty())) {
    throw UsageError("-r reads a file: no -i or -w with it");
  }
  return options;
}

// ---- pcap files (pcap-savefile(5)): a file header, then a header per packet.

struct FileHeader {
  std::uint32_t magic = 0xa1b2c3d4;  // microseconds, in this machine's byte order
  std::uint16_t major = 2, minor = 4;
  std::int32_t zone = 0;
  std::uint32_t accuracy = 0, snap_length = 65535, linktype = kLinktypeSll;
};

struct RecordHeader {
  std::uint32_t seconds, fraction, kept, length;
};

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

File open_file(const std::string& path, const char* mode) {
  FILE* file = std::fopen(path.c_str(), mode);
  if (file == nullptr) throw std::system_error(errno, std::generic_category(), path);
  return File(file, std::fclose);
}

std::uint32_t swapped(std::uint32_t value) {
  return __builtin_bswap32(value);
}

// Draws the ladder of a pcap file, in either byte order, micro- or
// nanosecond timestamps.
void draw_file(const Options& options) {
  File file = open_file(options.read, "rb");
  FileHeader header;
  if (std::fread(&header, sizeof header, 1, file.get()) != 1) {
    throw std::runtime_error(options.read + ": not a pcap file (too short)");
  }
  bool swap = header.magic == 0xd4c3b2a1 || header.magic == 0x4d3cb2a1;
  std::uint32_t magic = swap ? swapped(header.magic) : header.magic;
  if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
    throw std::runtime_error(options.read + ": not a pcap file (pcapng? tcpdump -w writes pcap)");
  }
  double unit = magic == 0xa1b23c4d ? 1e-9 : 1e-6;
  std::uint32_t linktype = swap ? swapped(header.linktype) : header.linktype;
  Ladder ladder(read_hosts(options.hosts));
  ladder.show_data(options.data);
  std::vector<std::uint8_t> frame;
  for (RecordHeader record; std::fread(&record, sizeof record, 1, file.get()) == 1;) {
    std::uint32_t kept = swap ? swapped(record.kept) : record.kept;
    if (kept > (1u << 18)) throw std::runtime_error(options.read + ": damaged record");
    frame.resize(kept);
    if (std::fread(frame.data(), 1, kept, file.get()) != kept) break;  // cut short: done
    double time = (swap ? swapped(record.seconds) : record.seconds) +
                  (swap ? swapped(record.fraction) : record.fraction) * unit;
    if (auto packet = parse_frame(linktype, frame.data(), kept, time)) {
      std::cout << ladder.draw(*packet);
    }
  }
}

// ---- capture

volatile std::sig_atomic_t stopping = 0;

void stop(int) {
  stopping = 1;
}

// A packet socket receives every frame of this network namespace, without
// its link-layer header (SOCK_DGRAM): sockaddr_ll tells the interface, the
// protocol and the direction, which the Linux "cooked" header records.
int open_capture(const Options& options) {
  int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
  if (fd == -1 && errno == EPERM) {
    throw std::system_error(errno, std::generic_category(),
                            "socket AF_PACKET (run it as root, or inside the lab: make lab-shell)");
  }
  check(fd, "socket AF_PACKET");
  if (!options.interface.empty()) {
    sockaddr_ll where{};
    where.sll_family = AF_PACKET;
    where.sll_protocol = htons(ETH_P_ALL);
    where.sll_ifindex = static_cast<int>(if_nametoindex(options.interface.c_str()));
    if (where.sll_ifindex == 0) check(-1, "interface " + options.interface);
    check(bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where), "bind " + options.interface);
  }
  // The kernel stamps each frame as it passes, from now on; the stamp comes
  // with the frame (recvmsg). SIOCGSTAMP after a read would only turn
  // stamps on at the first frame, which it stamps when read: a frame queued
  // while the capture waited for the CPU would come later than the next.
  int on = 1;
  check(setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on), "setsockopt SO_TIMESTAMP");
  return fd;
}

// Linux cooked header (LINKTYPE_LINUX_SLL), all fields big-endian.
std::vector<std::uint8_t> cooked_header(const sockaddr_ll& from) {
  std::vector<std::uint8_t> header(16, 0);
  auto put16 = [&](std::size_t at, unsigned value) {
    header[at] = static_cast<std::uint8_t>(value >> 8);
    header[at + 1] = static_cast<std::uint8_t>(value);
  };
  put16(0, from.sll_pkttype);
  put16(2, from.sll_hatype);
  put16(4, from.sll_halen);
  std::memcpy(&header[6], from.sll_addr, std::min<std::size_t>(from.sll_halen, 8));
  std::memcpy(&header[14], &from.sll_protocol, 2);  // already in network order
  return header;
}

class Capture {
 public:
  explicit Capture(const Options& options)
      : options_(options), ladder_(read_hosts(options.hosts)), out_(nullptr, std::fclose) {
    fd_ = open_capture(options);
    ladder_.show_data(options.data);
    loopback_ = static_cast<int>(if_nametoindex("lo"));
    if (!options.write.empty()) {
      out_ = open_file(options.write, "wb");
      FileHeader header;
      std::fwrite(&header, sizeof header, 1, out_.get());
      std::fflush(out_.get());
    }
  }
  ~Capture() { close(fd_); }

  // Until SIGINT or SIGTERM; then what is already queued, and stop.
  void run() {
    const std::string where =
        options_.interface.empty() ? "every interface but lo" : options_.interface;
    std::cerr << "lab-ladder: capturing on " + where + "\n";
    while (!stopping) {
      pollfd slot{fd_, POLLIN, 0};
      // A timeout, so that a signal between the test and poll() is seen.
      if (poll(&slot, 1, 100) == -1 && errno != EINTR) check(-1, "poll");
      while (receive()) {
      }
    }
  }

 private:
  // One frame, if one is waiting.
  bool receive() {
    sockaddr_ll from{};
    timeval stamp{};
    ssize_t length = receive_frame(&from, &stamp);
    if (length == -1) return false;
    if (options_.interface.empty() && from.sll_ifindex == loopback_) return true;
    std::size_t kept = std::min<std::size_t>(static_cast<std::size_t>(length), sizeof buffer_);
    std::vector<std::uint8_t> frame = cooked_header(from);
    frame.insert(frame.end(), buffer_, buffer_ + kept);
    if (out_) {
      record(stamp, frame, static_cast<std::uint32_t>(length) + 16);
    } else if (auto packet = parse_frame(kLinktypeSll, frame.data(), frame.size(),
                                         stamp.tv_sec + stamp.tv_usec * 1e-6)) {
      std::cout << ladder_.draw(*packet) << std::flush;
    }
    return true;
  }

  // The next frame into buffer_, its sender into *from, and the time the
  // kernel stamped it into *stamp; -1 when none is waiting.
  ssize_t receive_frame(sockaddr_ll* from, timeval* stamp) {
    iovec data{buffer_, sizeof buffer_};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timeval))];
    msghdr message{};
    message.msg_name = from;
    message.msg_namelen = sizeof *from;
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t length = recvmsg(fd_, &message, MSG_DONTWAIT | MSG_TRUNC);
    if (length == -1) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return -1;
      check(-1, "recvmsg");
    }
    gettimeofday(stamp, nullptr);  // only if the kernel gave none (it always does)
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
        std::memcpy(stamp, CMSG_DATA(c), sizeof *stamp);
      }
    }
    return length;
  }

  // Flushed at once: the lab stops the capture with a signal, and a file
  // whose last packets stayed in a buffer would tell a different story.
  void record(const timeval& stamp, const std::vector<std::uint8_t>& frame, std::uint32_t length) {
    RecordHeader header{static_cast<std::uint32_t>(stamp.tv_sec),
                        static_cast<std::uint32_t>(stamp.tv_usec),
                        static_cast<std::uint32_t>(frame.size()), length};
    std::fwrite(&header, sizeof header, 1, out_.get());
    std::fwrite(frame.data(), 1, frame.size(), out_.get());
    std::fflush(out_.get());
  }

  const Options& options_;
  Ladder ladder_;
  File out_;
  int fd_ = -1;
  int loopback_ = 0;
  std::uint8_t buffer_[65535];
};

void catch_stop_signals() {
  struct sigaction action {};
  action.sa_handler = stop;  // no SA_RESTART: poll() returns at once
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    Options options = parse_args(argc, argv);
    if (options.help) {
      std::cout << kUsage;
      return 0;
    }
    if (!options.read.empty()) {
      draw_file(options);
    } else {
      catch_stop_signals();
      Capture(options).run();
    }
  } catch (const UsageError& e) {
    std::cerr << "lab-ladder: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "lab-ladder: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
