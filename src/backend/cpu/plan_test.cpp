#include "backend/cpu/plan.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace pie::cpu {
namespace {

using protocol::ForwardPassRequest;

const Limits kLimits{100, 10, 4, 3};

// Two tokens at positions 0, 1 in a fresh page, a distribution output at index 1.
ForwardPassRequest valid() {
  ForwardPassRequest r;
  r.input_tokens = {5, 6};
  r.input_token_positions = {0, 1};
  r.mask = {{1}, {2}};
  r.kv_page_ptrs = {7};
  r.kv_page_last_len = 2;
  r.output_token_indices = {1};
  r.output_token_samplers = {protocol::SamplerSpec{}};
  return r;
}

std::string error_of(const ForwardPassRequest& r) {
  const auto planned = plan_request(r, kLimits);
  return std::holds_alternative<std::string>(planned) ? std::get<std::string>(planned) : "";
}

TEST(Plan, AcceptsAValidRequest) {
  const auto planned = plan_request(valid(), kLimits);
  ASSERT_TRUE(std::holds_alternative<Plan>(planned)) << std::get<std::string>(planned);
  const Plan& p = std::get<Plan>(planned);
  EXPECT_EQ(p.context, 0U);
  ASSERT_EQ(p.inputs.size(), 2U);
  EXPECT_EQ(p.inputs[1].token, 6U);
  EXPECT_EQ(p.inputs[1].position, 1U);
}

TEST(Plan, ContextComesFromPagesAndLastLength) {
  ForwardPassRequest r = valid();
  r.kv_page_ptrs = {1, 2, 3};
  r.kv_page_last_len = 3;  // 4 + 4 + 3 = 11 slots, the last 2 new
  r.input_token_positions = {9, 10};
  r.mask = {{10}, {11}};
  const auto planned = plan_request(r, kLimits);
  ASSERT_TRUE(std::holds_alternative<Plan>(planned)) << std::get<std::string>(planned);
  EXPECT_EQ(std::get<Plan>(planned).context, 9U);
}

TEST(Plan, MergesEmbeddingsBeforeTheFirstLaterToken) {
  ForwardPassRequest r = valid();
  r.input_tokens = {5, 6, 7};
  r.input_token_positions = {0, 3, 4};
  r.input_embed_ptrs = {2, 0};
  r.input_embed_positions = {1, 2};
  r.kv_page_ptrs = {7, 8};
  r.kv_page_last_len = 1;
  r.mask = {{1}, {2}, {3}, {4}, {5}};
  const auto planned = plan_request(r, kLimits);
  ASSERT_TRUE(std::holds_alternative<Plan>(planned)) << std::get<std::string>(planned);
  const Plan& p = std::get<Plan>(planned);
  ASSERT_EQ(p.inputs.size(), 5U);
  const uint32_t none = Input::kNone;
  EXPECT_EQ(p.inputs[0].token, 5U);
  EXPECT_EQ(p.inputs[1].embed_slot, 2U);
  EXPECT_EQ(p.inputs[1].token, none);
  EXPECT_EQ(p.inputs[2].embed_slot, 0U);
  EXPECT_EQ(p.inputs[3].token, 6U);
  EXPECT_EQ(p.inputs[4].token, 7U);
  // Embeddings past every token go last.
  r.input_embed_positions = {1, 9};
  const auto replanned = plan_request(r, kLimits);
  ASSERT_TRUE(std::holds_alternative<Plan>(replanned));
  EXPECT_EQ(std::get<Plan>(replanned).inputs[4].embed_slot, 0U);
}

TEST(Plan, EmptyPassNeedsNoPages) {
  ForwardPassRequest r;
  EXPECT_EQ(error_of(r), "");
  r.output_token_indices = {0};
  r.output_token_samplers = {protocol::SamplerSpec{}};
  EXPECT_NE(error_of(r), "");
}

TEST(Plan, RejectsEveryInconsistency) {
  struct Case {
    const char* what;
    void (*edit)(ForwardPassRequest&);
    const char* message_part;
  };
  const Case cases[] = {
      {"token outside vocabulary", [](ForwardPassRequest& r) { r.input_tokens[0] = 100; },
       "vocabulary"},
      {"positions count", [](ForwardPassRequest& r) { r.input_token_positions.pop_back(); },
       "input_token_positions"},
      {"no pages", [](ForwardPassRequest& r) { r.kv_page_ptrs.clear(); }, "kv_page_ptrs"},
      {"page out of range", [](ForwardPassRequest& r) { r.kv_page_ptrs = {10}; }, "KV page 10"},
      {"last_len zero", [](ForwardPassRequest& r) { r.kv_page_last_len = 0; }, "kv_page_last_len"},
      {"last_len above page", [](ForwardPassRequest& r) { r.kv_page_last_len = 5; },
       "kv_page_last_len"},
      {"fewer slots than inputs", [](ForwardPassRequest& r) { r.kv_page_last_len = 1; },
       "fewer than"},
      {"mask rows", [](ForwardPassRequest& r) { r.mask.pop_back(); }, "mask has 1 rows"},
      {"mask row length",
       [](ForwardPassRequest& r) {
         r.mask[1] = {1, 2};
       },
       "mask row 1"},
      {"output index", [](ForwardPassRequest& r) { r.output_token_indices = {2}; },
       "output token index"},
      {"samplers count", [](ForwardPassRequest& r) { r.output_token_samplers.clear(); },
       "output_token_samplers"},
      {"sampler params", [](ForwardPassRequest& r) { r.output_token_samplers[0].top_p = 2; },
       "top_p"},
      {"embed slot",
       [](ForwardPassRequest& r) {
         r.input_embed_ptrs = {3};
         r.input_embed_positions = {2};
       },
       "input embedding slot 3"},
      {"embed positions", [](ForwardPassRequest& r) { r.input_embed_ptrs = {1}; },
       "input_embed_positions"},
      {"output embed slot",
       [](ForwardPassRequest& r) {
         r.output_embed_ptrs = {3};
         r.output_embed_indices = {0};
       },
       "output embedding slot"},
      {"output embed index",
       [](ForwardPassRequest& r) {
         r.output_embed_ptrs = {0};
         r.output_embed_indices = {2};
       },
       "output embedding index"},
      {"output embed count", [](ForwardPassRequest& r) { r.output_embed_ptrs = {0}; },
       "output_embed_indices"},
      {"adapter", [](ForwardPassRequest& r) { r.adapter = 0; }, "adapter"},
  };
  for (const Case& c : cases) {
    ForwardPassRequest r = valid();
    c.edit(r);
    const std::string error = error_of(r);
    EXPECT_NE(error.find(c.message_part), std::string::npos) << c.what << ": got '" << error << "'";
  }
}

}  // namespace
}  // namespace pie::cpu
