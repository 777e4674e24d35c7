// packet.cpp: decode captured frames, and draw them as a ladder.
//
// Purpose: see packet.hpp. Every header is read by offset from the byte
// layout of its RFC, each field checked against the bytes captured, so a
// truncated or odd frame is skipped, never read past its end.
//
// Usage: see packet.hpp.
//
// See also: packet.hpp, ladder.cpp; RFC 791, 8200, 9293, 792, 4443, 826.

#include "packet.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800, kEtherArp = 0x0806, kEtherIpv6 = 0x86dd,
                        kEtherVlan = 0x8100;
constexpr std::uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;

// A window on the captured bytes: reads past its end say so instead.
struct Bytes {
  const std::uint8_t* data;
  std::size_t size;

  bool has(std::size_t offset, std::size_t count) const {
    return offset <= size && count <= size - offset;
  }
  std::uint8_t u8(std::size_t at) const { return data[at]; }
  std::uint16_t u16(std::size_t at) const {
    return static_cast<std::uint16_t>(data[at] << 8 | data[at + 1]);
  }
  std::uint32_t u32(std::size_t at) const {
    return static_cast<std::uint32_t>(u16(at)) << 16 | u16(at + 2);
  }
  Bytes from(std::size_t offset) const { return {data + offset, size - offset}; }
};

std::string address(int family, const std::uint8_t* bytes) {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(family, bytes, text, sizeof text);
  return text;
}

std::string mac(const std::uint8_t* bytes) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return text;
}

// What ICMP (RFC 792, 1812) and ICMPv6 (RFC 4443) messages say, in words.
std::string icmp_unreachable(int code) {
  switch (code) {
    case 0: return "net unreachable";
    case 1: return "host unreachable";
    case 2: return "protocol unreachable";
    case 3: return "port unreachable";
    case 4: return "fragmentation needed";
    case 9:
    case 10:
    case 13: return "administratively prohibited";
    default: return "unreachable, code " + std::to_string(code);
  }
}

std::string icmpv6_unreachable(int code) {
  switch (code) {
    case 0: return "no route to destination";
    case 1: return "administratively prohibited";
    case 3: return "address unreachable";
    case 4: return "port unreachable";
    default: return "unreachable, code " + std::to_string(code);
  }
}

// The ports of a TCP or UDP header (both start with them), if there is one.
void read_ports(std::uint8_t protocol, Bytes transport, Packet& packet) {
  if ((protocol == kProtoTcp || protocol == kProtoUdp) && transport.has(0, 4)) {
    packet.source_port = transport.u16(0);
    packet.destination_port = transport.u16(2);
  }
}

// An ICMP error quotes the IP header and 8 bytes of the packet it is about.
void read_quoted(int family, Bytes quoted, Packet& packet) {
  if (family == AF_INET && quoted.has(0, 20)) {
    std::size_t header = (quoted.u8(0) & 0x0f) * 4u;
    if (header < 20 || !quoted.has(0, header)) return;
    packet.quoted = address(AF_INET, quoted.data + 16);
    read_ports(quoted.u8(9), quoted.from(header), packet);
  } else if (family == AF_INET6 && quoted.has(0, 40)) {
    packet.quoted = address(AF_INET6, quoted.data + 24);
    read_ports(quoted.u8(6), quoted.from(40), packet);
  }
}

bool parse_tcp(Bytes tcp, Packet& packet) {
  if (!tcp.has(0, 20)) return false;
  std::size_t header = (tcp.u8(12) >> 4) * 4u;
  if (header < 20 || !tcp.has(0, header)) return false;
  packet.kind = Packet::Kind::kTcp;
  packet.source_port = tcp.u16(0);
  packet.destination_port = tcp.u16(2);
  packet.seq = tcp.u32(4);
  packet.ack = tcp.u32(8);
  packet.flags = tcp.u8(13);
  packet.length = tcp.size - header;
  const char* data = reinterpret_cast<const char*>(tcp.data + header);
  packet.data.assign(data, std::min(packet.length, kDataKept));
  return true;
}

bool parse_udp(Bytes udp, Packet& packet) {
  if (!udp.has(0, 8)) return false;
  packet.kind = Packet::Kind::kUdp;
  packet.source_port = udp.u16(0);
  packet.destination_port = udp.u16(2);
  packet.length = udp.size - 8;
  return true;
}

// An echo (ping) carries an identifier and a sequence number, which the
// reply repeats: ping's icmp_seq, and the data ping sent.
bool parse_echo(Bytes icmp, const char* what, Packet& packet) {
  packet.icmp = what;
  packet.echo = true;
  packet.echo_id = icmp.u16(4);
  packet.echo_sequence = icmp.u16(6);
  packet.length = icmp.size - 8;
  return true;
}

bool parse_icmp(Bytes icmp, Packet& packet) {
  if (!icmp.has(0, 8)) return false;
  packet.kind = Packet::Kind::kIcmp;
  int type = icmp.u8(0), code = icmp.u8(1);
  switch (type) {
    case 0: return parse_echo(icmp, "echo reply", packet);
    case 8: return parse_echo(icmp, "echo request", packet);
    case 3: packet.icmp = icmp_unreachable(code); break;
    case 11: packet.icmp = "time exceeded"; break;
    case 5: packet.icmp = "redirect"; break;
    default: packet.icmp = "type " + std::to_string(type); return true;
  }
  read_quoted(AF_INET, icmp.from(8), packet);
  return true;
}

// ICMPv6 also carries neighbour discovery and multicast listeners: the
// plumbing of IPv6, which the ladder leaves out.
bool parse_icmpv6(Bytes icmp, Packet& packet) {
  if (!icmp.has(0, 8)) return false;
  packet.kind = Packet::Kind::kIcmp;
  int type = icmp.u8(0), code = icmp.u8(1);
  switch (type) {
    case 1: packet.icmp = icmpv6_unreachable(code); break;
    case 2: packet.icmp = "packet too big"; break;
    case 3: packet.icmp = "time exceeded"; break;
    case 128: return parse_echo(icmp, "echo request", packet);
    case 129: return parse_echo(icmp, "echo reply", packet);
    default: return false;
  }
  read_quoted(AF_INET6, icmp.from(8), packet);
  return true;
}

bool parse_transport(std::uint8_t protocol, Bytes payload, Packet& packet) {
  switch (protocol) {
    case kProtoTcp: return parse_tcp(payload, packet);
    case kProtoUdp: return parse_udp(payload, packet);
    case kProtoIcmp: return parse_icmp(payload, packet);
    case kProtoIcmpv6: return parse_icmpv6(payload, packet);
    default: return false;
  }
}

bool parse_ipv4(Bytes ip, Packet& packet) {
  if (!ip.has(0, 20) || ip.u8(0) >> 4 != 4) return false;
  std::size_t header = (ip.u8(0) & 0x0f) * 4u;
  std::size_t total = ip.u16(2);
  if (header < 20 || total < header || !ip.has(0, header)) return false;
  if ((ip.u16(6) & 0x1fff) != 0) return false;  // a later fragment: no transport header
  packet.source = address(AF_INET, ip.data + 12);
  packet.destination = address(AF_INET, ip.data + 16);
  // The frame may be longer (Ethernet padding) or shorter (a capture cut short).
  Bytes payload{ip.data + header, std::min(total, ip.size) - header};
  return parse_transport(ip.u8(9), payload, packet);
}

bool parse_ipv6(Bytes ip, Packet& packet) {
  if (!ip.has(0, 40) || ip.u8(0) >> 4 != 6) return false;
  packet.source = address(AF_INET6, ip.data + 8);
  packet.destination = address(AF_INET6, ip.data + 24);
  std::size_t end = std::min<std::size_t>(40 + ip.u16(4), ip.size);
  std::uint8_t next = ip.u8(6);
  std::size_t at = 40;
  // Hop-by-hop, routing and destination options, and fragments, come before
  // the transport header; their length is in their second byte.
  while (next == 0 || next == 43 || next == 60 || next == 44) {
    if (!ip.has(at, 8) || at + 8 > end) return false;
    std::size_t length = next == 44 ? 8 : (ip.u8(at + 1) + 1u) * 8;
    if (next == 44 && (ip.u16(at + 2) & 0xfff8) != 0) return false;  // a later fragment
    next = ip.u8(at);
    at += length;
  }
  if (at > end) return false;
  return parse_transport(next, Bytes{ip.data + at, end - at}, packet);
}

bool parse_arp(Bytes arp, Packet& packet) {
  // Ethernet and IPv4 only: hardware type 1, 6-byte and 4-byte addresses.
  if (!arp.has(0, 28) || arp.u16(0) != 1 || arp.u16(2) != kEtherIpv4) return false;
  if (arp.u8(4) != 6 || arp.u8(5) != 4) return false;
  packet.kind = Packet::Kind::kArp;
  packet.source = address(AF_INET, arp.data + 14);
  packet.destination = address(AF_INET, arp.data + 24);
  if (arp.u16(6) == 1) {
    packet.arp = "who-has " + packet.destination;
  } else if (arp.u16(6) == 2) {
    packet.arp = packet.source + " is-at " + mac(arp.data + 8);
  } else {
    return false;
  }
  return true;
}

bool parse_network(std::uint16_t protocol, Bytes payload, Packet& packet) {
  switch (protocol) {
    case kEtherIpv4: return parse_ipv4(payload, packet);
    case kEtherIpv6: return parse_ipv6(payload, packet);
    case kEtherArp: return parse_arp(payload, packet);
    default: return false;
  }
}

std::string flag_names(std::uint8_t flags) {
  static const std::pair<std::uint8_t, const char*> kNames[] = {
      {kSyn, "SYN"}, {kFin, "FIN"}, {kRst, "RST"}, {kPsh, "PSH"}, {kAck, "ACK"}};
  std::string names;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) names += (names.empty() ? "" : "-") + std::string(name);
  }
  return names.empty() ? "none" : names;
}

// ---SYN------------>  or  <--SYN-ACK----------  , at least `width` wide.
std::string arrow(const std::string& label, bool rightwards, std::size_t width = 36) {
  std::string line = (rightwards ? "---" : "<--") + label;
  std::size_t fill = line.size() + 1 < width ? width - line.size() - 1 : 1;
  return line + std::string(fill, '-') + (rightwards ? ">" : "-");
}

std::string port_text(std::uint16_t port) {
  return port ? ":" + std::to_string(port) : "";
}

}  // namespace

std::optional<Packet> parse_frame(std::uint32_t linktype, const std::uint8_t* frame,
                                  std::size_t size, double time) {
  Bytes bytes{frame, size};
  Packet packet;
  packet.time = time;
  std::uint16_t protocol = 0;
  std::size_t header = 0;
  if (linktype == kLinktypeSll) {
    if (!bytes.has(0, 16)) return std::nullopt;
    int type = bytes.u16(0);
    if (type == kPacketOutgoing) packet.direction = Packet::Direction::kOut;
    if (type >= kPacketHost && type <= 2) packet.direction = Packet::Direction::kIn;
    protocol = bytes.u16(14);
    header = 16;
  } else if (linktype == kLinktypeEthernet) {
    if (!bytes.has(0, 14)) return std::nullopt;
    protocol = bytes.u16(12);
    header = 14;
    if (protocol == kEtherVlan && bytes.has(0, 18)) {
      protocol = bytes.u16(16);
      header = 18;
    }
  } else {
    return std::nullopt;
  }
  if (!parse_network(protocol, bytes.from(header), packet)) return std::nullopt;
  return packet;
}

namespace {

// One byte as printable text: itself, or an escape.
std::string escaped(unsigned char c, bool quoted) {
  switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return quoted ? "\\t" : "\t";
    case '"': return quoted ? "\\\"" : "\"";
    case '\\': return quoted ? "\\\\" : "\\";
    default:
      if (c >= 0x20 && c < 0x7f) return std::string(1, static_cast<char>(c));
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      return hex;
  }
}

}  // namespace

std::string printable(const std::string& bytes, std::size_t total, std::size_t limit) {
  std::string text = "\"";
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    text += escaped(static_cast<unsigned char>(bytes[i]), true);
  }
  return text + "\"" + (total > limit ? "..." : "");
}

std::string text_lines(const std::string& bytes, const std::string& prefix) {
  std::string lines, line;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' || (bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n')) {
      if (bytes[i] == '\r') ++i;
      lines += prefix + line + "\n";
      line.clear();
    } else {
      line += escaped(static_cast<unsigned char>(bytes[i]), false);
    }
  }
  if (!line.empty()) lines += prefix + line + "\n";
  return lines;
}

Names read_hosts(const std::string& path) {
  Names names;
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string address, name;
    // The first name of the first line for an address wins, as for getent.
    if (words >> address >> name) names.emplace(address, name);
  }
  return names;
}

bool Ladder::is_local(const Packet& packet) const {
  if (packet.direction == Packet::Direction::kOut) return true;
  if (packet.direction == Packet::Direction::kIn) return false;
  return packet.source == first_source_;
}

std::string Ladder::name(const std::string& address) const {
  auto found = names_.find(address);
  return found == names_.end() ? address : found->second + " " + address;
}

// A header names the two hosts of the lines below it: left, this one.
std::string Ladder::header(const std::string& local, const std::string& remote) {
  if (local + " " + remote == pair_) return "";
  pair_ = local + " " + remote;
  char line[160];
  std::snprintf(line, sizeof line, "%s%7s  %-47s%s\n", start_ < 0 ? "" : "\n", "time",
                name(local).c_str(), name(remote).c_str());
  return line;
}

std::uint32_t Ladder::relative(const Flow& flow, std::uint32_t number) const {
  auto side = sides_.find(flow);
  return side == sides_.end() ? number : number - side->second.first;
}

// The label on the arrow, and the details after it: sequence numbers
// relative to each side's first, and the first bytes of the data.
std::string Ladder::tcp_rung(const Packet& packet, std::string* label) {
  Flow flow{packet.source, packet.source_port, packet.destination, packet.destination_port};
  Flow back{packet.destination, packet.destination_port, packet.source, packet.source_port};
  Side& side = sides_[flow];
  if ((packet.flags & kSyn) || !side.known) side = {packet.seq, true};
  *label = flag_names(packet.flags);
  if (packet.length > 0) *label += " " + std::to_string(packet.length) + " bytes";
  std::string details = "seq " + std::to_string(relative(flow, packet.seq));
  if (packet.flags & kAck) details += " ack " + std::to_string(relative(back, packet.ack));
  if (packet.length > 0) details += "  " + printable(packet.data, packet.length);
  return details;
}

std::string Ladder::draw(const Packet& packet) {
  if (first_source_.empty()) first_source_ = packet.source;
  bool outgoing = is_local(packet);
  const std::string& local = outgoing ? packet.source : packet.destination;
  std::string remote = outgoing ? packet.destination : packet.source;
  std::uint16_t local_port = outgoing ? packet.source_port : packet.destination_port;
  std::uint16_t remote_port = outgoing ? packet.destination_port : packet.source_port;

  std::string label, details;
  switch (packet.kind) {
    case Packet::Kind::kTcp: details = tcp_rung(packet, &label); break;
    case Packet::Kind::kUdp: label = "UDP " + std::to_string(packet.length) + " bytes"; break;
    case Packet::Kind::kArp: label = "ARP " + packet.arp; break;
    case Packet::Kind::kIcmp:
      label = "ICMP " + packet.icmp;
      if (packet.echo) {
        details = "id " + std::to_string(packet.echo_id) + " icmp_seq " +
                  std::to_string(packet.echo_sequence) + ", " + std::to_string(packet.length) +
                  " bytes of data";
      } else if (!packet.quoted.empty()) {
        // An error is about a packet this host sent: its ports, its
        // destination, on the ladder of that conversation.
        details = "from " + name(packet.source) + ", about a packet to " + packet.quoted;
        remote = outgoing ? packet.destination : packet.quoted;
        local_port = outgoing ? 0 : packet.source_port;
        remote_port = outgoing ? packet.source_port : packet.destination_port;
      }
      break;
  }
  std::string lines = header(local, remote);
  if (start_ < 0) start_ = packet.time;
  char rung[512];
  // Packets captured in one microsecond may be stamped slightly out of
  // order (a reply before its request): below half a millisecond that is
  // 0.000, not -0.000.
  double elapsed = packet.time - start_;
  if (elapsed < 0 && elapsed > -0.0005) elapsed = 0;
  std::snprintf(rung, sizeof rung, "%7.3f  %-7s  %s  %-7s", elapsed, port_text(local_port).c_str(),
                arrow(label, outgoing).c_str(), port_text(remote_port).c_str());
  lines += rung;
  if (!details.empty()) lines += "  " + details;
  lines.erase(lines.find_last_not_of(' ') + 1);  // no ports: no trailing blanks
  lines += "\n";
  if (show_data_ && packet.kind == Packet::Kind::kTcp) {
    lines += text_lines(packet.data, std::string(18, ' ') + "| ");
  }
  return lines;
}
