// Prints a greeting, echoes its arguments to the client, and returns them joined by spaces.
#include <cstdio>

#include "pie/pie.h"

PIE_MAIN(args) {
  std::printf("Hello from inferlet %s\n", pie::instance_id().c_str());
  std::string joined;
  for (const auto& arg : args) {
    pie::send(arg);
    if (!joined.empty()) joined += ' ';
    joined += arg;
  }
  return joined;
}
