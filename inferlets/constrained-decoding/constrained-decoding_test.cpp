// constrained-decoding on stories260K: whatever the prompt, the output parses as JSON and is an
// object with exactly the requested keys, in order, holding values of the requested types.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

TEST(ConstrainedDecodingTest, OutputAlwaysParses) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  for (const char* prompt : {"Once upon a time, there was a girl.", "Tom had a big red ball."}) {
    const auto run = engine.run("constrained-decoding", {prompt, "name", "age:int", "story"});
    ASSERT_EQ(run.end, EventKind::Completed) << run.result;
    std::printf("%s -> %s\n", prompt, run.result.c_str());
    const auto json = nlohmann::ordered_json::parse(run.result, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << "does not parse: " << run.result;
    ASSERT_TRUE(json.is_object()) << run.result;
    std::vector<std::string> keys;
    for (const auto& [key, value] : json.items()) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"name", "age", "story"}));
    EXPECT_TRUE(json["name"].is_string());
    EXPECT_TRUE(json["age"].is_number_integer());
    EXPECT_TRUE(json["story"].is_string());
  }
}

}  // namespace
