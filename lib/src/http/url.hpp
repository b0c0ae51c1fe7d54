// The pieces of a request target both HTTP servers (the admin endpoint
// and the HTTP port) read: percent-decoding, and a query's pairs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd {

// "%2F" and the like decoded; nothing for a '%' not followed by two hex
// digits. '+' stays '+': it is a location's sign, not a space.
std::optional<std::string> percent_decode(std::string_view text);

// "a=1&b=%32" as decoded pairs, in order; nothing for a pair without '=' or
// a bad escape. An empty query has no pairs.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

// Splits "/path?query" at the first '?'.
std::pair<std::string_view, std::string_view> split_target(std::string_view target);

} // namespace herd
