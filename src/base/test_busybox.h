// Test helper: this machine's BusyBox and the shared libraries it loads
// (as `ldd` lists them), the files an image or root filesystem that runs
// BusyBox needs. Host paths, BusyBox first.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace strake::testing {

inline std::vector<std::string> BusyboxFiles() {
  std::vector<std::string> out = {"/usr/bin/busybox"};
  FILE* p = ::popen("ldd /usr/bin/busybox", "r");
  char line[512];
  while (p && fgets(line, sizeof line, p)) {
    std::string l = line;
    auto slash = l.find('/');
    if (slash == std::string::npos) continue;
    out.push_back(l.substr(slash, l.find_first_of(" \n(", slash) - slash));
  }
  if (p) ::pclose(p);
  return out;
}

}  // namespace strake::testing
