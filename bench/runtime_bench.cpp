// Runtime figures: launch latency of a cached Wasm program (launch -> Completed, sequential and
// concurrent), and the cost of a host call measured from inside the guest.
//   runtime_bench [launches=2000]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <vector>

#include "common/blake3.h"
#include "runtime/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

class Waiter : public pie::server::InstanceOwner {
 public:
  void on_message(const std::string&, std::string) override {}
  void on_blob(const std::string&, std::string) override {}
  void on_terminated(const std::string&, pie::server::TerminationCode code,
                     std::string message) override {
    std::lock_guard lock(mutex_);
    done_ = Clock::now();
    code_ = code;
    message_ = std::move(message);
    cv_.notify_all();
  }
  Clock::time_point wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done_ != Clock::time_point{}; });
    if (code_ != pie::server::TerminationCode::Normal) {
      std::fprintf(stderr, "instance failed: %s\n", message_.c_str());
      std::exit(1);
    }
    return done_;
  }
  std::string message() {
    std::lock_guard lock(mutex_);
    return message_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  Clock::time_point done_{};
  pie::server::TerminationCode code_{};
  std::string message_;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const int launches = argc > 1 ? std::atoi(argv[1]) : 2000;
  const std::filesystem::path guest =
      std::filesystem::path(PIE_BENCH_INFERLET_DIR) / "runtime_guest.wasm";
  std::ifstream in(guest, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "missing %s\n", guest.c_str());
    return 1;
  }
  const std::string wasm{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string hash = pie::blake3_hex(wasm);

  pie::runtime::RuntimeOptions options;
  options.warm_workers = 4;
  pie::engine::ModelRegistry models;  // none: launches and host calls need no model
  pie::runtime::Runtime runtime(options, models);
  runtime.add_program(hash, wasm);
  const uint64_t compiled = runtime.programs().compilations();

  // Sequential launches: launch -> Completed of a program that does nothing.
  std::vector<double> latency;
  for (int i = 0; i < launches; ++i) {
    auto owner = std::make_shared<Waiter>();
    const auto t0 = Clock::now();
    runtime.launch_instance(hash, {}, owner);
    latency.push_back(std::chrono::duration<double, std::micro>(owner->wait() - t0).count());
  }
  std::printf("launch -> completed, sequential (%d): p50 %.0f us, p99 %.0f us\n", launches,
              percentile(latency, 0.5), percentile(latency, 0.99));

  // Concurrent: 32 launches at once, repeated.
  std::vector<double> burst;
  for (int round = 0; round < launches / 32; ++round) {
    std::vector<std::shared_ptr<Waiter>> owners;
    const auto t0 = Clock::now();
    for (int i = 0; i < 32; ++i) {
      owners.push_back(std::make_shared<Waiter>());
      runtime.launch_instance(hash, {}, owners.back());
    }
    for (auto& o : owners) {
      burst.push_back(std::chrono::duration<double, std::micro>(o->wait() - t0).count());
    }
  }
  std::printf("launch -> completed, 32 at once: p50 %.0f us, p99 %.0f us\n", percentile(burst, 0.5),
              percentile(burst, 0.99));
  std::printf("compilations after the upload: %llu (must be 0)\n",
              static_cast<unsigned long long>(runtime.programs().compilations() - compiled));

  // A JavaScript program: a fresh context and module per instance.
  const std::string js = "export function main() { return ''; }";
  const std::string js_hash = pie::blake3_hex(js);
  runtime.add_program(js_hash, js);
  std::vector<double> js_latency;
  for (int i = 0; i < launches / 4; ++i) {
    auto owner = std::make_shared<Waiter>();
    const auto t0 = Clock::now();
    runtime.launch_instance(js_hash, {}, owner);
    js_latency.push_back(std::chrono::duration<double, std::micro>(owner->wait() - t0).count());
  }
  std::printf("JavaScript launch -> completed, sequential (%d): p50 %.0f us, p99 %.0f us\n",
              launches / 4, percentile(js_latency, 0.5), percentile(js_latency, 0.99));

  auto owner = std::make_shared<Waiter>();
  runtime.launch_instance(hash, {"calls", "10000000"}, owner);
  owner->wait();
  double empty = 0;
  double read = 0;
  std::sscanf(owner->message().c_str(), "%lf %lf", &empty, &read);
  std::printf("host call from Wasm: %.1f ns (no work), %.1f ns (blob_read of 16 bytes)\n", empty,
              read);
  return 0;
}
