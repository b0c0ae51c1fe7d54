#include "workload.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <cctype>
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

namespace {

// RFC 3986's unreserved bytes as they are, every other byte as %XX.
void append_query_value(std::string& out, std::string_view value)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
}

} // namespace

void append_http_request(std::string& out, request_kind kind, std::string_view client, location where,
                         std::int64_t time_ns, std::string_view host, int radius_km, int bound)
{
    if (kind == request_kind::whatsat) {
        out += "GET /v1/whatsat?client=";
        append_query_value(out, client);
        out += "&radius=";
        out += std::to_string(radius_km);
        out += "&max=";
        out += std::to_string(bound);
        out += " HTTP/1.1\r\nHost: ";
        out += host;
        out += "\r\n\r\n";
        return;
    }
    std::string body = R"({"client":)";
    body += boost::json::serialize(boost::json::string(client));
    body += R"(,"location":")";
    body += format_location(where);
    body += R"(","time":")";
    body += format_time(time_ns);
    body += R"("})";
    out += "POST /v1/iamat HTTP/1.1\r\nHost: ";
    out += host;
    out += "\r\nContent-Type: application/json\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\n\r\n";
    out += body;
}

std::optional<reply_reader::reply> http_reply_reader::next()
{
    namespace http = boost::beast::http;
    for (;;) {
        const std::string_view rest = std::string_view(buffer_).substr(consumed_);
        if (rest.empty()) {
            return std::nullopt;
        }
        if (!parser_) {
            parser_.emplace();
            parser_->eager(true); // the body in the same put() as the header, when it has come
            reply_bytes_ = 0;
        }
        boost::system::error_code ec;
        const std::size_t used = parser_->put(boost::asio::buffer(rest.data(), rest.size()), ec);
        consumed_ += used;
        reply_bytes_ += used;
        if (parser_->is_done()) {
            const bool ok = parser_->get().result() == http::status::ok;
            parser_.reset();
            return reply_reader::reply{ok, reply_bytes_};
        }
        if (ec == http::error::need_more) {
            if (used == 0) {
                return std::nullopt;
            }
            continue;
        }
        if (ec) {
            // Nothing after bytes that are not HTTP can be framed.
            consumed_ = buffer_.size();
            parser_.reset();
            return reply_reader::reply{false, rest.size()};
        }
    }
}

void http_reply_reader::compact()
{
    buffer_.erase(0, consumed_);
    consumed_ = 0;
}

std::optional<std::int64_t> event_time_ns(std::string_view event)
{
    constexpr std::string_view key = R"("time":")";
    const auto at = event.find(key);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    std::int64_t seconds = 0;
    std::int64_t nanos = 0;
    int fraction_digits = -1; // none yet: before the point
    for (std::size_t i = at + key.size(); i < event.size() && event[i] != '"'; ++i) {
        const char c = event[i];
        if (c == '.' && fraction_digits < 0) {
            fraction_digits = 0;
        } else if (c >= '0' && c <= '9' && fraction_digits < 0) {
            seconds = seconds * 10 + (c - '0');
        } else if (c >= '0' && c <= '9' && fraction_digits < 9) {
            nanos = nanos * 10 + (c - '0');
            ++fraction_digits;
        } else if (c < '0' || c > '9') {
            return std::nullopt;
        }
    }
    for (int d = std::max(fraction_digits, 0); d < 9; ++d) {
        nanos *= 10;
    }
    return seconds * 1'000'000'000 + nanos;
}

} // namespace herd::load
