#include "base/egress.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <array>
#include <charconv>

#include "base/strings.h"

namespace strake {

namespace {

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

struct Range {
  Cidr cidr;
  std::string_view what;     // in messages
  std::string_view setting;  // the --egress-allow word that allows it
};

// RFC 6890's special-purpose IPv4 ranges, with the word that allows each.
// The ranges without a word serve nothing a metric or a repository lives
// on; a CIDR (or `all`) still allows them.
constexpr std::array<Range, 15> kSpecial = {{
    {{Ip(127, 0, 0, 0), 8}, "a loopback address", "loopback"},
    {{Ip(10, 0, 0, 0), 8}, "a private address", "private"},
    {{Ip(172, 16, 0, 0), 12}, "a private address", "private"},
    {{Ip(192, 168, 0, 0), 16}, "a private address", "private"},
    {{Ip(100, 64, 0, 0), 10}, "a private (shared) address", "private"},
    {{Ip(169, 254, 0, 0), 16}, "a link-local address", "link-local"},
    {{Ip(0, 0, 0, 0), 8}, "a \"this network\" address", ""},
    {{Ip(192, 0, 0, 0), 24}, "an IETF protocol address", ""},
    {{Ip(192, 0, 2, 0), 24}, "a documentation address", ""},
    {{Ip(198, 51, 100, 0), 24}, "a documentation address", ""},
    {{Ip(203, 0, 113, 0), 24}, "a documentation address", ""},
    {{Ip(192, 88, 99, 0), 24}, "a 6to4 relay address", ""},
    {{Ip(198, 18, 0, 0), 15}, "a benchmarking address", ""},
    {{Ip(224, 0, 0, 0), 4}, "a multicast address", ""},
    {{Ip(240, 0, 0, 0), 4}, "a reserved address", ""},
}};

uint32_t MaskOf(int bits) { return bits == 0 ? 0 : ~uint32_t{0} << (32 - bits); }

}  // namespace

bool Cidr::Contains(uint32_t addr) const { return (addr & MaskOf(bits)) == net; }

Result<Cidr> Cidr::Parse(std::string_view text) {
  std::string_view ip = text.substr(0, text.find('/'));
  Cidr c;
  if (ip.size() < text.size()) {
    std::string_view b = text.substr(ip.size() + 1);
    auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), c.bits);
    if (ec != std::errc() || end != b.data() + b.size() || c.bits < 0 || c.bits > 32)
      return Failf("{}: the prefix length must be 0 to 32", Quote(text));
  }
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(ip).c_str(), &a) != 1)
    return Failf("{}: not an IPv4 address or CIDR", Quote(text));
  c.net = ntohl(a.s_addr) & MaskOf(c.bits);
  return c;
}

EgressPolicy EgressPolicy::Open() {
  EgressPolicy p;
  p.allowed_.push_back({0, 0});
  p.file_ = true;
  p.names_ = {"all"};
  return p;
}

Result<EgressPolicy> EgressPolicy::Parse(std::string_view list) {
  EgressPolicy p;
  for (const auto& raw : Split(list, ',')) {
    std::string word(Trim(raw));
    if (word.empty()) continue;
    p.names_.push_back(word);
    if (word == "all") {
      p.allowed_.push_back({0, 0});
      p.file_ = true;
    } else if (word == "file") {
      p.file_ = true;
    } else if (word == "loopback" || word == "private" || word == "link-local") {
      for (const auto& r : kSpecial) {
        if (r.setting == word) p.allowed_.push_back(r.cidr);
      }
    } else {
      auto c = Cidr::Parse(word);
      if (!c) {
        return Failf(
            "egress: {}: expected loopback, private, link-local, file, all or a CIDR such as "
            "10.20.0.0/16",
            Quote(word));
      }
      p.allowed_.push_back(*c);
    }
  }
  return p;
}

std::string EgressPolicy::ToString() const { return Join(names_, ","); }

Status EgressPolicy::CheckAddress(std::string_view host, const in_addr& addr) const {
  uint32_t a = ntohl(addr.s_addr);
  for (const auto& c : allowed_) {
    if (c.Contains(a)) return Ok();
  }
  for (const auto& r : kSpecial) {
    if (!r.cidr.Contains(a)) continue;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &addr, text, sizeof text);
    std::string allow = r.setting.empty() ? std::string(text) + "/32" : std::string(r.setting);
    return Failf(ErrorCode::kForbidden,
                 "{} ({}) is {}, which this server's egress policy refuses "
                 "(strake serve --egress-allow {} allows it)",
                 Quote(host), text, r.what, allow);
  }
  return Ok();
}

Result<sockaddr_in> ResolveTcp(const std::string& host, uint16_t port, const EgressPolicy* policy) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (::inet_pton(AF_INET, h.c_str(), &addr.sin_addr) != 1) {
    // A name (or an odd spelling of an address): the system resolver's first
    // IPv4 answer, and that one is what the connection will use.
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(h.c_str(), nullptr, &hints, &found);
    if (rc != 0 || !found) return Failf("resolve {}: {}", Quote(host), ::gai_strerror(rc));
    addr = *reinterpret_cast<sockaddr_in*>(found->ai_addr);
    ::freeaddrinfo(found);
  }
  addr.sin_port = htons(port);
  if (policy) STRAKE_TRY(policy->CheckAddress(host, addr.sin_addr));
  return addr;
}

}  // namespace strake
