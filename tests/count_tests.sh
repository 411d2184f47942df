#!/usr/bin/env bash
# Compares the number of tests ctest knows with the number the sources
# define (TEST_CASE macros in tests/ plus add_test calls in CMake files).
# Usage: count_tests.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
cases=$(grep -rhoE '^\s*TEST_CASE\(' "$src/tests" --include='*.cpp' | wc -l)
added=$(grep -rhoE '^\s*add_test\(' "$src" --include=CMakeLists.txt --exclude-dir=build --exclude-dir='build-*' | wc -l)
expected=$((cases + added))
registered=$(cd "$build" && ctest -N | sed -n 's/^Total Tests: //p')
echo "test cases in the sources: $cases, add_test calls: $added, expected $expected; ctest has $registered"
[ "$registered" -eq "$expected" ]
