#include "backend/model/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "common/error.h"

namespace pie::model {
namespace {

class GgufTest : public ::testing::Test {
 protected:
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("pie_gguf_" + std::to_string(::getpid()));
  void SetUp() override { std::filesystem::create_directories(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static GgufMetadata every_type() {
    GgufMetadata m;
    m.set("general.architecture", GgufValue::of_string("llama"));
    m.set("u8", GgufValue::of_uint(GgufType::Uint8, 250));
    m.set("i8", GgufValue::of_int(GgufType::Int8, -100));
    m.set("u16", GgufValue::of_uint(GgufType::Uint16, 65000));
    m.set("i16", GgufValue::of_int(GgufType::Int16, -30000));
    m.set("u32", GgufValue::of_uint(GgufType::Uint32, 4000000000U));
    m.set("i32", GgufValue::of_int(GgufType::Int32, -2000000000));
    m.set("u64", GgufValue::of_uint(GgufType::Uint64, 1ULL << 60));
    m.set("i64", GgufValue::of_int(GgufType::Int64, -(1LL << 60)));
    m.set("f32", GgufValue::of_float(GgufType::Float32, 0.1));
    m.set("f64", GgufValue::of_float(GgufType::Float64, 0.1));
    m.set("bool", GgufValue::of_bool(true));
    m.set("empty string", GgufValue::of_string(""));
    m.set("utf8", GgufValue::of_string("h\xC3\xA9llo \xF0\x9F\xA6\x99"));
    m.set("strings", GgufValue::of_strings({"a", "", "c"}));
    m.set("floats", GgufValue::of_floats({1.5F, -2.25F}));
    m.set("empty array", GgufValue::of_array(GgufType::Int32, {}));
    m.set("nested", GgufValue::of_array(GgufType::Array,
                                        {GgufValue::of_int32s({1, 2}), GgufValue::of_strings({"x"}),
                                         GgufValue::of_array(GgufType::Array, {})}));
    return m;
  }
};

TEST_F(GgufTest, RoundTripsEveryKeyAndTensor) {
  GgufWriter w;
  w.metadata() = every_type();
  std::vector<float> a(7);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5F;
  std::vector<uint8_t> b(34 * 3);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7);
  w.add_tensor("a", GgmlType::F32, {7}, [&](std::byte* out) { std::memcpy(out, a.data(), 28); });
  w.add_tensor("b", GgmlType::Q8_0, {32, 3},
               [&](std::byte* out) { std::memcpy(out, b.data(), b.size()); });
  const auto path = dir_ / "m.gguf";
  w.write(path, 2);

  const GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.metadata(), every_type());
  EXPECT_EQ(g.metadata().at("u64").to_uint(), 1ULL << 60);
  EXPECT_EQ(g.metadata().at("i8").to_int(), -100);
  EXPECT_FLOAT_EQ(static_cast<float>(g.metadata().at("f32").to_float()), 0.1F);
  EXPECT_THROW(g.metadata().at("i8").to_uint(), Error);
  EXPECT_THROW(g.metadata().at("u8").str(), Error);
  EXPECT_THROW(g.metadata().at("missing"), Error);
  ASSERT_EQ(g.tensors().size(), 2u);
  EXPECT_EQ(g.tensors()[0].name, "a");
  EXPECT_EQ(g.tensors()[0].nbytes, 28u);
  EXPECT_EQ(std::memcmp(g.tensors()[0].data, a.data(), 28), 0);
  EXPECT_EQ(g.tensors()[1].shape, (std::vector<uint64_t>{32, 3}));
  EXPECT_EQ(g.tensors()[1].type, GgmlType::Q8_0);
  EXPECT_EQ(std::memcmp(g.tensors()[1].data, b.data(), b.size()), 0);
  for (const Tensor& t : g.tensors()) {
    EXPECT_EQ((t.data - g.file()->data()) % 32, 0);
  }

  // Writing what was read gives the same bytes.
  GgufWriter again;
  again.metadata() = g.metadata();
  for (const Tensor& t : g.tensors()) again.add_tensor(t);
  again.write(dir_ / "again.gguf");
  std::ifstream f1(path, std::ios::binary);
  std::ifstream f2(dir_ / "again.gguf", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f1), {}),
            std::string(std::istreambuf_iterator<char>(f2), {}));
}

TEST_F(GgufTest, HonoursAlignment) {
  GgufWriter w(64);
  w.add_tensor("x", GgmlType::F32, {3}, [](std::byte* out) { std::memset(out, 1, 12); });
  w.add_tensor("y", GgmlType::F32, {5}, [](std::byte* out) { std::memset(out, 2, 20); });
  w.write(dir_ / "a.gguf");
  const GgufFile g = GgufFile::open(dir_ / "a.gguf");
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.metadata().at("general.alignment").to_uint(), 64u);
  for (const Tensor& t : g.tensors()) EXPECT_EQ((t.data - g.file()->data()) % 64, 0);
  EXPECT_EQ(std::to_integer<int>(g.tensors()[1].data[0]), 2);
}

TEST_F(GgufTest, RejectsBadFiles) {
  auto write_bytes = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return dir_ / name;
  };
  EXPECT_THROW(GgufFile::open(write_bytes("empty", "")), Error);
  EXPECT_THROW(GgufFile::open(write_bytes("magic", std::string("GGUX") + std::string(20, '\0'))),
               Error);
  std::string v1 = "GGUF";
  v1 += std::string("\x01\x00\x00\x00", 4) + std::string(16, '\0');
  EXPECT_THROW(GgufFile::open(write_bytes("v1", v1)), Error);

  // A valid file, then damaged copies of it.
  GgufWriter w;
  w.metadata() = every_type();
  w.add_tensor("t", GgmlType::F32, {16}, [](std::byte* out) { std::memset(out, 0, 64); });
  w.write(dir_ / "good.gguf");
  std::ifstream in(dir_ / "good.gguf", std::ios::binary);
  const std::string good(std::istreambuf_iterator<char>(in), {});
  EXPECT_NO_THROW(GgufFile::open(dir_ / "good.gguf"));
  for (size_t cut : {size_t{30}, good.size() / 2, good.size() - 1}) {
    EXPECT_THROW(GgufFile::open(write_bytes("cut", good.substr(0, cut))), Error) << cut;
  }
  // A huge tensor count.
  std::string counts = good;
  const uint64_t huge = 1ULL << 40;
  std::memcpy(counts.data() + 8, &huge, 8);
  EXPECT_THROW(GgufFile::open(write_bytes("counts", counts)), Error);
  // An unknown value type in the first key (right after its name).
  std::string bad_type = good;
  const size_t key_len = std::string("general.architecture").size();
  const uint32_t t = 99;
  std::memcpy(bad_type.data() + 24 + 8 + key_len, &t, 4);
  EXPECT_THROW(GgufFile::open(write_bytes("type", bad_type)), Error);
}

// Every truncation and many random corruptions of a valid file either open or fail with
// pie::Error: never a crash (the AddressSanitizer build checks the reads stay in bounds).
TEST_F(GgufTest, SurvivesDamagedFiles) {
  GgufWriter w;
  w.metadata() = every_type();
  w.add_tensor("t", GgmlType::Q8_0, {32, 2}, [](std::byte* out) { std::memset(out, 3, 68); });
  w.write(dir_ / "good.gguf");
  std::ifstream in(dir_ / "good.gguf", std::ios::binary);
  const std::string good(std::istreambuf_iterator<char>(in), {});
  const auto path = dir_ / "damaged.gguf";
  auto try_open = [&](const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      GgufFile::open(path);
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  // Cut anywhere before the end of the last tensor's data, the file is refused; the padding after
  // it is not needed.
  const GgufFile g = GgufFile::open(dir_ / "good.gguf");
  const auto needed = static_cast<size_t>(g.tensors().back().data - g.file()->data() +
                                          static_cast<std::ptrdiff_t>(g.tensors().back().nbytes));
  for (size_t n = 0; n < good.size(); ++n) EXPECT_EQ(try_open(good.substr(0, n)), n >= needed) << n;
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int round = 0; round < 2000; ++round) {
    std::string bad = good;
    for (int k = 0; k < 3; ++k) bad[next() % bad.size()] = static_cast<char>(next() & 0xFF);
    try_open(bad);  // either outcome is fine; crashing is not
  }
}

}  // namespace
}  // namespace pie::model
