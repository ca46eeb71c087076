// The real server on a FakeEngine, as a process, for tests written in other languages (the
// Python client's). Prints "PORT <n>" once it listens and serves until its stdin closes.
//
//   pie_fake_engine_server [--port N] [--secret S] [--no-auth]
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "common/error.h"
#include "server/server.h"
#include "server/testing/fake_engine.h"

int main(int argc, char** argv) {
  pie::server::ServerOptions options;
  options.port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      options.port = static_cast<uint16_t>(std::stoul(argv[++i]));
    } else if (arg == "--secret" && i + 1 < argc) {
      options.auth_secret = argv[++i];
    } else if (arg == "--no-auth") {
      options.enable_auth = false;
    } else {
      std::cerr << "usage: " << argv[0] << " [--port N] [--secret S] [--no-auth]\n";
      return 2;
    }
  }
  try {
    pie::server::testing::FakeEngine engine;
    pie::server::Server server(options, engine);
    server.start();
    std::cout << "PORT " << server.port() << std::endl;
    for (std::string line; std::getline(std::cin, line);) {
    }
    server.stop();
  } catch (const pie::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
