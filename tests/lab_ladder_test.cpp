// lab_ladder_test.cpp: unit tests of the lab's packet decoding and ladder.
//
// Purpose: `make lab` shows students packets drawn by lab/packet.cpp; a
// wrong flag, port or sequence number there would teach something false.
// These tests build frames byte by byte, as the RFCs lay them out (Linux
// cooked and Ethernet framing, IPv4 and IPv6, TCP, ICMP errors quoting the
// packet they are about, ICMP echo (ping), ARP), and check what is decoded and drawn; and
// that cut-short or foreign frames are skipped, never read past their end.
//
// See also: lab/packet.hpp, lab/ladder.cpp, tests/lab_test.sh; RFC 791,
// 8200, 9293, 792, 4443, 826.
#include "packet.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using Frame = std::vector<std::uint8_t>;

void put16(Frame& frame, unsigned value) {
  frame.push_back(static_cast<std::uint8_t>(value >> 8));
  frame.push_back(static_cast<std::uint8_t>(value));
}

void put32(Frame& frame, std::uint32_t value) {
  put16(frame, value >> 16);
  put16(frame, value & 0xffff);
}

void append(Frame& frame, const Frame& more) {
  frame.insert(frame.end(), more.begin(), more.end());
}

// TCP header (20 bytes, no options) and data.
Frame tcp(unsigned source_port, unsigned destination_port, std::uint32_t seq, std::uint32_t ack,
          std::uint8_t flags, const std::string& data = "") {
  Frame segment;
  put16(segment, source_port);
  put16(segment, destination_port);
  put32(segment, seq);
  put32(segment, ack);
  segment.push_back(5 << 4);  // data offset: 5 words
  segment.push_back(flags);
  put16(segment, 64240);  // window
  put32(segment, 0);      // checksum, urgent pointer: not checked
  segment.insert(segment.end(), data.begin(), data.end());
  return segment;
}

// IPv4 header (20 bytes) around a payload; addresses as 4 bytes.
Frame ipv4(const Frame& from, const Frame& to, std::uint8_t protocol, const Frame& payload) {
  Frame packet = {0x45, 0};
  put16(packet, static_cast<unsigned>(20 + payload.size()));
  put32(packet, 0);  // identification, flags, fragment offset 0
  packet.push_back(64);
  packet.push_back(protocol);
  put16(packet, 0);
  append(packet, from);
  append(packet, to);
  append(packet, payload);
  return packet;
}

// Linux cooked header: packet type (direction), then the EtherType.
Frame cooked(int packet_type, unsigned ethertype, const Frame& payload) {
  Frame frame;
  put16(frame, static_cast<unsigned>(packet_type));
  put16(frame, 1);  // ARPHRD_ETHER
  put16(frame, 6);
  for (int i = 0; i < 8; ++i)
    frame.push_back(i < 6 ? 0x02 : 0);
  put16(frame, ethertype);
  append(frame, payload);
  return frame;
}

Frame ethernet(unsigned ethertype, const Frame& payload) {
  Frame frame(12, 0x02);  // destination and source MAC
  put16(frame, ethertype);
  append(frame, payload);
  return frame;
}

const Frame kAlice = {192, 0, 2, 10}, kBob = {192, 0, 2, 20}, kRouter = {192, 0, 2, 1},
            kNobody = {198, 51, 100, 99};

std::optional<Packet> parse(const Frame& frame, std::uint32_t linktype = kLinktypeSll,
                            double time = 0) {
  return parse_frame(linktype, frame.data(), frame.size(), time);
}

TEST(LabPacket, TcpSynFromACookedFrame) {
  auto packet = parse(
      cooked(kPacketOutgoing, 0x0800, ipv4(kAlice, kBob, 6, tcp(40514, 3000, 1000, 0, kSyn))));
  ASSERT_TRUE(packet);
  EXPECT_EQ(packet->kind, Packet::Kind::kTcp);
  EXPECT_EQ(packet->direction, Packet::Direction::kOut);
  EXPECT_EQ(packet->source, "192.0.2.10");
  EXPECT_EQ(packet->destination, "192.0.2.20");
  EXPECT_EQ(packet->source_port, 40514);
  EXPECT_EQ(packet->destination_port, 3000);
  EXPECT_EQ(packet->seq, 1000u);
  EXPECT_EQ(packet->flags, kSyn);
  EXPECT_EQ(packet->length, 0u);
}

TEST(LabPacket, TcpDataFromAnEthernetFrameWithPadding) {
  Frame frame =
      ethernet(0x0800, ipv4(kBob, kAlice, 6, tcp(3000, 40514, 5, 9, kPsh | kAck, "Hi\n")));
  frame.resize(frame.size() + 10, 0);  // padding after the IP packet is not data
  auto packet = parse(frame, kLinktypeEthernet);
  ASSERT_TRUE(packet);
  EXPECT_EQ(packet->direction, Packet::Direction::kUnknown);
  EXPECT_EQ(packet->length, 3u);
  EXPECT_EQ(packet->data, "Hi\n");
  EXPECT_EQ(packet->flags, kPsh | kAck);
}

TEST(LabPacket, IcmpHostUnreachableQuotesThePacketItIsAbout) {
  Frame quoted = ipv4(kAlice, kNobody, 6, tcp(50124, 80, 77, 0, kSyn));
  quoted.resize(28);                      // a router quotes the IP header and 8 bytes
  Frame icmp = {3, 1, 0, 0, 0, 0, 0, 0};  // destination unreachable, host
  append(icmp, quoted);
  auto packet = parse(cooked(kPacketHost, 0x0800, ipv4(kRouter, kAlice, 1, icmp)));
  ASSERT_TRUE(packet);
  EXPECT_EQ(packet->kind, Packet::Kind::kIcmp);
  EXPECT_EQ(packet->icmp, "host unreachable");
  EXPECT_EQ(packet->source, "192.0.2.1");
  EXPECT_EQ(packet->quoted, "198.51.100.99");
  EXPECT_EQ(packet->source_port, 50124);
  EXPECT_EQ(packet->destination_port, 80);
}

TEST(LabPacket, ArpRequest) {
  Frame arp;
  put16(arp, 1);       // Ethernet
  put16(arp, 0x0800);  // IPv4
  arp.push_back(6);
  arp.push_back(4);
  put16(arp, 1);  // request
  append(arp, Frame(6, 0xaa));
  append(arp, {198, 51, 100, 1});
  append(arp, Frame(6, 0));
  append(arp, kNobody);
  auto packet = parse(cooked(kPacketOutgoing, 0x0806, arp));
  ASSERT_TRUE(packet);
  EXPECT_EQ(packet->kind, Packet::Kind::kArp);
  EXPECT_EQ(packet->arp, "who-has 198.51.100.99");
  EXPECT_EQ(packet->source, "198.51.100.1");
}

TEST(LabPacket, Ipv6TcpAfterAHopByHopHeader) {
  Frame segment = tcp(40000, 80, 1, 1, kAck, "x");
  Frame packet = {0x60, 0, 0, 0};
  put16(packet, static_cast<unsigned>(8 + segment.size()));
  packet.push_back(0);  // next: hop-by-hop options
  packet.push_back(64);
  Frame alice6(16, 0), www6(16, 0);
  alice6[0] = 0x20, alice6[1] = 0x01, alice6[2] = 0x0d, alice6[3] = 0xb8, alice6[15] = 0x10;
  www6[0] = 0x20, www6[1] = 0x01, www6[2] = 0x0d, www6[3] = 0xb8, www6[15] = 0x80;
  append(packet, alice6);
  append(packet, www6);
  append(packet, {6, 0, 0, 0, 0, 0, 0, 0});  // hop-by-hop: next TCP, 8 bytes
  append(packet, segment);
  auto parsed = parse(cooked(kPacketOutgoing, 0x86dd, packet));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->source, "2001:db8::10");
  EXPECT_EQ(parsed->destination, "2001:db8::80");
  EXPECT_EQ(parsed->destination_port, 80);
  EXPECT_EQ(parsed->data, "x");
}

TEST(LabPacket, NeighbourDiscoveryIsLeftOut) {
  Frame packet = {0x60, 0, 0, 0, 0, 8, 58, 255};
  append(packet, Frame(32, 0));
  append(packet, {135, 0, 0, 0, 0, 0, 0, 0});  // neighbour solicitation
  EXPECT_FALSE(parse(cooked(kPacketOutgoing, 0x86dd, packet)));
}

TEST(LabPacket, CutShortOrForeignFramesAreSkipped) {
  Frame whole = cooked(kPacketHost, 0x0800, ipv4(kBob, kAlice, 6, tcp(3000, 1, 0, 0, kRst)));
  for (std::size_t size = 0; size < 16 + 20 + 20; ++size) {
    EXPECT_FALSE(parse_frame(kLinktypeSll, whole.data(), size, 0)) << "cut at " << size;
  }
  EXPECT_TRUE(parse(whole));
  EXPECT_FALSE(parse(whole, 228));                                 // a link type it does not know
  EXPECT_FALSE(parse(cooked(kPacketHost, 0x88cc, Frame(40, 0))));  // LLDP
}

// ping: type 8, code 0, checksum, identifier, sequence number, data; the
// reply (type 0) repeats all but the type.
Frame echo(std::uint8_t type, unsigned id, unsigned sequence, std::size_t data) {
  Frame icmp = {type, 0, 0, 0};
  put16(icmp, id);
  put16(icmp, sequence);
  icmp.resize(8 + data, 0x42);
  return icmp;
}

const Frame kWww = {198, 51, 100, 80};

TEST(LabPacket, IcmpEchoRequestAndReply) {
  auto request =
      parse(cooked(kPacketOutgoing, 0x0800, ipv4(kAlice, kWww, 1, echo(8, 4242, 1, 56))));
  ASSERT_TRUE(request);
  EXPECT_EQ(request->kind, Packet::Kind::kIcmp);
  EXPECT_EQ(request->icmp, "echo request");
  EXPECT_TRUE(request->echo);
  EXPECT_EQ(request->echo_id, 4242);
  EXPECT_EQ(request->echo_sequence, 1);
  EXPECT_EQ(request->length, 56u);
  EXPECT_TRUE(request->quoted.empty());
  auto reply = parse(cooked(kPacketHost, 0x0800, ipv4(kWww, kAlice, 1, echo(0, 4242, 1, 56))));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->icmp, "echo reply");
  EXPECT_EQ(reply->echo_sequence, 1);
  EXPECT_EQ(reply->source, "198.51.100.80");
}

TEST(LabLadder, PingDrawsTheEchoRequestAndItsReply) {
  Ladder ladder(Names{{"192.0.2.10", "alice"}, {"198.51.100.80", "www"}});
  std::string drawn =
      ladder.draw(*parse(cooked(kPacketOutgoing, 0x0800, ipv4(kAlice, kWww, 1, echo(8, 7, 1, 56))),
                         kLinktypeSll, 5.0));
  drawn += ladder.draw(*parse(cooked(kPacketHost, 0x0800, ipv4(kWww, kAlice, 1, echo(0, 7, 1, 56))),
                              kLinktypeSll, 5.001));
  EXPECT_NE(drawn.find("www 198.51.100.80"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("  0.000           ---ICMP echo request---"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("  0.001           <--ICMP echo reply---"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("id 7 icmp_seq 1, 56 bytes of data"), std::string::npos) << drawn;
  EXPECT_EQ(drawn.find("time", drawn.find("time") + 1), std::string::npos)
      << "one pair of hosts, one header:\n"
      << drawn;
}

TEST(LabLadder, APacketStampedAMicrosecondEarlierIsAtZeroNotMinusZero) {
  Ladder ladder(Names{});
  std::string drawn =
      ladder.draw(*parse(cooked(kPacketOutgoing, 0x0800, ipv4(kAlice, kWww, 1, echo(8, 7, 1, 56))),
                         kLinktypeSll, 5.0));
  drawn += ladder.draw(*parse(cooked(kPacketHost, 0x0800, ipv4(kWww, kAlice, 1, echo(0, 7, 1, 56))),
                              kLinktypeSll, 4.999999));
  EXPECT_EQ(drawn.find("-0.000"), std::string::npos) << drawn;
}

TEST(LabLadder, RelativeSequenceNumbersArrowsAndData) {
  Ladder ladder(Names{{"192.0.2.10", "alice"}, {"192.0.2.20", "bob"}});
  auto out = [](const Frame& segment) {
    return cooked(kPacketOutgoing, 0x0800, ipv4(kAlice, kBob, 6, segment));
  };
  auto in = [](const Frame& segment) {
    return cooked(kPacketHost, 0x0800, ipv4(kBob, kAlice, 6, segment));
  };
  std::string drawn = ladder.draw(*parse(out(tcp(40514, 3000, 1000, 0, kSyn)), kLinktypeSll, 10.0));
  drawn += ladder.draw(*parse(in(tcp(3000, 40514, 7000, 1001, kSyn | kAck)), kLinktypeSll, 10.001));
  drawn += ladder.draw(
      *parse(in(tcp(3000, 40514, 7001, 1001, kPsh | kAck, "Hello\n")), kLinktypeSll, 10.5));
  drawn += ladder.draw(*parse(out(tcp(40514, 3000, 1001, 7007, kFin | kAck)), kLinktypeSll, 11.0));
  EXPECT_NE(drawn.find("alice 192.0.2.10"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("bob 192.0.2.20"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("  0.000  :40514   ---SYN----"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("  0.001  :40514   <--SYN-ACK---"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("<--PSH-ACK 6 bytes---"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("seq 1 ack 1  \"Hello\\n\""), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("---FIN-ACK---"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("seq 1 ack 7"), std::string::npos) << drawn;
  EXPECT_EQ(drawn.find("time", drawn.find("time") + 1), std::string::npos)
      << "one pair of hosts, one header:\n"
      << drawn;
}

TEST(LabLadder, AnIcmpErrorSitsOnTheLadderOfItsConversation) {
  Ladder ladder(Names{{"192.0.2.1", "router"}});
  Frame quoted = ipv4(kAlice, kNobody, 6, tcp(50124, 80, 77, 0, kSyn));
  quoted.resize(28);
  Frame icmp = {3, 1, 0, 0, 0, 0, 0, 0};
  append(icmp, quoted);
  std::string drawn = ladder.draw(*parse(
      cooked(kPacketOutgoing, 0x0800, ipv4(kAlice, kNobody, 6, tcp(50124, 80, 77, 0, kSyn)))));
  drawn += ladder.draw(*parse(cooked(kPacketHost, 0x0800, ipv4(kRouter, kAlice, 1, icmp))));
  EXPECT_NE(drawn.find(":50124   <--ICMP host unreachable---"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("from router 192.0.2.1"), std::string::npos) << drawn;
  EXPECT_EQ(drawn.find("time", drawn.find("time") + 1), std::string::npos) << drawn;
}

TEST(LabLadder, TextLinesEndAtCrLfOrLfAndEscapeTheRest) {
  EXPECT_EQ(text_lines("GET / HTTP/1.1\r\nHost: www\r\n\r\n", "| "),
            "| GET / HTTP/1.1\n| Host: www\n| \n");
  EXPECT_EQ(text_lines("<p>\nno end", "> "), "> <p>\n> no end\n");
  EXPECT_EQ(text_lines(std::string("a\rb\0\t", 5), ""), "a\\rb\\x00\t\n");
  EXPECT_EQ(text_lines("", "| "), "");
}

TEST(LabLadder, ShowDataPutsTheWholeRequestUnderItsRung) {
  Ladder ladder(Names{});
  ladder.show_data(true);
  std::string request =
      "GET / HTTP/1.1\r\nHost: www\r\nUser-Agent: " + std::string(80, 'x') + "\r\n\r\n";
  std::string drawn = ladder.draw(*parse(
      cooked(kPacketOutgoing, 0x0800, ipv4(kAlice, kWww, 6, tcp(40000, 80, 1, 1, kAck, request)))));
  EXPECT_NE(drawn.find("\n                  | GET / HTTP/1.1\n                  | Host: www\n"),
            std::string::npos)
      << drawn;
  EXPECT_NE(drawn.find("| User-Agent: " + std::string(80, 'x') + "\n"), std::string::npos) << drawn;
  Ladder quiet(Names{});
  EXPECT_EQ(quiet
                .draw(*parse(cooked(kPacketOutgoing, 0x0800,
                                    ipv4(kAlice, kWww, 6, tcp(40000, 80, 1, 1, kAck, request)))))
                .find("| Host"),
            std::string::npos);
}

TEST(LabLadder, Printable) {
  EXPECT_EQ(printable("GET / HTTP/1.1\r\n", 16), "\"GET / HTTP/1.1\\r\\n\"");
  EXPECT_EQ(printable(std::string("a\0\x7f\"", 4), 4), "\"a\\x00\\x7f\\\"\"");
  EXPECT_EQ(printable("abcdef", 100, 3), "\"abc\"...");
}

}  // namespace
