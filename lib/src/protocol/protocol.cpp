#include "protocol/protocol.hpp"

#include <charconv>
#include <limits>

namespace herd {
namespace {

constexpr bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

// "D+(.D+)?" split into its integer and fraction digits. Anything else
// (an exponent, "nan", "0x10", "1_000", a sign) fails.
struct decimal {
    std::string_view integer;
    std::string_view fraction;
};

std::size_t count_digits(std::string_view text, std::size_t from) noexcept
{
    std::size_t n = from;
    while (n < text.size() && is_digit(text[n])) {
        ++n;
    }
    return n - from;
}

// Reads a decimal at the front of `text` and advances past it.
std::optional<decimal> take_decimal(std::string_view& text) noexcept
{
    const std::size_t int_len = count_digits(text, 0);
    if (int_len == 0) {
        return std::nullopt;
    }
    decimal d{text.substr(0, int_len), {}};
    std::size_t used = int_len;
    if (used < text.size() && text[used] == '.') {
        const std::size_t frac_len = count_digits(text, used + 1);
        if (frac_len == 0) {
            return std::nullopt;
        }
        d.fraction = text.substr(used + 1, frac_len);
        used += 1 + frac_len;
    }
    text.remove_prefix(used);
    return d;
}

std::optional<decimal> parse_decimal(std::string_view text) noexcept
{
    auto d = take_decimal(text);
    if (!d || !text.empty()) {
        return std::nullopt;
    }
    return d;
}

std::string_view strip_leading_zeros(std::string_view digits) noexcept
{
    while (digits.size() > 1 && digits.front() == '0') {
        digits.remove_prefix(1);
    }
    return digits;
}

bool all_zeros(std::string_view digits) noexcept
{
    return digits.find_first_not_of('0') == std::string_view::npos;
}

// Exact "value <= limit" for a small integer limit, on the decimal text.
bool at_most(const decimal& d, unsigned limit) noexcept
{
    const auto integer = strip_leading_zeros(d.integer);
    if (integer.size() > 3) {
        return false;
    }
    unsigned value = 0;
    for (char c : integer) {
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value < limit || (value == limit && all_zeros(d.fraction));
}

double to_double(std::string_view text) noexcept
{
    double value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

// One signed ISO 6709 component at the front of `text`.
std::optional<double> take_degrees(std::string_view& text, std::size_t max_int_digits, unsigned limit) noexcept
{
    if (text.empty() || (text.front() != '+' && text.front() != '-')) {
        return std::nullopt;
    }
    const bool negative = text.front() == '-';
    std::string_view rest = text.substr(1);
    const std::string_view start = rest;
    auto d = take_decimal(rest);
    if (!d || d->integer.size() > max_int_digits || !at_most(*d, limit)) {
        return std::nullopt;
    }
    const double magnitude = to_double(start.substr(0, start.size() - rest.size()));
    text = rest;
    return negative ? -magnitude : magnitude;
}

bool valid_client(std::string_view client) noexcept
{
    return !client.empty() && client.size() <= max_client_id_bytes;
}

// "[+-]D+.DDDDDDDDD", the only form format_skew produces.
bool valid_skew(std::string_view skew) noexcept
{
    if (skew.size() < 2 || (skew.front() != '+' && skew.front() != '-')) {
        return false;
    }
    auto d = parse_decimal(skew.substr(1));
    return d && d->fraction.size() == 9;
}

void append(std::string& out, std::initializer_list<std::string_view> parts)
{
    std::size_t size = out.size();
    for (auto p : parts) {
        size += p.size();
    }
    out.reserve(size);
    for (auto p : parts) {
        out.append(p);
    }
}

} // namespace

fields split_fields(std::string_view line) noexcept
{
    fields f;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) {
            ++i;
        }
        if (i == line.size()) {
            break;
        }
        const std::size_t start = i;
        while (i < line.size() && !is_space(line[i])) {
            ++i;
        }
        if (f.count < fields::capacity) {
            f.at[f.count] = line.substr(start, i - start);
        }
        ++f.count;
    }
    return f;
}

std::optional<std::string_view> take_line(std::string_view& buffer) noexcept
{
    const auto nl = buffer.find('\n');
    if (nl == std::string_view::npos) {
        return std::nullopt;
    }
    const auto line = buffer.substr(0, nl);
    buffer.remove_prefix(nl + 1);
    return line;
}

std::optional<geo_point> parse_location(std::string_view text) noexcept
{
    auto lat = take_degrees(text, 2, 90);
    if (!lat) {
        return std::nullopt;
    }
    auto lng = take_degrees(text, 3, 180);
    if (!lng || !text.empty()) {
        return std::nullopt;
    }
    return geo_point{*lat, *lng};
}

std::optional<std::int64_t> parse_time_ns(std::string_view text) noexcept
{
    auto d = parse_decimal(text);
    if (!d) {
        return std::nullopt;
    }
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    constexpr std::uint64_t ns_per_s = 1'000'000'000;
    const auto integer = strip_leading_zeros(d->integer);
    if (integer.size() > 10) {
        return std::nullopt;
    }
    std::uint64_t seconds = 0;
    for (char c : integer) {
        seconds = seconds * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (seconds > max / ns_per_s) {
        return std::nullopt;
    }
    std::uint64_t nanos = 0;
    for (std::size_t i = 0; i < 9; ++i) {
        const char c = i < d->fraction.size() ? d->fraction[i] : '0';
        nanos = nanos * 10 + static_cast<std::uint64_t>(c - '0');
    }
    const std::uint64_t total = seconds * ns_per_s;
    if (total > max - nanos) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(total + nanos);
}

std::optional<radius> parse_radius(std::string_view text)
{
    auto d = parse_decimal(text);
    if (!d || !at_most(*d, 50) || (all_zeros(d->integer) && all_zeros(d->fraction))) {
        return std::nullopt;
    }
    // Kilometres to metres is a shift of the decimal point by three places,
    // done on the text so that the places source sees exactly what was asked.
    std::string whole(d->integer);
    std::string_view frac = d->fraction;
    for (std::size_t i = 0; i < 3; ++i) {
        whole += i < frac.size() ? frac[i] : '0';
    }
    frac = frac.size() > 3 ? frac.substr(3) : std::string_view{};
    while (!frac.empty() && frac.back() == '0') {
        frac.remove_suffix(1);
    }
    std::string metres(strip_leading_zeros(whole));
    if (!frac.empty()) {
        metres += '.';
        metres += frac;
    }
    return radius{to_double(text), std::move(metres)};
}

std::optional<unsigned> parse_bound(std::string_view text) noexcept
{
    if (text.empty() || count_digits(text, 0) != text.size()) {
        return std::nullopt;
    }
    const auto digits = strip_leading_zeros(text);
    if (digits.size() > 2) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (char c : digits) {
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value < 1 || value > max_bound) {
        return std::nullopt;
    }
    return value;
}

command parse_command(std::string_view line, std::size_t max_client_id)
{
    const fields f = split_fields(line);
    if (f.count == 0) {
        return blank_line{};
    }
    if (f.count != 4 || !valid_client(f.at[1]) || f.at[1].size() > max_client_id) {
        return invalid_line{};
    }
    if (f.at[0] == "IAMAT") {
        auto where = parse_location(f.at[2]);
        auto time_ns = parse_time_ns(f.at[3]);
        if (!where || !time_ns) {
            return invalid_line{};
        }
        return iamat_command{f.at[1], f.at[2], f.at[3], *where, *time_ns};
    }
    if (f.at[0] == "WHATSAT") {
        auto within = parse_radius(f.at[2]);
        auto bound = parse_bound(f.at[3]);
        if (!within || !bound) {
            return invalid_line{};
        }
        return whatsat_command{f.at[1], std::move(*within), *bound};
    }
    return invalid_line{};
}

std::optional<at_record> parse_at_line(std::string_view line) noexcept
{
    const fields f = split_fields(line);
    if (f.count != 6 || f.at[0] != "AT" || !valid_skew(f.at[2]) || !valid_client(f.at[3])) {
        return std::nullopt;
    }
    auto where = parse_location(f.at[4]);
    auto time_ns = parse_time_ns(f.at[5]);
    if (!where || !time_ns) {
        return std::nullopt;
    }
    return at_record{f.at[1], f.at[2], f.at[3], f.at[4], f.at[5], *where, *time_ns};
}

std::string format_skew(std::int64_t skew_ns)
{
    // Unsigned negation keeps INT64_MIN exact.
    const bool negative = skew_ns < 0;
    const std::uint64_t magnitude =
        negative ? 0 - static_cast<std::uint64_t>(skew_ns) : static_cast<std::uint64_t>(skew_ns);
    std::array<char, 32> buf{};
    char* p = buf.data();
    *p++ = negative ? '-' : '+';
    p = std::to_chars(p, buf.data() + buf.size(), magnitude / 1'000'000'000).ptr;
    *p++ = '.';
    std::uint64_t nanos = magnitude % 1'000'000'000;
    for (int i = 8; i >= 0; --i) {
        p[i] = static_cast<char>('0' + nanos % 10);
        nanos /= 10;
    }
    p += 9;
    return {buf.data(), p};
}

std::string format_at(std::string_view server, std::int64_t skew_ns, const iamat_command& cmd)
{
    const std::string skew = format_skew(skew_ns);
    std::string line;
    append(line, {"AT ", server, " ", skew, " ", cmd.client, " ", cmd.location, " ", cmd.time});
    return line;
}

void append_invalid(std::string& out, std::string_view line)
{
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    append(out, {"? ", line, "\n"});
}

std::string fold_newlines(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\n' && !out.empty() && out.back() == '\n') {
            continue;
        }
        out += c;
    }
    return out;
}

} // namespace herd
