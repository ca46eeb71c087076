// The model service over the CPU backend on a real model (stories260K): the golden text, and
// sequences decoded together in shared batches give exactly the tokens each gives alone.
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>

#include "backend/cpu/cpu_backend.h"
#include "backend/model/model_file.h"
#include "backend/tokenizer/tokenizer.h"
#include "engine/testing/gated_backend.h"
#include "engine/testing/service_harness.h"
#include "shared_data.h"

namespace pie::engine {
namespace {

using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using testing::GatedBackend;
using testing::LinkKind;
using testing::PassGate;
using testing::ServiceHarness;

constexpr const char* kGolden = ::pie::testing::kStories260kGolden;
constexpr uint32_t kBos = 1;
constexpr uint32_t kPage = 16;

// One sequence decoded greedily, a pass per token, on its own queue.
class Decoder {
 public:
  Decoder(ModelService& service, InstanceKey instance, std::vector<uint32_t> pages,
          uint32_t first_token, int steps)
      : service_(service),
        instance_(instance),
        queue_(service.create_stream()),
        pages_(std::move(pages)),
        next_(first_token),
        steps_(steps) {}

  // Submits the next pass; `then` runs with the outcome (on the backend link's thread).
  void step(const std::function<void(Decoder&, bool ok)>& then) {
    ForwardPassRequest r;
    r.input_tokens = {next_};
    r.input_token_positions = {length_};
    ++length_;
    const uint32_t used = (length_ + kPage - 1) / kPage;
    r.kv_page_ptrs.assign(pages_.begin(), pages_.begin() + used);
    r.kv_page_last_len = length_ - kPage * (used - 1);
    r.mask = {{length_}};  // attend to every slot so far
    r.output_token_indices = {0};
    protocol::SamplerSpec greedy;
    greedy.kind = protocol::SamplerKind::Multinomial;
    greedy.temperature = 0;
    r.output_token_samplers = {greedy};
    service_.forward_pass(instance_, queue_, std::move(r),
                          [this, then](Result<ForwardPassResponse> out) {
                            const bool ok = out.ok() && out.value().tokens.size() == 1;
                            if (!out.ok()) ADD_FAILURE() << out.error().what();
                            if (ok) {
                              next_ = out.value().tokens[0];
                              tokens_.push_back(next_);
                            }
                            then(*this, ok);
                          });
  }
  bool finished() const { return static_cast<int>(tokens_.size()) >= steps_; }
  const std::vector<uint32_t>& tokens() const { return tokens_; }

 private:
  ModelService& service_;
  const InstanceKey instance_;
  const StreamId queue_;
  const std::vector<uint32_t> pages_;
  uint32_t next_;
  uint32_t length_ = 0;
  const int steps_;
  std::vector<uint32_t> tokens_;
};

// Runs every decoder to the end, all at once: each submits its next pass as soon as it has the
// previous token, so passes of different decoders share batches. The first decoder's first pass is
// held until every decoder has queued its own, so they are in flight together however the threads
// are scheduled (on a loaded machine one could otherwise finish before the next one starts).
void run_together(std::vector<std::unique_ptr<Decoder>>& decoders, PassGate& gate) {
  std::mutex mutex;
  std::condition_variable cv;
  size_t done = 0;
  std::function<void(Decoder&, bool)> next = [&](Decoder& d, bool ok) {
    if (ok && !d.finished()) {
      d.step(next);
      return;
    }
    std::lock_guard lock(mutex);
    ++done;
    cv.notify_all();
  };
  gate.hold();
  decoders[0]->step(next);
  const bool started = gate.wait_started(1, std::chrono::seconds(20));
  for (size_t i = 1; i < decoders.size(); ++i) decoders[i]->step(next);
  gate.release();
  ASSERT_TRUE(started);
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return done == decoders.size(); });
}

class StoriesService : public ::testing::TestWithParam<LinkKind> {
 protected:
  void SetUp() override {
    PIE_REQUIRE_SHARED(path, "models/stories260K/stories260K.bin");
    auto model = std::make_shared<const model::ModelFile>(model::open_model(path));
    cpu::CpuBackendOptions o;
    o.kv_page_size = kPage;
    o.kv_pages = 512;
    o.threads = 2;
    o.seed = 1;
    auto gated = std::make_unique<GatedBackend>(std::make_unique<cpu::CpuBackend>(model, o));
    gate_ = &gated->gate();
    h_ = std::make_unique<ServiceHarness>(GetParam(), std::move(gated));
  }

  std::unique_ptr<Decoder> decoder(InstanceKey instance, uint32_t first, int steps) {
    const uint32_t pages = (static_cast<uint32_t>(steps) + kPage) / kPage;
    return std::make_unique<Decoder>(
        h_->service(), instance, h_->allocate(instance, ResourceType::KvPage, pages), first, steps);
  }

  PassGate* gate_ = nullptr;
  std::unique_ptr<ServiceHarness> h_;
};

INSTANTIATE_TEST_SUITE_P(Links, StoriesService,
                         ::testing::Values(LinkKind::InProcess, LinkKind::Remote),
                         [](const auto& info) {
                           return info.param == LinkKind::InProcess ? "InProcess" : "Remote";
                         });

TEST_P(StoriesService, GeneratesTheGoldenText) {
  const auto& tok = h_->service().info().tokenizer;
  ASSERT_NE(tok, nullptr);  // built from the handshake's tokenizer spec
  std::vector<std::unique_ptr<Decoder>> one;
  one.push_back(decoder(1, kBos, 200));
  run_together(one, *gate_);
  std::string text;
  uint32_t previous = kBos;
  for (uint32_t t : one[0]->tokens()) {
    if (t == kBos) break;
    std::string piece = tok->token_bytes(t);
    if (previous == kBos && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    text += piece;
    previous = t;
  }
  EXPECT_EQ(text, kGolden);
}

TEST_P(StoriesService, SequencesBatchedTogetherGiveTheTokensTheyGiveAlone) {
  constexpr int kSequences = 6;
  constexpr int kSteps = 32;
  std::vector<std::vector<uint32_t>> alone;
  for (int i = 0; i < kSequences; ++i) {
    std::vector<std::unique_ptr<Decoder>> one;
    one.push_back(decoder(100 + i, 20 + 37 * i, kSteps));
    run_together(one, *gate_);
    alone.push_back(one[0]->tokens());
    h_->service().cleanup(100 + i);
  }
  const auto before = h_->service().status();
  std::vector<std::unique_ptr<Decoder>> all;
  all.reserve(kSequences);
  for (int i = 0; i < kSequences; ++i) all.push_back(decoder(200 + i, 20 + 37 * i, kSteps));
  run_together(all, *gate_);
  for (int i = 0; i < kSequences; ++i) {
    ASSERT_EQ(alone[i].size(), static_cast<size_t>(kSteps));
    EXPECT_EQ(all[i]->tokens(), alone[i]) << "sequence " << i;
  }
  const auto after = h_->service().status();
  const uint64_t batches = std::stoull(after.at("stories260K.scheduler.batches")) -
                           std::stoull(before.at("stories260K.scheduler.batches"));
  // How many depends on thread scheduling; the held decoders shared a batch anyway.
  EXPECT_LT(batches, static_cast<uint64_t>(kSequences * kSteps)) << batches << " batches";
}

}  // namespace
}  // namespace pie::engine
