#!/usr/bin/env bash
# Compares the number of tests ctest knows with the number the sources
# define (TEST_CASE macros in tests/ plus add_test calls in CMake files,
# plus one fuzz replay test per harness in tests/fuzz/).
# Usage: count_tests.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
cases=$(grep -rhoE '^\s*TEST_CASE\(' "$src/tests" --include='*.cpp' | wc -l)
added=$(grep -rhoE '^\s*add_test\(' "$src" --include=CMakeLists.txt --exclude-dir=build --exclude-dir='build-*' | wc -l)
# tests/fuzz/CMakeLists.txt registers one replay test per harness file
# (*_fuzz.cpp) from a single add_test line in a loop: count the harness
# files for that line instead.
fuzz_lines=$(grep -hoE '^\s*add_test\(' "$src/tests/fuzz/CMakeLists.txt" | wc -l)
fuzz_doors=$(find "$src/tests/fuzz" -maxdepth 1 -name '*_fuzz.cpp' | wc -l)
added=$((added - fuzz_lines + fuzz_doors))
expected=$((cases + added))
registered=$(cd "$build" && ctest -N | sed -n 's/^Total Tests: //p')
echo "test cases in the sources: $cases, add_test calls: $added, expected $expected; ctest has $registered"
[ "$registered" -eq "$expected" ]
