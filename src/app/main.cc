// strake: main() and wiring only.
#include <cstdio>
#include <exception>

#include "cli/commands.h"

int main(int argc, char** argv) {
  try {
    return strake::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strake: internal error: %s\n", e.what());
    return 3;
  }
}
