// The model service's cost and its batching, as a table:
//   scheduler overhead per forward pass (fake backend that computes nothing), open loop
//   round trip of one pass, one stream: backend called directly, in process, remote over ZeroMQ
//   aggregate decode throughput of N streams through the service (each stream a thread that
//     waits for its token before sending the next pass, as an inferlet does) against the CPU
//     backend called directly with batches of N, on a random-weight model
//
//   engine_bench [--model <gguf>] [--models <folder>] [--threads N] [--steps N]
//                [--max-gather-us N] [--only-throughput]
//
// Without --model, a small Llama-shaped model (8 layers, dim 1024, Q8_0) is synthesised into
// <folder> (default: bench-models) with the Llama 2 tokenizer of ../shared.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/model/model_file.h"
#include "backend/model/synth.h"
#include "common/log.h"
#include "engine/testing/fake_backend.h"
#include "engine/testing/service_harness.h"

namespace {

using namespace pie;
using engine::ModelService;
using engine::testing::LinkKind;
using engine::testing::ServiceHarness;
using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr uint32_t kPage = 16;

// A sequence on pages it was given: passes that append tokens, with a greedy output at the last.
struct Seq {
  std::vector<uint32_t> pages;
  uint32_t length = 0;
  uint32_t next = 1;

  ForwardPassRequest append(const std::vector<uint32_t>& tokens, bool output = true) {
    ForwardPassRequest r;
    for (uint32_t t : tokens) {
      r.input_tokens.push_back(t);
      r.input_token_positions.push_back(length);
      r.mask.push_back({length + 1});
      ++length;
    }
    const uint32_t used = (length + kPage - 1) / kPage;
    r.kv_page_ptrs.assign(pages.begin(), pages.begin() + used);
    r.kv_page_last_len = length - kPage * (used - 1);
    if (output) {
      protocol::SamplerSpec greedy;
      greedy.kind = protocol::SamplerKind::Multinomial;
      greedy.temperature = 0;
      r.output_token_indices = {static_cast<uint32_t>(tokens.size() - 1)};
      r.output_token_samplers = {greedy};
    }
    return r;
  }
};

// Sends one pass and waits for it, as an inferlet thread does.
ForwardPassResponse round_trip(ModelService& s, engine::InstanceKey instance,
                               engine::StreamId queue, ForwardPassRequest r) {
  std::promise<Result<ForwardPassResponse>> reply;
  s.forward_pass(instance, queue, std::move(r),
                 [&reply](Result<ForwardPassResponse> out) { reply.set_value(std::move(out)); });
  return reply.get_future().get().value();
}

std::vector<uint32_t> allocate(ModelService& s, engine::InstanceKey instance, uint32_t pages) {
  std::promise<Result<std::vector<uint32_t>>> ids;
  s.allocate(instance, engine::ResourceType::KvPage, pages,
             [&ids](Result<std::vector<uint32_t>> r) { ids.set_value(std::move(r)); });
  return ids.get_future().get().value();
}

// ---- Scheduler overhead -------------------------------------------------------------------------

void scheduler_overhead() {
  constexpr int kStreams = 64;
  constexpr int kPasses = 300;
  engine::testing::FakeBackendOptions fake;
  fake.page_size = kPage;
  fake.capacities = {{0, 4096}};

  // The fake backend alone, with batches of kStreams decodes.
  double backend_s = 0;
  {
    engine::testing::FakeBackend backend(fake);
    std::vector<Seq> seqs(kStreams);
    for (int i = 0; i < kStreams; ++i) {
      for (uint32_t p = 0; p < (kPasses + kPage) / kPage; ++p) {
        seqs[i].pages.push_back(static_cast<uint32_t>(i * 32 + p));
      }
    }
    const auto t0 = Clock::now();
    for (int step = 0; step < kPasses; ++step) {
      std::vector<ForwardPassRequest> batch;
      for (Seq& s : seqs) batch.push_back(s.append({7}, false));
      backend.forward_pass(batch);
    }
    backend_s = seconds_since(t0);
  }
  // The same passes through the service: every stream submits all its passes at once.
  ServiceHarness h(LinkKind::InProcess, fake);
  ModelService& s = h.service();
  std::vector<Seq> seqs(kStreams);
  std::vector<engine::StreamId> queues;
  for (int i = 0; i < kStreams; ++i) {
    seqs[i].pages = allocate(s, i + 1, (kPasses + kPage) / kPage);
    queues.push_back(s.create_stream());
  }
  const auto t0 = Clock::now();
  for (int step = 0; step < kPasses; ++step) {
    for (int i = 0; i < kStreams; ++i)
      s.forward_pass(i + 1, queues[i], seqs[i].append({7}, false), nullptr);
  }
  std::vector<std::promise<Status>> synced(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    s.synchronize(queues[i], [&synced, i](Status r) { synced[i].set_value(std::move(r)); });
  }
  for (auto& p : synced) p.get_future().get().value();
  const double engine_s = seconds_since(t0);
  const double passes = kStreams * kPasses;
  const auto status = s.status();
  std::printf("scheduler, %d streams x %d passes, fake backend (open loop)\n", kStreams, kPasses);
  std::printf("  backend alone %8.2f us/pass\n", backend_s / passes * 1e6);
  std::printf("  via service   %8.2f us/pass  (overhead %.2f us/pass, %s batches, mean %s)\n\n",
              engine_s / passes * 1e6, (engine_s - backend_s) / passes * 1e6,
              status.at("fake.scheduler.batches").c_str(),
              status.at("fake.scheduler.mean_batch_size").c_str());
}

// ---- Round trip ---------------------------------------------------------------------------------

double round_trip_us(LinkKind kind, int passes) {
  engine::testing::FakeBackendOptions fake;
  fake.page_size = kPage;
  fake.capacities = {{0, 4096}};
  ServiceHarness h(kind, fake);
  ModelService& s = h.service();
  const engine::StreamId q = s.create_stream();
  Seq seq;
  seq.pages = allocate(s, 1, 1);
  const auto t0 = Clock::now();
  for (int i = 0; i < passes; ++i) {
    Seq step = seq;  // the same one-token pass again and again
    round_trip(s, 1, q, step.append({3}));
  }
  return seconds_since(t0) / passes * 1e6;
}

void round_trips() {
  constexpr int kPasses = 3000;
  engine::testing::FakeBackendOptions fake;
  fake.page_size = kPage;
  engine::testing::FakeBackend direct(fake);
  Seq seq;
  seq.pages = {0};
  const auto t0 = Clock::now();
  for (int i = 0; i < kPasses; ++i) {
    Seq step = seq;
    direct.forward_pass(std::vector{step.append({3})});
  }
  const double direct_us = seconds_since(t0) / kPasses * 1e6;
  const double local_us = round_trip_us(LinkKind::InProcess, kPasses);
  const double remote_us = round_trip_us(LinkKind::Remote, kPasses);
  std::printf("round trip of one pass, one stream, fake backend\n");
  std::printf("  backend called directly %8.1f us\n", direct_us);
  std::printf("  service, in process     %8.1f us\n", local_us);
  std::printf("  service, ZeroMQ tcp     %8.1f us  (+%.1f us over in process)\n\n", remote_us,
              remote_us - local_us);
}

// ---- Throughput on the CPU backend
// ---------------------------------------------------------------

std::filesystem::path small_model(const std::filesystem::path& folder) {
  const std::filesystem::path path = folder / "engine-bench-llama-8x1024-Q8_0.gguf";
  if (std::filesystem::exists(path)) return path;
  const char* env = std::getenv("PIE_SHARED");
  const std::filesystem::path shared = env != nullptr ? env : PIE_SHARED_DEFAULT;
  std::filesystem::create_directories(folder);
  model::SynthOptions o;
  o.config.arch = model::Architecture::Llama;
  o.config.name = "engine-bench";
  o.config.dim = 1024;
  o.config.n_layers = 8;
  o.config.n_heads = 16;
  o.config.n_kv_heads = 4;
  o.config.head_dim = 64;
  o.config.ffn_dim = 2816;
  o.config.vocab_size = 32000;
  o.config.context_length = 2048;
  o.config.rope.dims = 64;
  o.type = model::GgmlType::Q8_0;
  o.tokenizer = shared / "tokenizers" / "llama2" / "tokenizer.bin";
  o.output = folder / "engine-bench.partial";
  std::printf("synthesising %s ...\n", path.c_str());
  model::synth_model(o);
  std::filesystem::rename(o.output, path);
  return path;
}

cpu::CpuBackendOptions cpu_options(unsigned threads) {
  cpu::CpuBackendOptions o;
  o.kv_page_size = kPage;
  o.kv_pages = 2048;
  o.threads = threads;
  o.seed = 1;
  return o;
}

constexpr uint32_t kPrompt = 16;

// Tokens/s of `streams` sequences decoded in lockstep by calling the backend directly.
double raw_throughput(const std::shared_ptr<const model::ModelFile>& m, unsigned threads,
                      int streams, int steps) {
  cpu::CpuBackend backend(m, cpu_options(threads));
  std::vector<Seq> seqs(streams);
  const uint32_t pages = (kPrompt + steps + kPage) / kPage;
  for (int i = 0; i < streams; ++i) {
    for (uint32_t p = 0; p < pages; ++p) seqs[i].pages.push_back(i * pages + p);
    std::vector<uint32_t> prompt(kPrompt, 100 + i);
    backend.forward_pass(std::vector{seqs[i].append(prompt)});
  }
  const auto t0 = Clock::now();
  for (int step = 0; step < steps; ++step) {
    std::vector<ForwardPassRequest> batch;
    for (Seq& s : seqs) batch.push_back(s.append({s.next}));
    const auto out = backend.forward_pass(batch);
    for (int i = 0; i < streams; ++i) seqs[i].next = out[i].tokens.at(0);
  }
  return streams * steps / seconds_since(t0);
}

struct ServiceFigures {
  double tokens_per_s;
  std::string mean_batch;
};

// Tokens/s of `streams` threads, each decoding its own sequence through the service.
ServiceFigures service_throughput(const std::shared_ptr<const model::ModelFile>& m,
                                  unsigned threads, int streams, int steps, LinkKind kind,
                                  std::chrono::microseconds max_gather) {
  engine::ModelServiceOptions options;
  options.max_gather = max_gather;
  ServiceHarness h(kind, std::make_unique<cpu::CpuBackend>(m, cpu_options(threads)), options);
  ModelService& s = h.service();
  const uint32_t pages = (kPrompt + steps + kPage) / kPage;
  std::vector<Seq> seqs(streams);
  std::vector<engine::StreamId> queues;
  for (int i = 0; i < streams; ++i) {
    seqs[i].pages = allocate(s, i + 1, pages);
    queues.push_back(s.create_stream());
    round_trip(s, i + 1, queues[i], seqs[i].append(std::vector<uint32_t>(kPrompt, 100 + i)));
  }
  const auto before = s.status();
  const auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int i = 0; i < streams; ++i) {
    workers.emplace_back([&, i] {
      for (int step = 0; step < steps; ++step) {
        const auto out = round_trip(s, i + 1, queues[i], seqs[i].append({seqs[i].next}));
        seqs[i].next = out.tokens.at(0);
      }
    });
  }
  for (auto& w : workers) w.join();
  const double elapsed = seconds_since(t0);
  const auto after = s.status();
  const std::string p = s.info().name + ".scheduler.";
  const double batches = std::stod(after.at(p + "batches")) - std::stod(before.at(p + "batches"));
  char mean[32];
  std::snprintf(mean, sizeof mean, "%.1f", streams * steps / batches);
  return {streams * steps / elapsed, mean};
}

void throughput(const std::filesystem::path& model_path, unsigned threads, int steps,
                std::chrono::microseconds max_gather) {
  auto m = std::make_shared<const model::ModelFile>(model::open_model(model_path));
  std::printf(
      "decode throughput, %s, %u threads, %d steps after a %u-token prompt, gather <= %lld us\n",
      model_path.filename().c_str(), threads, steps, kPrompt,
      static_cast<long long>(max_gather.count()));
  std::printf("  %7s  %12s  %12s  %6s  %10s  %12s  %6s\n", "streams", "raw tok/s", "service",
              "ratio", "mean batch", "remote", "ratio");
  // The machine is shared: each figure is the best of three runs, the three kinds interleaved.
  for (int streams : {1, 4, 16}) {
    double raw = 0;
    ServiceFigures local{0, ""};
    ServiceFigures remote{0, ""};
    for (int round = 0; round < 3; ++round) {
      raw = std::max(raw, raw_throughput(m, threads, streams, steps));
      const ServiceFigures l =
          service_throughput(m, threads, streams, steps, LinkKind::InProcess, max_gather);
      if (l.tokens_per_s > local.tokens_per_s) local = l;
      const ServiceFigures r =
          service_throughput(m, threads, streams, steps, LinkKind::Remote, max_gather);
      if (r.tokens_per_s > remote.tokens_per_s) remote = r;
    }
    std::printf("  %7d  %12.1f  %12.1f  %6.2f  %10s  %12.1f  %6.2f\n", streams, raw,
                local.tokens_per_s, local.tokens_per_s / raw, local.mean_batch.c_str(),
                remote.tokens_per_s, remote.tokens_per_s / raw);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cost and batching of the model service"};
  std::filesystem::path model_path;
  std::filesystem::path folder = "bench-models";
  unsigned threads = 0;
  int steps = 32;
  int64_t max_gather_us = engine::ModelServiceOptions{}.max_gather.count();
  bool only_throughput = false;
  app.add_option("--model", model_path, "GGUF model for the throughput table");
  app.add_option("--models", folder, "where to synthesise the default model");
  app.add_option("--threads", threads, "CPU backend threads (0: all)");
  app.add_option("--steps", steps, "decode steps per stream");
  app.add_option("--max-gather-us", max_gather_us, "the service's longest gather window");
  app.add_flag("--only-throughput", only_throughput, "skip the fake-backend figures");
  CLI11_PARSE(app, argc, argv);
  pie::log::set_level(pie::log::Level::Warn);

  if (!only_throughput) {
    scheduler_overhead();
    round_trips();
  }
  throughput(model_path.empty() ? small_model(folder) : model_path, threads, steps,
             std::chrono::microseconds(max_gather_us));
  return 0;
}
