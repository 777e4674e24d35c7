// packet.hpp: read a captured frame, and draw it as one rung of a ladder.
//
// Purpose: the lab shows every packet the stage programs cause as a ladder,
// time going down, Alice on the left and her peer on the right:
//
//    0.000  alice:40514  ---SYN-------------------------->  bob:3000  seq 0
//    0.001  alice:40514  <--SYN-ACK-----------------------  bob:3000  seq 0 ack 1
//
// parse_frame() decodes what a capture holds (Linux "cooked" frames, as
// lab-ladder writes them, or Ethernet frames, as tcpdump -w writes them):
// IPv4 or IPv6, then TCP, UDP, ICMP or ICMPv6, and ARP. Ladder turns packets
// into lines: the names of the addresses, sequence numbers counted from each
// side's first (relative, as tcpdump shows them), the first bytes of the data.
// Nothing here captures or prints: ladder.cpp does, and tests/lab_ladder_test.cpp
// feeds these functions hand-built packets.
//
// Usage: Ladder ladder(names); for each frame:
//          if (auto packet = parse_frame(kLinktypeSll, bytes, size, time))
//            std::cout << ladder.draw(*packet);
//
// See also: ladder.cpp, run.sh, docs/lab.md; RFC 791 (IPv4), RFC 8200
// (IPv6), RFC 9293 (TCP), RFC 792 (ICMP), RFC 826 (ARP); pcap-linktype(7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>

// pcap's link types: what precedes the IP header in a captured frame.
constexpr std::uint32_t kLinktypeEthernet = 1;  // 14 bytes: MACs and EtherType
constexpr std::uint32_t kLinktypeSll = 113;     // 16 bytes: Linux cooked, with the direction

// Linux's packet types (sll_pkttype): from the wire to this host, or out of it.
constexpr int kPacketHost = 0;
constexpr int kPacketOutgoing = 4;

// TCP flags, as in the header's 13th byte.
constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct Packet {
  enum class Kind { kTcp, kUdp, kIcmp, kArp };
  enum class Direction { kUnknown, kIn, kOut };

  double time = 0;  // seconds, any origin
  Direction direction = Direction::kUnknown;
  Kind kind = Kind::kTcp;
  std::string source, destination;  // numeric addresses
  std::uint16_t source_port = 0, destination_port = 0;

  // TCP
  std::uint8_t flags = 0;
  std::uint32_t seq = 0, ack = 0;
  std::size_t length = 0;  // bytes of data (TCP, UDP)
  std::string data;        // the data, as far as captured (at most kDataKept)

  // ICMP and ICMPv6: what happened ("host unreachable"). An error quotes
  // the start of the packet it is about: `quoted` is that packet's
  // destination, and the ports above are its ports.
  std::string icmp;
  std::string quoted;
  // An echo request or reply (ping): its identifier and sequence number,
  // and in `length` the bytes of data after the 8 of its header.
  bool echo = false;
  std::uint16_t echo_id = 0, echo_sequence = 0;

  // ARP: "who-has 198.51.100.99" or "198.51.100.99 is-at 02:..."
  std::string arp;
};

constexpr std::size_t kDataKept = 65535;

// The packet in a captured frame, or nothing when it is none the ladder
// shows (IPv6 neighbour discovery, other protocols, a truncated header).
std::optional<Packet> parse_frame(std::uint32_t linktype, const std::uint8_t* frame,
                                  std::size_t size, double time);

// "Hello\n" -> "Hello\\n", quoted, at most `limit` bytes shown, then "...".
std::string printable(const std::string& bytes, std::size_t total, std::size_t limit = 24);

// Data as text, a line of it per line, each after `prefix`: "\r\n" and
// "\n" end a line; other bytes that are not printable ASCII are escaped
// as in printable(). What -A shows under a rung.
std::string text_lines(const std::string& bytes, const std::string& prefix);

// Names for addresses, from a hosts file: "192.0.2.20 bob" lines.
using Names = std::map<std::string, std::string>;
Names read_hosts(const std::string& path);

// Draws packets as lines of a ladder: this host on the left, the other end
// on the right, a header each time the pair of hosts changes.
class Ladder {
 public:
  explicit Ladder(Names names) : names_(std::move(names)) {}
  // The lines for one packet, each ending with "\n".
  std::string draw(const Packet& packet);
  // With data shown, a TCP segment's data follows its rung, as text_lines().
  void show_data(bool on) { show_data_ = on; }

 private:
  struct Side {
    std::uint32_t first = 0;  // the initial sequence number of this direction
    bool known = false;
  };
  using Flow = std::tuple<std::string, std::uint16_t, std::string, std::uint16_t>;

  bool is_local(const Packet& packet) const;
  std::string name(const std::string& address) const;
  std::string header(const std::string& local, const std::string& remote);
  std::string tcp_rung(const Packet& packet, std::string* label);
  std::uint32_t relative(const Flow& flow, std::uint32_t number) const;

  Names names_;
  std::map<Flow, Side> sides_;
  std::string first_source_;  // without a direction, the first sender is this host
  std::string pair_;          // the hosts named by the last header
  double start_ = -1;
  bool show_data_ = false;
};
