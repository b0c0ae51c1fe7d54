#include "workload.hpp"

#include <cmath>
#include <cstdio>

namespace herd::load {

std::string format_location(location where)
{
    char text[48];
    const int n = std::snprintf(text, sizeof text, "%+.6f%+.6f", where.lat, where.lng);
    return {text, static_cast<std::size_t>(n)};
}

std::string format_time(std::int64_t time_ns)
{
    char text[32];
    const int n = std::snprintf(text, sizeof text, "%lld.%09lld", static_cast<long long>(time_ns / 1'000'000'000),
                                static_cast<long long>(time_ns % 1'000'000'000));
    return {text, static_cast<std::size_t>(n)};
}

void append_request(std::string& out, request_kind kind, std::string_view client, location where, std::int64_t time_ns,
                    int radius_km, int bound)
{
    switch (kind) {
    case request_kind::iamat:
    case request_kind::line:
        out += "IAMAT ";
        out += client;
        out += ' ';
        out += format_location(where);
        out += ' ';
        out += format_time(time_ns);
        break;
    case request_kind::whatsat:
        out += "WHATSAT ";
        out += client;
        out += ' ';
        out += std::to_string(radius_km);
        out += ' ';
        out += std::to_string(bound);
        break;
    case request_kind::set:
        out += "SET ";
        out += client;
        out += ' ';
        out += format_location(where);
        out += '@';
        out += format_time(time_ns);
        break;
    }
    out += '\n';
}

std::optional<reply_reader::reply> reply_reader::next(request_kind kind)
{
    const std::string_view rest = std::string_view(buffer_).substr(consumed_);
    const std::size_t eol = rest.find('\n');
    if (eol == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view first = rest.substr(0, eol);
    std::size_t end = eol + 1;
    bool ok = false;
    switch (kind) {
    case request_kind::iamat:
        ok = first.starts_with("AT ");
        break;
    case request_kind::whatsat:
        ok = first.starts_with("AT ");
        if (ok) {
            // The AT line, the JSON, then an empty line ends the reply.
            const std::size_t blank = rest.find("\n\n", eol);
            if (blank == std::string_view::npos) {
                return std::nullopt;
            }
            end = blank + 2;
        }
        break;
    case request_kind::set:
        ok = first.starts_with("+OK");
        break;
    case request_kind::line:
        ok = !first.starts_with("?") && !first.starts_with("-");
        break;
    }
    consumed_ += end;
    return reply{ok, end};
}

void reply_reader::compact()
{
    buffer_.erase(0, consumed_);
    consumed_ = 0;
}

} // namespace herd::load
