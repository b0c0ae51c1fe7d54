// What herd-load says and what it waits for, I/O-free: the request lines
// for each kind of command, the same commands as HTTP requests to the HTTP
// port (docs/http.md), and the framing of the replies (one line, or an AT
// line, JSON and a blank line for WHATSAT; an HTTP response), so the
// coroutines in main.cpp only move bytes and the framing is tested
// synchronously.
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herd::load {

// The commands herd-load can send. `set` is Redis's inline SET with the
// same key and a value the size of an IAMAT's location and time, and
// `line` is an IAMAT line for a server that answers every line with one
// line; both expect a one-line reply, so any line server is driven with the
// same code path as the herd.
enum class request_kind { iamat, whatsat, set, line };

struct location {
    double lat = 34.068930;
    double lng = -118.445127;
};

// Appends one request with its '\n' to `out`. `time_ns` is the client's
// clock for IAMAT (and SET's value); WHATSAT asks for `radius_km` and at
// most `bound` places.
void append_request(std::string& out, request_kind kind, std::string_view client, location where, std::int64_t time_ns,
                    int radius_km = 10, int bound = 5);

// "+34.068930-118.445127", as the contract writes coordinates.
std::string format_location(location where);
// "1700000000.123456789": seconds and nanoseconds since the epoch.
std::string format_time(std::int64_t time_ns);

// Whole replies out of a byte stream. The caller says what it expects next,
// because a WHATSAT reply spans lines and an IAMAT reply does not.
class reply_reader {
public:
    struct reply {
        bool ok = false; // shaped as that command's success, not "? ..." or "-ERR"
        std::size_t bytes = 0;
    };

    void append(std::string_view bytes) { buffer_.append(bytes); }

    // The next complete reply to a request of `kind`, if it has all arrived.
    std::optional<reply> next(request_kind kind);

    // Drops the bytes already returned; call once per read, not per reply.
    void compact();

    std::size_t pending() const noexcept { return buffer_.size() - consumed_; }

private:
    std::string buffer_;
    std::size_t consumed_ = 0;
};

// Appends one HTTP/1.1 request, kept alive, for an IAMAT (POST /v1/iamat
// with its JSON body) or a WHATSAT (GET /v1/whatsat?client=&radius=&max=)
// to `out`; `host` is the Host header. Several appended are pipelined.
void append_http_request(std::string& out, request_kind kind, std::string_view client, location where,
                         std::int64_t time_ns, std::string_view host, int radius_km = 10, int bound = 5);

// Whole HTTP responses out of a byte stream, by Beast's parser: ok is a
// 200. Bytes that are not an HTTP response give one reply that is not ok
// and are dropped.
class http_reply_reader {
public:
    void append(std::string_view bytes) { buffer_.append(bytes); }
    std::optional<reply_reader::reply> next();
    void compact();
    std::size_t pending() const noexcept { return buffer_.size() - consumed_; }

private:
    std::string buffer_;
    std::size_t consumed_ = 0;
    std::size_t reply_bytes_ = 0; // of the response being parsed
    // A response whose header has come and whose body has not, kept across
    // reads so that its header is parsed once.
    std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
};

// The client's clock that a /v1/stream event carries (its "time" field, the
// IAMAT's own), in nanoseconds since the epoch, if it has one.
std::optional<std::int64_t> event_time_ns(std::string_view event);

} // namespace herd::load
