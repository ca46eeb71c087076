// The model service over the fake backend, each scenario both in process and over ZeroMQ: the
// two links must behave the same.
#include "engine/model_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

#include "engine/testing/service_harness.h"

namespace pie::engine {
namespace {

using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using protocol::SamplerKind;
using protocol::SamplerSpec;
using ::testing::ElementsAre;
using testing::FakeBackend;
using testing::FakeBackendOptions;
using ::testing::HasSubstr;
using testing::LinkKind;
using testing::Outcome;
using testing::ServiceHarness;

constexpr ResourceType kKv = ResourceType::KvPage;
constexpr uint32_t kPage = 4;
constexpr uint32_t kVocab = 1000;

// A sequence on pages the caller allocated, growing by passes; it knows what the fake backend
// will answer (the sum of every token so far plus the last token's position, mod vocab).
struct Sequence {
  std::vector<uint32_t> pages;
  uint32_t length = 0;
  uint64_t sum = 0;

  // A pass appending `tokens`, with a sampled token output at the last one when `output`.
  ForwardPassRequest append(const std::vector<uint32_t>& tokens, bool output = true) {
    ForwardPassRequest r;
    for (uint32_t t : tokens) {
      r.input_tokens.push_back(t);
      r.input_token_positions.push_back(length++);
      sum += t;
    }
    const uint32_t used = (length + kPage - 1) / kPage;
    r.kv_page_ptrs.assign(pages.begin(), pages.begin() + used);
    r.kv_page_last_len = length - kPage * (used - 1);
    if (output) {
      r.output_token_indices = {static_cast<uint32_t>(tokens.size() - 1)};
      SamplerSpec s;
      s.kind = SamplerKind::Multinomial;
      r.output_token_samplers = {s};
    }
    return r;
  }
  uint32_t expected() const { return FakeBackend::output_of(sum, length - 1, kVocab); }
};

FakeBackendOptions pool_of(uint32_t pages) {
  FakeBackendOptions o;
  o.capacities = {{0, pages}, {1, 2}, {2, 2}};
  return o;
}

class ModelServiceTest : public ::testing::TestWithParam<LinkKind> {
 protected:
  void start(FakeBackendOptions backend = {}, ModelServiceOptions service = {}) {
    backend.page_size = kPage;
    backend.vocab = kVocab;
    h_ = std::make_unique<ServiceHarness>(GetParam(), std::move(backend), service);
  }
  void TearDown() override { h_.reset(); }

  ModelService& service() { return h_->service(); }
  FakeBackend& backend() { return h_->backend(); }

  Sequence sequence(InstanceKey instance, uint32_t pages) {
    return Sequence{h_->allocate(instance, kKv, pages)};
  }

  std::unique_ptr<ServiceHarness> h_;
};

INSTANTIATE_TEST_SUITE_P(Links, ModelServiceTest,
                         ::testing::Values(LinkKind::InProcess, LinkKind::Remote),
                         [](const auto& info) {
                           return info.param == LinkKind::InProcess ? "InProcess" : "Remote";
                         });

TEST_P(ModelServiceTest, HandshakeDescribesTheModel) {
  start();
  const ModelInfo& info = service().info();
  EXPECT_EQ(info.name, "fake");
  EXPECT_EQ(info.kv_page_size, kPage);
  EXPECT_EQ(info.max_dist_size, 8U);
  EXPECT_THAT(info.traits, ElementsAre("fake"));
  EXPECT_EQ(info.capacities.at(0), 64U);
  EXPECT_EQ(info.tokenizer, nullptr);
}

TEST_P(ModelServiceTest, ForwardPassesSeeWhatEarlierPassesWrote) {
  start();
  Sequence seq = sequence(1, 3);
  const StreamId q = service().create_stream();
  service().forward_pass(1, q, seq.append({5, 6, 7}, false), nullptr);  // fire and forget
  Outcome<ForwardPassResponse> out;
  service().forward_pass(1, q, seq.append({8, 9}), out.callback());
  EXPECT_THAT(out.get().value().tokens, ElementsAre(seq.expected()));
  EXPECT_TRUE(h_->terminations().empty());
}

TEST_P(ModelServiceTest, CommandsOfAQueueRunInSubmissionOrder) {
  start();
  Sequence seq = sequence(1, 4);
  const StreamId q = service().create_stream();
  backend().hold();
  service().forward_pass(1, q, seq.append({1, 2}, false), nullptr);
  Outcome<std::string> query;
  service().query(q, "after-first", query.callback());
  Outcome<Done> sync;
  service().synchronize(q, sync.callback());
  Outcome<ForwardPassResponse> second;
  service().forward_pass(1, q, seq.append({3}), second.callback());
  Outcome<Done> sync2;
  service().synchronize(q, sync2.callback());

  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  EXPECT_FALSE(sync.ready());  // the first pass has not run yet
  EXPECT_FALSE(query.ready());
  backend().release();
  EXPECT_TRUE(sync.get().ok());
  EXPECT_EQ(query.get().value(), "echo: after-first");
  EXPECT_TRUE(sync2.get().ok());
  EXPECT_TRUE(second.ready());  // resolved before the synchronize that followed it
  EXPECT_THAT(second.get().value().tokens, ElementsAre(seq.expected()));
  EXPECT_THAT(backend().calls(), ElementsAre("forward 1", "query after-first", "forward 3"));
}

TEST_P(ModelServiceTest, QueuesProceedIndependently) {
  start();
  Sequence a = sequence(1, 1);
  const StreamId qa = service().create_stream();
  const StreamId qb = service().create_stream();
  backend().hold();
  Outcome<ForwardPassResponse> pass;
  service().forward_pass(1, qa, a.append({4}), pass.callback());
  Outcome<Done> sync_a;
  service().synchronize(qa, sync_a.callback());
  Outcome<Done> sync_b;
  service().synchronize(qb, sync_b.callback());
  EXPECT_TRUE(sync_b.get().ok());  // queue b has nothing to wait for
  EXPECT_FALSE(sync_a.ready());
  backend().release();
  EXPECT_TRUE(sync_a.get().ok());
  EXPECT_TRUE(pass.get().ok());
}

TEST_P(ModelServiceTest, PassesQueuedWhileABatchRunsGoTogetherInTheNext) {
  start();
  constexpr int kStreams = 24;
  std::vector<Sequence> seqs;
  std::vector<StreamId> queues;
  for (int i = 0; i < kStreams; ++i) {
    seqs.push_back(sequence(i + 1, 1));
    queues.push_back(service().create_stream());
  }
  backend().hold();
  std::vector<Outcome<ForwardPassResponse>> outs(kStreams);
  service().forward_pass(1, queues[0], seqs[0].append({7}), outs[0].callback());
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  for (int i = 1; i < kStreams; ++i) {
    service().forward_pass(i + 1, queues[i], seqs[i].append({static_cast<uint32_t>(i)}),
                           outs[i].callback());
  }
  backend().release();
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_THAT(outs[i].get().value().tokens, ElementsAre(seqs[i].expected())) << i;
  }
  const auto batches = backend().batches();
  ASSERT_EQ(batches.size(), 2U);
  EXPECT_EQ(batches[0].requests, 1U);
  EXPECT_EQ(batches[1].requests, static_cast<size_t>(kStreams - 1));
  const auto status = service().status();
  EXPECT_EQ(status.at("fake.scheduler.batches"), "2");
  EXPECT_EQ(status.at("fake.scheduler.forward_passes"), std::to_string(kStreams));
  EXPECT_EQ(status.at("fake.scheduler.mean_batch_size"), "12.00");
}

// Streams that each decode step after step, submitting the next pass from the callback of the
// previous one, share batches: far fewer batches than passes, and every token is right.
TEST_P(ModelServiceTest, ConcurrentDecodersShareBatches) {
  start(pool_of(128));
  constexpr int kStreams = 16;
  constexpr int kSteps = 20;
  struct Decoder {
    Sequence seq;
    StreamId queue;
    std::vector<uint32_t> got;
    std::vector<uint32_t> expected;
  };
  std::vector<Decoder> decoders(kStreams);
  std::mutex mutex;
  std::condition_variable finished;
  int done = 0;
  std::function<void(int)> step = [&](int i) {
    Decoder& d = decoders[i];
    const uint32_t token = d.got.empty() ? static_cast<uint32_t>(i) : d.got.back();
    ForwardPassRequest r = d.seq.append({token});
    d.expected.push_back(d.seq.expected());
    service().forward_pass(i + 1, d.queue, std::move(r), [&, i](Result<ForwardPassResponse> out) {
      Decoder& me = decoders[i];
      me.got.push_back(out.ok() && out.value().tokens.size() == 1 ? out.value().tokens[0] : ~0U);
      if (me.got.size() < static_cast<size_t>(kSteps)) {
        step(i);
        return;
      }
      std::lock_guard lock(mutex);
      ++done;
      finished.notify_all();
    });
  };
  for (int i = 0; i < kStreams; ++i) {
    decoders[i].seq = sequence(i + 1, (kSteps + kPage - 1) / kPage);
    decoders[i].queue = service().create_stream();
  }
  // The first pass runs alone and is held until every stream has queued its first pass, so the
  // streams are in flight together however the threads are scheduled (on a loaded machine one
  // stream could otherwise finish every step before the next one starts).
  backend().hold();
  step(0);
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  for (int i = 1; i < kStreams; ++i) step(i);
  backend().release();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(
        finished.wait_for(lock, std::chrono::seconds(30), [&] { return done == kStreams; }));
  }
  for (const Decoder& d : decoders) EXPECT_EQ(d.got, d.expected);
  // How many batches it takes after the first two depends on how the threads were scheduled (the
  // fake backend answers in microseconds, so the gather window is as short); on a quiet machine it
  // is about one batch per step. What holds anyway is that the held streams shared a batch.
  const size_t batches = backend().batches().size();
  EXPECT_LT(batches, static_cast<size_t>(kStreams * kSteps)) << batches << " batches";
}

TEST_P(ModelServiceTest, TokenBudgetCutsALongPrefillAndKeepsDecodesGoing) {
  ModelServiceOptions options;
  options.max_batch_tokens = 8;
  start({}, options);
  Sequence running = sequence(1, 1);
  Sequence prefill = sequence(2, 8);
  std::vector<Sequence> decoders;
  for (int i = 0; i < 3; ++i) decoders.push_back(sequence(3 + i, 1));
  const StreamId q_running = service().create_stream();
  const StreamId q_prefill = service().create_stream();
  backend().hold();
  service().forward_pass(1, q_running, running.append({1}), nullptr);
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));

  std::vector<uint32_t> prompt(30);
  std::iota(prompt.begin(), prompt.end(), 100);
  ForwardPassRequest long_pass = prefill.append(prompt);
  long_pass.output_token_indices = {29, 3, 17};  // outputs in every chunk, out of order
  long_pass.output_token_samplers.assign(3, long_pass.output_token_samplers[0]);
  long_pass.output_token_samplers[1].kind = SamplerKind::Distribution;
  Outcome<ForwardPassResponse> long_out;
  service().forward_pass(2, q_prefill, long_pass, long_out.callback());
  std::vector<Outcome<ForwardPassResponse>> decode_outs(3);
  for (int i = 0; i < 3; ++i) {
    service().forward_pass(3 + i, service().create_stream(),
                           decoders[i].append({static_cast<uint32_t>(50 + i)}),
                           decode_outs[i].callback());
  }
  backend().release();

  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(decode_outs[i].get().value().tokens, ElementsAre(decoders[i].expected()));
  }
  const ForwardPassResponse& got = long_out.get().value();
  // The same pass, whole, on a fresh backend.
  FakeBackendOptions fresh;
  fresh.page_size = kPage;
  FakeBackend reference(fresh);
  const ForwardPassResponse want = reference.forward_pass(std::vector{long_pass})[0];
  EXPECT_EQ(got.tokens, want.tokens);
  ASSERT_EQ(got.dists.size(), 1U);
  EXPECT_EQ(got.dists[0].ids, want.dists[0].ids);

  const auto batches = backend().batches();
  uint32_t total = 0;
  for (const auto& b : batches) {
    EXPECT_LE(b.tokens, 8U);
    total += b.tokens;
  }
  EXPECT_EQ(total, 1U + 30U + 3U);
  ASSERT_GE(batches.size(), 2U);
  EXPECT_EQ(batches[1].requests, 4U);  // the three decodes and the first chunk of the prefill
  EXPECT_EQ(batches[1].tokens, 8U);
}

TEST_P(ModelServiceTest, HigherPriorityQueuesGoFirstWhenTheBudgetBinds) {
  ModelServiceOptions options;
  options.max_batch_tokens = 2;
  start({}, options);
  std::vector<Sequence> seqs;
  for (int i = 0; i < 4; ++i) seqs.push_back(sequence(i + 1, 1));
  backend().hold();
  service().forward_pass(1, service().create_stream(), seqs[0].append({10}), nullptr);
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  const Priority order[] = {Priority::Low, Priority::Normal, Priority::High};
  std::vector<Outcome<ForwardPassResponse>> outs(3);
  for (int i = 0; i < 3; ++i) {
    const StreamId q = service().create_stream();
    service().set_priority(q, order[i]);
    service().forward_pass(i + 2, q, seqs[i + 1].append({static_cast<uint32_t>(11 + i)}),
                           outs[i].callback());
  }
  backend().release();
  for (auto& o : outs) EXPECT_TRUE(o.get().ok());
  // High (13) and normal (12) share the second batch; low (11) runs last.
  EXPECT_THAT(backend().calls(),
              ElementsAre("forward 10", "forward 13", "forward 12", "forward 11"));
}

TEST_P(ModelServiceTest, DistributionTopKIsClampedToTheBackendMaximum) {
  FakeBackendOptions fake;
  fake.record_requests = true;
  start(fake);
  Sequence seq = sequence(1, 1);
  ForwardPassRequest r = seq.append({3});
  r.output_token_samplers[0].kind = SamplerKind::Distribution;
  r.output_token_samplers[0].top_k = 500;
  Outcome<ForwardPassResponse> out;
  service().forward_pass(1, service().create_stream(), r, out.callback());
  ASSERT_EQ(out.get().value().dists.size(), 1U);
  EXPECT_EQ(out.get().value().dists[0].ids.size(), 8U);
  EXPECT_EQ(backend().requests().at(0).output_token_samplers[0].top_k, 8U);
}

TEST_P(ModelServiceTest, PassesMayNameOnlyPagesTheInstanceHoldsOrImported) {
  start();
  Sequence mine = sequence(1, 2);
  Sequence theirs = sequence(2, 1);
  const StreamId q = service().create_stream();
  Outcome<ForwardPassResponse> refused;
  Sequence borrowed{{mine.pages[0], theirs.pages[0]}};
  service().forward_pass(1, q, borrowed.append({1, 2, 3, 4, 5}), refused.callback());
  ASSERT_FALSE(refused.get().ok());
  EXPECT_THAT(refused.get().error().what(),
              HasSubstr("names KV page " + std::to_string(theirs.pages[0]) +
                        ", which this instance neither holds nor imported"));

  // Without a callback the instance is terminated instead.
  service().forward_pass(1, q, borrowed.append({1}, false), nullptr);
  ASSERT_TRUE(h_->wait_terminations(1));
  EXPECT_EQ(h_->terminations()[0].instance, 1U);
  EXPECT_EQ(h_->terminations()[0].code, kTerminateException);

  // Imported pages may be named, until the export is released.
  service().export_resources(2, kKv, theirs.pages, "shared");
  EXPECT_EQ(service().import_resources(1, kKv, "shared"), theirs.pages);
  Sequence both{{theirs.pages[0], mine.pages[0]}};
  Outcome<ForwardPassResponse> allowed;
  service().forward_pass(1, q, both.append({1, 2, 3, 4, 5}), allowed.callback());
  EXPECT_TRUE(allowed.get().ok());
  service().release_exported(kKv, "shared");
  Outcome<ForwardPassResponse> after_release;
  service().forward_pass(1, q, both.append({6}), after_release.callback());
  EXPECT_FALSE(after_release.get().ok());
}

// An importer's pass does not overtake the passes that were filling the pages when they were
// exported, even when they sit behind other commands of the exporter's queue.
TEST_P(ModelServiceTest, ImportersWaitForThePassesFillingAnExport) {
  start();
  Sequence busy = sequence(1, 1);
  Sequence shared = sequence(1, 1);
  const auto own = h_->allocate(2, kKv, 1);
  const StreamId q1 = service().create_stream();
  backend().hold();
  service().forward_pass(1, q1, busy.append({1}, false), nullptr);
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  service().forward_pass(1, q1, shared.append({10, 20, 30, 40}, false), nullptr);
  service().export_resources(1, kKv, shared.pages, "prefix");
  const auto imported = service().import_resources(2, kKv, "prefix");
  Sequence reader{{imported[0], own[0]}, 4, 100};  // the exported page holds 4 tokens
  Outcome<ForwardPassResponse> out;
  service().forward_pass(2, service().create_stream(), reader.append({5}), out.callback());
  backend().release();
  EXPECT_THAT(out.get().value().tokens, ElementsAre(FakeBackend::output_of(105, 4, kVocab)));
  EXPECT_THAT(backend().calls(), ElementsAre("forward 1", "forward 10", "forward 5"));
}

TEST_P(ModelServiceTest, BackendRejectionsReachTheCallerOrEndTheInstance) {
  start();
  Sequence seq = sequence(1, 1);
  ForwardPassRequest bad = seq.append({1});
  bad.mask = {{7}};  // the row should cover one slot
  Outcome<ForwardPassResponse> out;
  service().forward_pass(1, service().create_stream(), bad, out.callback());
  ASSERT_FALSE(out.get().ok());
  EXPECT_THAT(out.get().error().what(), HasSubstr("mask row 0 has the wrong length"));
  bad.output_token_indices.clear();
  bad.output_token_samplers.clear();
  bad.mask = {{0, 1, 0}, {2}};  // two rows for one token
  service().forward_pass(1, service().create_stream(), bad, nullptr);
  ASSERT_TRUE(h_->wait_terminations(1));
  EXPECT_EQ(h_->terminations()[0].code, kTerminateException);
  EXPECT_EQ(h_->terminations()[0].message, "inconsistent pass");
}

TEST_P(ModelServiceTest, QueriesAndCommandsWithoutReply) {
  start();
  const StreamId q = service().create_stream();
  Outcome<std::string> pong;
  service().query(q, "ping", pong.callback());
  EXPECT_EQ(pong.get().value(), "pong");
  const auto slots = h_->allocate(1, ResourceType::Embed, 2);
  const auto adapter = h_->allocate(1, ResourceType::Adapter, 1);
  service().embed_image(1, q, protocol::EmbedImageRequest{slots, "png", 0});
  service().initialize_adapter(1, q,
                               protocol::InitializeAdapterRequest{adapter[0], 4, 1, 8, 0.5F, 0.1F});
  service().update_adapter(1, q, protocol::UpdateAdapterRequest{adapter[0], {1, 2}, {3, 4}, 1});
  Outcome<Done> sync;
  service().synchronize(q, sync.callback());
  EXPECT_TRUE(sync.get().ok());
  Outcome<std::string> last;
  service().query(q, "last", last.callback());
  EXPECT_TRUE(last.get().ok());
  EXPECT_THAT(backend().calls(),
              ElementsAre("query ping", "embed_image " + std::to_string(slots[0]),
                          "initialize_adapter " + std::to_string(adapter[0]),
                          "update_adapter " + std::to_string(adapter[0]), "query last"));
  // Slots the instance does not hold are refused: the instance ends.
  service().initialize_adapter(2, q,
                               protocol::InitializeAdapterRequest{adapter[0], 4, 1, 8, 0.5F, 0.1F});
  ASSERT_TRUE(h_->wait_terminations(1));
  EXPECT_EQ(h_->terminations()[0].instance, 2U);
}

TEST_P(ModelServiceTest, UnknownQueuesAndPoolsAreRefused) {
  start();
  Outcome<Done> sync;
  service().synchronize(12345, sync.callback());
  ASSERT_FALSE(sync.get().ok());
  EXPECT_STREQ(sync.get().error().what(), "unknown queue 12345");
  Outcome<std::vector<uint32_t>> none;
  service().allocate(1, static_cast<ResourceType>(9), 1, none.callback());
  EXPECT_FALSE(none.get().ok());
  Outcome<std::vector<uint32_t>> too_many;
  service().allocate(1, kKv, 65, too_many.callback());
  ASSERT_FALSE(too_many.get().ok());
  EXPECT_STREQ(too_many.get().error().what(), "cannot allocate 65 KV pages: model 'fake' has 64");
  EXPECT_TRUE(h_->allocate(1, kKv, 0).empty());
}

// ---- Resources and out-of-resources policies ----------------------------------------------------

TEST_P(ModelServiceTest, StatusReportsPoolsExportsAndInstances) {
  start(pool_of(8));
  h_->allocate(1, kKv, 3);
  const auto two = h_->allocate(2, kKv, 2);
  service().export_resources(2, kKv, two, "prefix");
  auto s = service().status();
  EXPECT_EQ(s.at("fake.model.name"), "fake");
  EXPECT_EQ(s.at("fake.resource.0.capacity"), "8");
  EXPECT_EQ(s.at("fake.resource.0.available"), "3");
  EXPECT_EQ(s.at("fake.resource.0.used"), "5");
  EXPECT_EQ(s.at("fake.resource.0.exported_count"), "1");
  EXPECT_EQ(s.at("fake.resource.0.exported_ids"), "2");
  EXPECT_EQ(s.at("fake.resource.1.capacity"), "2");
  EXPECT_EQ(s.at("fake.instances.active_count"), "2");
  EXPECT_EQ(s.at("fake.scheduler.queue_depth"), "0");
  EXPECT_EQ(s.count("fake.error"), 0U);
  EXPECT_THAT(service().list_exported(kKv),
              ElementsAre(std::pair<std::string, uint32_t>("prefix", 2)));

  service().cleanup(1);
  service().cleanup(2);
  service().cleanup(2);  // idempotent
  s = service().status();
  EXPECT_EQ(s.at("fake.resource.0.available"), "6");  // the export survives its creator
  EXPECT_EQ(s.at("fake.instances.active_count"), "0");
  service().release_exported(kKv, "prefix");
  EXPECT_EQ(service().status().at("fake.resource.0.available"), "8");
  EXPECT_THROW(service().release_exported(kKv, "prefix"), Error);
}

TEST_P(ModelServiceTest, WaitPolicyLetsTwoInstancesFinishOneAfterTheOther) {
  start(pool_of(8));
  Sequence first = sequence(1, 6);
  Outcome<std::vector<uint32_t>> second_pages;
  service().allocate(2, kKv, 4, second_pages.callback());
  EXPECT_FALSE(second_pages.ready());
  EXPECT_EQ(service().status().at("fake.scheduler.waiting_allocations"), "1");

  Outcome<ForwardPassResponse> out;
  service().forward_pass(1, service().create_stream(), first.append({1, 2, 3}), out.callback());
  EXPECT_TRUE(out.get().ok());
  EXPECT_FALSE(second_pages.ready());
  service().cleanup(1);
  EXPECT_THAT(second_pages.get().value(), ElementsAre(0, 1, 2, 3));
  EXPECT_TRUE(h_->terminations().empty());
  service().cleanup(2);
  EXPECT_EQ(service().status().at("fake.resource.0.available"), "8");
}

TEST_P(ModelServiceTest, WaitPolicyTerminatesNewerInstancesWhenTheWaitEnds) {
  ModelServiceOptions options;
  options.oom_wait = std::chrono::milliseconds(50);
  start(pool_of(8), options);
  h_->allocate(1, kKv, 2);  // the oldest
  h_->allocate(2, kKv, 6);
  Outcome<std::vector<uint32_t>> more;
  service().allocate(1, kKv, 4, more.callback());
  EXPECT_EQ(more.get().value().size(), 4U);
  ASSERT_EQ(h_->terminations().size(), 1U);
  EXPECT_EQ(h_->terminations()[0].instance, 2U);
  EXPECT_EQ(h_->terminations()[0].code, kTerminateOutOfResources);
  EXPECT_EQ(h_->terminations()[0].message, "Terminated by OOM killer for an older instance");
}

TEST_P(ModelServiceTest, KillPolicyTerminatesNewerInstancesNewestFirst) {
  ModelServiceOptions options;
  options.oom_policy = OutOfResourcesPolicy::Kill;
  start(pool_of(8), options);
  h_->allocate(1, kKv, 2);
  h_->allocate(2, kKv, 2);
  h_->allocate(3, kKv, 2);
  h_->allocate(4, kKv, 2);
  // Instance 2 needs 3 more: 4 then 3 are terminated (newest first); 1 is older and kept.
  EXPECT_EQ(h_->allocate(2, kKv, 3).size(), 3U);
  ASSERT_EQ(h_->terminations().size(), 2U);
  EXPECT_EQ(h_->terminations()[0].instance, 4U);
  EXPECT_EQ(h_->terminations()[1].instance, 3U);
  // A terminated instance cannot allocate again.
  Outcome<std::vector<uint32_t>> late;
  service().allocate(4, kKv, 1, late.callback());
  EXPECT_FALSE(late.get().ok());
  // The newest instance cannot take pages from older ones: it fails, out of resources.
  Outcome<std::vector<uint32_t>> newest;
  service().allocate(5, kKv, 4, newest.callback());
  ASSERT_FALSE(newest.get().ok());
  EXPECT_THAT(newest.get().error().what(), HasSubstr("out of resources"));
  ASSERT_TRUE(h_->wait_terminations(3));
  EXPECT_EQ(h_->terminations()[2].instance, 5U);
  EXPECT_EQ(h_->terminations()[2].code, kTerminateOutOfResources);
  for (InstanceKey i : {1, 2, 3, 4, 5}) service().cleanup(i);
  EXPECT_EQ(service().status().at("fake.resource.0.available"), "8");
}

TEST_P(ModelServiceTest, FirstTimeAllocatorsOutrankNewerInstances) {
  ModelServiceOptions options;
  options.oom_policy = OutOfResourcesPolicy::Kill;
  start(pool_of(4), options);
  h_->allocate(7, kKv, 4);
  EXPECT_EQ(h_->allocate(3, kKv, 2).size(), 2U);  // 3 was launched before 7
  ASSERT_EQ(h_->terminations().size(), 1U);
  EXPECT_EQ(h_->terminations()[0].instance, 7U);
}

TEST_P(ModelServiceTest, ExportedAndImportedPagesAreNeverReclaimed) {
  ModelServiceOptions options;
  options.oom_policy = OutOfResourcesPolicy::Kill;
  start(pool_of(6), options);
  h_->allocate(1, kKv, 2);
  const auto pinned = h_->allocate(2, kKv, 4);
  service().export_resources(2, kKv, pinned, "pinned");
  service().import_resources(3, kKv, "pinned");
  Outcome<std::vector<uint32_t>> more;
  service().allocate(1, kKv, 2, more.callback());
  ASSERT_FALSE(more.get().ok());
  ASSERT_TRUE(h_->wait_terminations(1));
  EXPECT_EQ(h_->terminations().size(),
            1U);  // only the requester: 2 and 3 hold no page of their own
  EXPECT_EQ(h_->terminations()[0].instance, 1U);
  EXPECT_EQ(service().list_exported(kKv).size(), 1U);
}

TEST_P(ModelServiceTest, FreedPagesAreReusedOnlyAfterThePassesThatNameThemRan) {
  start(pool_of(1));
  Sequence seq = sequence(1, 1);
  backend().hold();
  service().forward_pass(1, service().create_stream(), seq.append({1}, false), nullptr);
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  service().deallocate(1, kKv, seq.pages);
  Outcome<std::vector<uint32_t>> reuse;
  service().allocate(2, kKv, 1, reuse.callback());
  EXPECT_FALSE(reuse.ready());
  backend().release();
  EXPECT_THAT(reuse.get().value(), ElementsAre(0));
}

TEST_P(ModelServiceTest, CleanupDropsTheWaitingCommandsOfTheInstance) {
  start();
  Sequence seq = sequence(1, 2);
  const StreamId q = service().create_stream();
  backend().hold();
  Outcome<ForwardPassResponse> running;
  service().forward_pass(1, q, seq.append({1}), running.callback());
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  Outcome<ForwardPassResponse> waiting;
  service().forward_pass(1, q, seq.append({2}), waiting.callback());
  service().cleanup(1);
  ASSERT_FALSE(waiting.get().ok());
  EXPECT_STREQ(waiting.get().error().what(), "the instance has ended");
  EXPECT_EQ(service().status().at("fake.resource.0.available"), "62");  // 2 pages behind the fence
  backend().release();
  EXPECT_TRUE(running.get().ok());
  Outcome<Done> sync;
  service().synchronize(q, sync.callback());
  EXPECT_TRUE(sync.get().ok());
  EXPECT_EQ(service().status().at("fake.resource.0.available"), "64");
  EXPECT_EQ(backend().batches().size(), 1U);
}

// Destroying the service answers every callback: what was sent completes or fails, what waited
// fails.
TEST_P(ModelServiceTest, ShutdownAnswersEveryCallback) {
  start(pool_of(1));
  Sequence seq = sequence(1, 1);
  const StreamId q = service().create_stream();
  backend().hold();
  Outcome<ForwardPassResponse> running;
  service().forward_pass(1, q, seq.append({1}), running.callback());
  ASSERT_TRUE(backend().wait_started(1, std::chrono::seconds(20)));
  Outcome<ForwardPassResponse> queued;
  service().forward_pass(1, q, seq.append({2}), queued.callback());
  Outcome<std::vector<uint32_t>> waiting;
  service().allocate(2, kKv, 1, waiting.callback());
  h_.reset();
  running.get();
  queued.get();
  ASSERT_FALSE(waiting.get().ok());
  EXPECT_STREQ(waiting.get().error().what(), "the model service is shutting down");
}

}  // namespace
}  // namespace pie::engine
