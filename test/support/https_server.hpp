// A real HTTPS server for the places tests (Beast, on loopback, on the
// test's io_context): records every request and answers what the test
// says, including slowly, or by closing a kept-alive connection.
#pragma once

#include "support/test_pki.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace herd::test {

struct recorded_request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;
};

struct canned_response {
    unsigned status = 200;
    std::string body = "{}";
    std::chrono::milliseconds delay{0};
    // Answer as if keeping the connection, then close it: what a server
    // does when an idle kept-alive connection times out on its side.
    bool close_after = false;
};

class https_server {
public:
    https_server(boost::asio::io_context& io, const tls_identity& identity);
    ~https_server();

    void start();
    void stop();
    std::uint16_t port() const;

    std::function<canned_response(const recorded_request&)> respond;
    const std::vector<recorded_request>& requests() const;
    std::size_t connections() const;

    struct state; // shared with the connections' coroutines

private:
    std::shared_ptr<state> state_;
};

} // namespace herd::test
