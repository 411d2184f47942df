#!/usr/bin/env bash
# make fuzz: builds the libFuzzer harnesses of tests/fuzz (one per door where
# bytes come in from outside) with clang 14 under AddressSanitizer and UBSan
# in build-fuzz/, then runs each for FUZZ_SECONDS (default 60) with its seed
# corpus and dictionary. New inputs go to build-fuzz/corpus/<door>/ (never
# into the repository), crashes to build-fuzz/crashes/<door>/, each run's
# output to build-fuzz/logs/<door>.log. Ends with one line per door
# (executions, coverage, crashes) and fails when any door crashed.
# tests/fuzz/README.md says how to turn a crash into a regression.
#
# Environment: FUZZ_SECONDS (per door), FUZZ_DOORS (space-separated subset,
# e.g. "webhook rules"; default all), FUZZ_BUILD (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-build-fuzz}

# The fuzzing toolchain, separate from the packages `make test` needs.
scripts/install-deps.sh clang-14 libclang-rt-14-dev llvm-14

if [ -n "${FUZZ_DOORS:-}" ]; then
  read -r -a doors <<< "$FUZZ_DOORS"
else
  doors=()
  for f in tests/fuzz/*_fuzz.cpp; do
    name=$(basename "$f" _fuzz.cpp)
    doors+=("$name")
  done
fi

if [ ! -f "$build/build.ninja" ]; then
  # -O1 with line tables: fast enough to fuzz, and stack traces with lines.
  cmake -S . -B "$build" -G Ninja -DORDERFLOW_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only"
fi
targets=()
for door in "${doors[@]}"; do targets+=("${door}_fuzz"); done
cmake --build "$build" --target "${targets[@]}"

mkdir -p "$build/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
failed=0
for door in "${doors[@]}"; do
  mkdir -p "$build/corpus/$door" "$build/crashes/$door"
  log="$build/logs/$door.log"
  echo "== fuzzing $door for ${seconds}s (log: $log)"
  status=0
  # The scratch corpus comes first: libFuzzer writes new inputs to the first folder.
  "$build/fuzz/${door}_fuzz" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
    -dict="tests/fuzz/$door.dict" -artifact_prefix="$build/crashes/$door/" \
    "$build/corpus/$door" "tests/fuzz/corpus/$door" > "$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  crashes=$(find "$build/crashes/$door" -type f | wc -l)
  line="$door: ${execs:-?} executions, ${final:-no coverage line}, $crashes crash file(s), exit $status"
  echo "$line"
  summary+=("$line")
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    tail -40 "$log"
  fi
done
echo "== fuzz summary (${seconds}s per door)"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzzing found a problem: see $build/crashes/ and $build/logs/; tests/fuzz/README.md says how to keep a reproducer" >&2
  exit 1
fi
