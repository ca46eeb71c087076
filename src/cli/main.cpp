// `pie`: serve an engine, run inferlets, mint tokens, inspect models. See README.md.
#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "common/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "pie: a programmable LLM serving system. Inferlets (WebAssembly or JavaScript programs) run "
      "next to the model and control generation themselves.",
      "pie"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pie 0.1.0");
  pie::cli::add_serve(app);
  pie::cli::add_run(app);
  pie::cli::add_token(app);
  pie::cli::add_status(app);
  pie::cli::add_model(app);
  pie::cli::add_backend(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const pie::cli::ExitRequest& e) {
    return e.code;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    const char* hint = what == "Not authenticated"
                           ? " (the engine requires a token: pass --token or set PIE_TOKEN; "
                             "`pie token` on the engine's machine mints one)"
                           : "";
    std::fprintf(stderr, "pie: error: %s%s\n", what.c_str(), hint);
    return pie::cli::kExitFailure;
  }
  return 0;
}
