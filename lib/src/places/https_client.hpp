// A small HTTPS client on Beast for the places sources: requests to one
// host over kept-alive TLS connections, the peer verified against the
// system's CAs (and an extra CA file), SNI and host name checked, every step
// under one deadline, and no more than a pool's worth of connections at
// once. The twin of the prototype's aiohttp.ClientSession.
#pragma once

#include "herd/google_places.hpp"
#include "places/google_api.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace herd::detail {

struct https_request {
    std::string method; // "GET" or "POST"
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct https_result {
    unsigned status = 0; // 0: no HTTP answer, see `error`
    std::string body;
    std::string error;      // why there is no answer
    bool reused = false;    // came over a kept-alive connection
    bool cancelled = false; // the caller gave up (its own time-out), see `error` for where
};

// Verifies peers against the system store, plus `extra_ca` (PEM) if given.
// Throws std::runtime_error naming the file if it cannot be read.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(const std::filesystem::path& extra_ca);

struct https_options {
    // Connections open at once (busy, opening or idle); requests beyond
    // wait their turn within their own deadline.
    std::size_t max_connections = 8;
    host_resolver resolve; // empty: the system's (detail::system_resolve)
};

class https_client {
public:
    https_client(boost::asio::any_io_executor executor, https_url url, std::shared_ptr<boost::asio::ssl::context> tls,
                 https_options options = {});
    ~https_client();
    https_client(const https_client&) = delete;
    https_client& operator=(const https_client&) = delete;

    // Never throws; everything, from waiting for a connection and resolving
    // to the last body byte, is done within `limit`, even if the resolver
    // hangs. A kept-alive connection the server has closed meanwhile is
    // replaced once, transparently; a cancelled request is not sent again.
    boost::asio::awaitable<https_result> request(https_request request, std::chrono::steady_clock::duration limit);

    // Closes every connection; requests under way, or waiting for a
    // connection, fail at once.
    void stop();

    std::size_t connections_opened() const noexcept { return opened_; }

private:
    struct connection;
    struct waiter;
    class lease;
    class busy_mark;
    boost::asio::awaitable<std::pair<std::unique_ptr<connection>, std::string>>
    open(std::chrono::steady_clock::time_point deadline);
    boost::asio::awaitable<std::string> acquire(std::chrono::steady_clock::time_point deadline);
    void release() noexcept;

    boost::asio::any_io_executor executor_;
    https_url url_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    https_options options_;
    std::vector<std::unique_ptr<connection>> idle_;
    std::unordered_set<connection*> busy_;
    std::size_t in_use_ = 0; // leases held: requests opening or using a connection
    std::deque<std::shared_ptr<waiter>> waiting_;
    std::size_t opened_ = 0;
    bool stopped_ = false;
};

} // namespace herd::detail
