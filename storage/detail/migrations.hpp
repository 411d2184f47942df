// The schema, as an ordered list of migrations. Migration N (1-based) takes a
// database from PRAGMA user_version N-1 to N; database::open applies the
// missing ones, each in its own transaction.
#pragma once

#include <span>
#include <string_view>

namespace orderflow::storage::detail {

std::span<const std::string_view> migrations();

}  // namespace orderflow::storage::detail
