#include "runtime/program_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/blake3.h"
#include "common/error.h"
#include "runtime/testdata/wasm_builder.h"
#include "runtime/wasi.h"
#include "runtime/wasm_abi.h"
#include "shared_data.h"

namespace pie::runtime {
namespace {

namespace fs = std::filesystem;
using testing::build_wasm;
using testing::TinyModule;

WasmLinkRules rules() {
  WasmLinkRules r;
  for (auto table : {pie_functions(), wasi_functions()}) {
    for (const HostFunction& f : table) r.imports[f.module].insert(f.name);
  }
  r.abi_version = abi_version();
  return r;
}

class ProgramStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pie_program_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    v8_ = V8Process::acquire(V8Options{2048});
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ProgramStore> open() {
    return std::make_unique<ProgramStore>(v8_, rules(), dir_);
  }

  std::string compile_error(const std::string& bytes) {
    auto store = open();
    try {
      store->add(blake3_hex(bytes), bytes);
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  }

  fs::path dir_;
  std::shared_ptr<V8Process> v8_;
};

TEST_F(ProgramStoreTest, CompilesOnceAndRestartReusesTheCompiledCode) {
  const std::string wasm = build_wasm({});
  const std::string hash = blake3_hex(wasm);
  {
    auto store = open();
    EXPECT_FALSE(store->contains(hash));
    auto program = store->add(hash, wasm);
    EXPECT_EQ(program->kind, ProgramKind::Wasm);
    EXPECT_TRUE(program->wasm.has_value());
    EXPECT_EQ(store->compilations(), 1u);
    // Adding again and finding do not compile.
    EXPECT_EQ(store->add(hash, wasm), program);
    EXPECT_EQ(store->find(hash), program);
    EXPECT_EQ(store->compilations(), 1u);
    EXPECT_TRUE(fs::exists(dir_ / "programs" / hash));
    EXPECT_TRUE(fs::exists(dir_ / "programs" / (hash + ".code")));
  }
  auto store = open();  // a restart: the index is read from disk
  EXPECT_TRUE(store->contains(hash));
  EXPECT_TRUE(store->in_memory_hashes().empty());
  auto program = store->find(hash);
  ASSERT_NE(program, nullptr);
  EXPECT_EQ(program->bytes, wasm);
  EXPECT_EQ(store->compilations(), 0u);
  EXPECT_EQ(store->in_memory_hashes(), std::vector<std::string>{hash});
}

TEST_F(ProgramStoreTest, RejectedCompiledCodeIsRecompiledAndRewritten) {
  const std::string wasm = build_wasm({.abi_version = 1});
  const std::string hash = blake3_hex(wasm);
  open()->add(hash, wasm);
  {
    std::ofstream out(dir_ / "programs" / (hash + ".code"), std::ios::binary | std::ios::trunc);
    out << "not V8 code";
  }
  auto store = open();
  ASSERT_NE(store->find(hash), nullptr);
  EXPECT_EQ(store->compilations(), 1u);
  auto again = open();
  ASSERT_NE(again->find(hash), nullptr);
  EXPECT_EQ(again->compilations(), 0u);
}

TEST_F(ProgramStoreTest, CorruptCachedProgramIsIgnored) {
  const std::string wasm = build_wasm({});
  const std::string hash = blake3_hex(wasm);
  open()->add(hash, wasm);
  {
    std::ofstream out(dir_ / "programs" / hash, std::ios::binary | std::ios::app);
    out << "x";
  }
  auto store = open();
  EXPECT_EQ(store->find(hash), nullptr);
  EXPECT_FALSE(store->contains(hash));
}

TEST_F(ProgramStoreTest, InvalidWasmIsRejectedWithV8sReason) {
  const std::string error = compile_error(std::string("\0asm\1\0\0\0\5", 9));
  EXPECT_EQ(error.rfind("Failed to compile: CompileError: ", 0), 0u) << error;
}

TEST_F(ProgramStoreTest, OtherAbiVersionIsRejected) {
  EXPECT_EQ(compile_error(build_wasm({.abi_version = 7})),
            "Failed to compile: the program was built for pie ABI version 7; this engine speaks "
            "version 1");
}

TEST_F(ProgramStoreTest, UnknownImportIsRejected) {
  EXPECT_EQ(compile_error(build_wasm({.import_name = "teleport"})),
            "Failed to compile: the program imports function pie.teleport, which this engine "
            "does not provide (pie ABI version 1)");
  // A known import is fine.
  EXPECT_EQ(compile_error(build_wasm({.import_name = "send"})), "<no error>");
}

TEST_F(ProgramStoreTest, MissingExportsAreRejected) {
  EXPECT_EQ(compile_error(build_wasm({.abi_version = -1})),
            "Failed to compile: the program does not export pie_abi_version: it was not built "
            "with the pie SDK");
  EXPECT_EQ(compile_error(build_wasm({.export_start = false})),
            "Failed to compile: the program must export _start and memory (a WASI command "
            "module)");
}

TEST_F(ProgramStoreTest, JavaScriptIsRecognisedAndSyntaxChecked) {
  const std::string js = "export async function main(args) { return args.length; }";
  auto store = open();
  auto program = store->add(blake3_hex(js), js);
  EXPECT_EQ(program->kind, ProgramKind::JavaScript);
  EXPECT_FALSE(program->wasm.has_value());
  const std::string error = compile_error("export function main( {");
  EXPECT_EQ(error.rfind("Failed to compile: SyntaxError: ", 0), 0u) << error;
  EXPECT_NE(error.find(":1)"), std::string::npos) << error;  // the line is named
}

TEST_F(ProgramStoreTest, HashesMustBeHexAndUnknownHashesAreNotFound) {
  auto store = open();
  EXPECT_THROW(store->add("../../etc/passwd", "x"), Error);
  EXPECT_EQ(store->find(std::string(64, '0')), nullptr);
  EXPECT_TRUE(ProgramStore::valid_hash(std::string(64, 'f')));
  EXPECT_FALSE(ProgramStore::valid_hash(std::string(64, 'F')));
}

TEST_F(ProgramStoreTest, MemoryOnlyStoreWritesNothing) {
  ProgramStore store(v8_, rules(), {});
  const std::string wasm = build_wasm({});
  store.add(blake3_hex(wasm), wasm);
  EXPECT_TRUE(store.contains(blake3_hex(wasm)));
  EXPECT_FALSE(fs::exists(dir_));
}

}  // namespace
}  // namespace pie::runtime
