// The client protocol as pure functions: framing, the field grammar of
// IAMAT and WHATSAT, and the exact text of every reply. Nothing here does
// I/O, so every rule of ../shared/spec/PROTOCOL.md is unit-tested
// synchronously (test/protocol_test.cpp).
#pragma once

#include "herd/places.hpp" // geo_point

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace herd {

// Exactly the six bytes the contract calls white space; not the locale's.
constexpr bool is_space(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

inline constexpr std::size_t max_client_id_bytes = 255;

// The fields of one line. The longest line either port accepts (a peer's
// AT record) has six fields; `count` keeps counting past that so a caller
// can tell "seven or more" from "exactly six" without allocating.
struct fields {
    static constexpr std::size_t capacity = 6;
    std::array<std::string_view, capacity> at{};
    std::size_t count = 0;
};

fields split_fields(std::string_view line) noexcept;

// Takes the next complete line (up to and without its '\n') off the front
// of `buffer`; nothing if no '\n' has arrived yet.
std::optional<std::string_view> take_line(std::string_view& buffer) noexcept;

// ISO 6709 "+34.068930-118.445127". Both signs required, latitude 1-2
// integer digits in [-90, 90], longitude 1-3 in [-180, 180], compared
// exactly on the decimal text rather than after rounding to double.
std::optional<geo_point> parse_location(std::string_view text) noexcept;

// POSIX seconds "D+(.D+)?" as integer nanoseconds; decimals past the ninth
// are dropped. Nothing if it does not fit in a signed 64-bit count.
std::optional<std::int64_t> parse_time_ns(std::string_view text) noexcept;

// WHATSAT radius "D+(.D+)?" in kilometres, 0 < r <= 50.
struct radius {
    double km = 0;
    // The same value in metres as exact decimal text ("10" km -> "10000"),
    // which is what a places source is sent.
    std::string metres;
};
std::optional<radius> parse_radius(std::string_view text);

// WHATSAT bound "D+", 1..20.
std::optional<unsigned> parse_bound(std::string_view text) noexcept;

inline constexpr unsigned max_bound = 20;

struct iamat_command {
    std::string_view client;
    std::string_view location;
    std::string_view time;
    geo_point where;
    std::int64_t time_ns = 0;
};

struct whatsat_command {
    std::string_view client;
    radius within;
    unsigned bound = 0;
};

struct blank_line {};   // no fields: no reply at all
struct invalid_line {}; // answered with "? <line>"

using command = std::variant<blank_line, invalid_line, iamat_command, whatsat_command>;

// `line` is one line without its '\n'. The views in the result point into
// it. Client IDs longer than `max_client_id` (at most the contract's 255)
// make the line invalid.
command parse_command(std::string_view line, std::size_t max_client_id = max_client_id_bytes);

// A location record as it travels between servers: the AT line exactly as
// the origin server answered it (without '\n').
struct at_record {
    std::string_view server;
    std::string_view skew;
    std::string_view client;
    std::string_view location;
    std::string_view time;
    geo_point where;
    std::int64_t time_ns = 0;
};

// Validates every field of an AT line with the same grammar a client's
// IAMAT went through, plus the skew's own form "[+-]D+.DDDDDDDDD".
std::optional<at_record> parse_at_line(std::string_view line) noexcept;

// "+0.263873386", "-2.000000000": sign, seconds, exactly nine decimals.
std::string format_skew(std::int64_t skew_ns);

// "AT <server> <skew> <client> <location> <time>" without the newline.
std::string format_at(std::string_view server, std::int64_t skew_ns, const iamat_command& cmd);

// Appends "? <line>\n", dropping a single '\r' that ended the line.
void append_invalid(std::string& out, std::string_view line);

// Replaces every run of two or more '\n' with one, as the contract asks
// of the places JSON before it is followed by the blank line.
std::string fold_newlines(std::string_view text);

} // namespace herd
