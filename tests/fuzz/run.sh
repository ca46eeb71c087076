#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-16 and runs each for N seconds (default 30).
#   tests/fuzz/run.sh [seconds]
# Corpora grow in build/fuzz/corpus/<target>; a crash leaves its input in build/fuzz/ and makes
# this script fail.
set -euo pipefail

seconds=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/fuzz"
fuzz="$root/tests/fuzz"

cmake -S "$fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"

run() {
  local target=$1 dict=$2
  mkdir -p "$build/corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  (cd "$build" && "./$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
     -rss_limit_mb=2048 -print_final_stats=1 ${dict:+-dict="$fuzz/$dict"} "corpus/$target")
}

run fuzz_client_message client_message.dict
run fuzz_backend_messages backend_messages.dict
run fuzz_uploads ""
echo "fuzz: no crash"
