#include "services/kv_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace pie::services {
namespace {

namespace fs = std::filesystem;

class KvFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pie_kv_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path file() const { return dir_ / "kvs.log"; }
  fs::path dir_;
};

TEST(KeyValueStore, GetSetDeleteExistsKeys) {
  KeyValueStore kv;
  EXPECT_FALSE(kv.get("a").has_value());
  kv.set("a", "1");
  kv.set("b", "2");
  kv.set("a", "3");
  EXPECT_EQ(kv.get("a"), "3");
  EXPECT_TRUE(kv.exists("b"));
  EXPECT_EQ(kv.keys(), (std::vector<std::string>{"a", "b"}));
  kv.erase("a");
  kv.erase("missing");
  EXPECT_FALSE(kv.exists("a"));
  EXPECT_EQ(kv.size(), 1u);
}

TEST(KeyValueStore, EmptyAndBinaryValuesRoundTrip) {
  KeyValueStore kv;
  kv.set("", "");
  kv.set(std::string("k\0ey", 4), std::string("v\0\xff", 3));
  EXPECT_EQ(kv.get(""), "");
  EXPECT_EQ(kv.get(std::string("k\0ey", 4)), std::string("v\0\xff", 3));
}

TEST_F(KvFile, PersistsAcrossRestarts) {
  {
    KeyValueStore kv(file());
    kv.set("keep", "yes");
    kv.set("gone", "soon");
    kv.set(std::string("bin\0", 4), std::string("\0\1", 2));
    kv.erase("gone");
    kv.set("keep", "updated");
  }
  KeyValueStore kv(file());
  EXPECT_EQ(kv.get("keep"), "updated");
  EXPECT_FALSE(kv.exists("gone"));
  EXPECT_EQ(kv.get(std::string("bin\0", 4)), std::string("\0\1", 2));
  EXPECT_EQ(kv.size(), 2u);
}

TEST_F(KvFile, TornLastRecordIsIgnored) {
  {
    KeyValueStore kv(file());
    kv.set("whole", "record");
  }
  {
    std::ofstream out(file(), std::ios::binary | std::ios::app);
    out.write("S\x05\x00\x00\x00\x09", 6);  // a set record cut short
  }
  KeyValueStore kv(file());
  EXPECT_EQ(kv.get("whole"), "record");
  EXPECT_EQ(kv.size(), 1u);
  kv.set("after", "ok");
  KeyValueStore again(file());
  EXPECT_EQ(again.get("after"), "ok");
}

TEST_F(KvFile, CorruptFileIsAClearError) {
  {
    std::ofstream out(file(), std::ios::binary);
    out << "garbage";
  }
  try {
    KeyValueStore kv(file());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pie::services
