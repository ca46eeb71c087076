// A test inferlet: its first argument picks a scenario that exercises one part of the runtime.
// The runtime tests launch it and check the events it produces.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pie/pie.h"

namespace {

using Args = std::vector<std::string>;

pie::Result<std::string> hello(const Args& args) {
  std::printf("hello stdout\npartial");  // the partial line is flushed at exit
  std::fprintf(stderr, "to the engine log\n");
  for (size_t i = 1; i < args.size(); ++i) pie::send(args[i]);
  return std::string("done:") + std::to_string(args.size() - 1);
}

pie::Result<std::string> spin(const Args&) {
  volatile uint64_t x = 0;
  for (;;) x = x + 1;
}

pie::Result<std::string> grow(const Args&) {
  std::vector<char*> blocks;
  blocks.reserve(1000);
  while (blocks.size() < 1000) {
    char* block = new char[8 << 20];
    block[0] = 1;
    blocks.push_back(block);
    pie::send(std::to_string(blocks.size()));
  }
  return std::string("the memory never ran out");
}

pie::Result<std::string> echo(const Args& args) {
  const int n = std::atoi(args.at(1).c_str());
  for (int i = 0; i < n; ++i) pie::send("echo:" + pie::receive().get());
  return std::string("echoed");
}

pie::Result<std::string> wait_forever(const Args&) {
  pie::send("waiting");
  pie::receive().get();
  return std::string("unexpected");
}

pie::Result<std::string> blob(const Args&) {
  pie::Blob in = pie::receive_blob().get();
  std::string data = in.read_all();
  std::string reversed(data.rbegin(), data.rend());
  pie::Blob out(reversed.substr(0, 1));
  out.write(reversed.substr(1));
  pie::send_blob(out);
  return std::to_string(out.size());  // emptied by send_blob
}

pie::Result<std::string> subscriber(const Args& args) {
  pie::Subscription sub(args.at(1));
  const int n = std::atoi(args.at(2).c_str());
  pie::store::set("subscribed:" + pie::instance_id(), "1");
  pie::send("subscribed");
  std::string all;
  for (int i = 0; i < n; ++i) all += sub.next() + ";";
  return all;
}

pie::Result<std::string> publisher(const Args& args) {
  const int n = std::atoi(args.at(2).c_str());
  for (int i = 0; i < n; ++i) pie::broadcast(args.at(1), "m" + std::to_string(i));
  return std::string("published");
}

pie::Result<std::string> kvs(const Args&) {
  std::string log;
  log += pie::store::get("k").value_or("<none>") + ",";
  pie::store::set("k", "v1");
  log += pie::store::get("k").value_or("<none>") + ",";
  log += std::string(pie::store::exists("k") ? "yes" : "no") + ",";
  pie::store::set("big", std::string(2000, 'x'));
  log += std::to_string(pie::store::get("big")->size()) + ",";
  pie::store::remove("k");
  log += std::string(pie::store::exists("k") ? "yes" : "no") + ",";
  for (const auto& key : pie::store::keys()) log += key + "|";
  return log;
}

pie::Result<std::string> bad_handle(const Args&) {
  pie_drop(12345);
  return std::string("unexpected");
}

pie::Result<std::string> wrong_kind(const Args&) {
  pie::Blob b("x");
  pie_model_kv_page_size(b.handle());
  return std::string("unexpected");
}

pie::Result<std::string> bad_pointer(const Args&) {
  pie_send(reinterpret_cast<const char*>(0xFFFFFF00u), 1000);
  return std::string("unexpected");
}

pie::Result<std::string> not_ready(const Args&) {
  const pie_handle f = pie_receive();
  char buffer[8];
  pie_future_bytes(f, buffer, sizeof buffer);
  return std::string("unexpected");
}

pie::Result<std::string> wait_timeout(const Args&) {
  pie::Future<std::string> f = pie::receive();
  return std::string(f.wait_for(std::chrono::milliseconds(5)) ? "ready" : "timeout");
}

pie::Result<std::string> sleep_briefly(const Args&) {
  usleep(20000);
  return std::string("slept");
}

pie::Result<std::string> debug(const Args& args) {
  return pie::debug_query(args.at(1)).get();
}

pie::Result<std::string> fail(const Args&) {
  return pie::Error{"custom failure"};
}

pie::Result<std::string> exit3(const Args&) {
  std::exit(3);
}

pie::Result<std::string> big_result(const Args&) {
  // Arguments longer than the SDK's first buffer come back through pie_result_fetch.
  std::string all;
  for (const auto& a : pie::arguments()) all += std::to_string(a.size()) + ",";
  return all;
}

pie::Result<std::string> identity(const Args&) {
  return pie::runtime_version() + "|" + pie::instance_id();
}

pie::Result<std::string> http(const Args& args) {
  pie::http::Request r = pie::http::request();
  pie::http::set_status(201);
  pie::http::add_header("X-Instance", pie::instance_id());
  pie::http::write_body(r.method + " " + r.target + " " + r.header("x-test") + " " + r.body + " " +
                        (args.size() > 1 ? args[1] : ""));
  return std::string("served");
}

}  // namespace

PIE_MAIN(args) {
  if (args.empty()) return pie::Error{"no scenario"};
  const std::string& s = args[0];
  if (s == "hello") return hello(args);
  if (s == "spin") return spin(args);
  if (s == "grow") return grow(args);
  if (s == "echo") return echo(args);
  if (s == "wait_forever") return wait_forever(args);
  if (s == "blob") return blob(args);
  if (s == "subscriber") return subscriber(args);
  if (s == "publisher") return publisher(args);
  if (s == "kvs") return kvs(args);
  if (s == "bad_handle") return bad_handle(args);
  if (s == "wrong_kind") return wrong_kind(args);
  if (s == "bad_pointer") return bad_pointer(args);
  if (s == "not_ready") return not_ready(args);
  if (s == "wait_timeout") return wait_timeout(args);
  if (s == "sleep") return sleep_briefly(args);
  if (s == "debug") return debug(args);
  if (s == "fail") return fail(args);
  if (s == "exit3") return exit3(args);
  if (s == "big_result") return big_result(args);
  if (s == "identity") return identity(args);
  if (s == "http") return http(args);
  return pie::Error{"unknown scenario " + s};
}
