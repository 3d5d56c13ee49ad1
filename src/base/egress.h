// EgressPolicy: where strake's own outgoing connections may go.
//
// Metric providers (web, Prometheus) and git remotes are URLs written by
// whoever may apply an AnalysisTemplate, an Application or a Repository.
// Followed blindly they are a server-side request forgery: 169.254.169.254
// hands out a cloud machine's credentials, 127.0.0.1 reaches strake's own
// router and every service on the host, file:// reads the server's disk. So
// a server's egress is checked, as a cloud metadata guard would:
//
//   - A host name is resolved once; the address is checked and the
//     connection goes to that very address, so a DNS answer that changes in
//     between (rebinding) cannot slip past. Odd spellings of an address
//     (2130706433, 0x7f.1) are caught because the check is on what they
//     resolve to.
//   - Special-purpose IPv4 ranges (RFC 6890) are refused unless the policy
//     allows them: loopback, private (RFC 1918 and shared 100.64/10),
//     link-local, and the ranges nothing legitimate is served from ("this
//     network", IETF assignments, TEST-NETs, benchmarking, multicast,
//     reserved, broadcast).
//   - Redirects are never followed (strake's client does not follow them,
//     and git is told not to), so a public URL cannot bounce into a private
//     one.
//
// A policy is a value; Parse reads `strake serve --egress-allow`.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake {

struct Cidr {
  uint32_t net = 0;  // host byte order, masked
  int bits = 32;
  bool Contains(uint32_t addr) const;
  static Result<Cidr> Parse(std::string_view text);  // "10.0.0.0/8" or "10.1.2.3"
};

class EgressPolicy {
 public:
  // The default: public addresses only, no file:// remotes.
  EgressPolicy() = default;
  // Everything allowed (`--egress-allow all`, and tests of other things).
  static EgressPolicy Open();
  // A comma-separated list of `loopback`, `private`, `link-local`, `file`
  // (file:// git remotes), `all`, or CIDRs such as 10.20.0.0/16.
  static Result<EgressPolicy> Parse(std::string_view list);

  // Ok when a connection to `addr` may be made; else an error naming `host`,
  // the address and the setting that would allow it.
  Status CheckAddress(std::string_view host, const in_addr& addr) const;
  bool allows_file() const { return file_; }
  // Every address (Open, or `all`).
  bool allows_all() const {
    return std::any_of(allowed_.begin(), allowed_.end(), [](const Cidr& c) { return c.bits == 0; });
  }
  // What Parse would read back ("" for the default).
  std::string ToString() const;

 private:
  std::vector<Cidr> allowed_;
  std::vector<std::string> names_;  // as given, for ToString
  bool file_ = false;
};

// host:port resolved (a name through the system's resolver, its first IPv4
// address) and checked against `policy` when one is given.
Result<sockaddr_in> ResolveTcp(const std::string& host, uint16_t port,
                               const EgressPolicy* policy = nullptr);

}  // namespace strake
