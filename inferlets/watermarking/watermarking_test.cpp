// watermarking on stories260K: text generated with the watermark scores a z far above chance in
// the detector, text generated without it (delta 0) does not, and a wrong key does not see it.
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

// The z of "z=<score> green=<g>/<t>".
double z_of(const std::string& report) {
  EXPECT_TRUE(report.starts_with("z=")) << report;
  return std::stod(report.substr(2));
}

class WatermarkingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = pie::testing::shared_file("models/stories260K/stories260K.bin");
    if (model_.empty()) {
      if (pie::testing::in_ci()) FAIL() << "stories260K missing under CI";
      GTEST_SKIP() << "stories260K missing";
    }
    engine_ = std::make_unique<TestEngine>(pie::testing::TestEngineOptions{.model = model_});
  }
  // Default delta (6) when `delta` is empty.
  std::string generate(const std::string& prompt, const std::string& delta = "") {
    std::vector<std::string> args = {"generate", prompt, "64"};
    if (!delta.empty()) args.push_back(delta);
    const auto run = engine_->run("watermarking", args);
    EXPECT_EQ(run.end, EventKind::Completed) << run.result;
    EXPECT_FALSE(run.result.empty());
    return run.result;
  }
  double detect(const std::string& text, const std::string& key = "42") {
    const auto run = engine_->run("watermarking", {"detect", text, key});
    EXPECT_EQ(run.end, EventKind::Completed) << run.result;
    return z_of(run.result);
  }
  std::filesystem::path model_;
  std::unique_ptr<TestEngine> engine_;
};

TEST_F(WatermarkingTest, MarkedTextScoresFarAboveUnmarked) {
  for (const char* prompt : {"Once upon a time", "The little dog"}) {
    const std::string marked = generate(prompt);
    const std::string plain = generate(prompt, "0");
    EXPECT_NE(marked, plain);
    const double z_marked = detect(marked);
    const double z_plain = detect(plain);
    std::printf("%s: z marked %.2f, unmarked %.2f\n", prompt, z_marked, z_plain);
    EXPECT_GT(z_marked, 4.0) << marked;
    EXPECT_LT(z_plain, 3.0) << plain;
    // Another key splits the vocabulary differently: the mark is invisible to it.
    EXPECT_LT(detect(marked, "7"), 3.0);
  }
}

TEST_F(WatermarkingTest, RejectsBadArguments) {
  const auto run = engine_->run("watermarking", {"generate", "Once", "many"});
  EXPECT_EQ(run.end, EventKind::Exception);
  EXPECT_NE(run.result.find("'many' is not a valid token count"), std::string::npos) << run.result;
}

}  // namespace
