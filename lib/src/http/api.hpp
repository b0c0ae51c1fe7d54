// The HTTP/JSON API's rules as pure functions (docs/http.md): a request
// becomes one line of the line protocol, or an error with its status and
// reason; the line's replies become the JSON answer. Nothing here does
// I/O, so every rule is unit-tested synchronously (test/http_rules_test.cpp);
// handle_http performs the line through the connection's line session.
#pragma once

#include "core/location_store.hpp"

#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace herd::http_api {

struct error {
    boost::beast::http::status status;
    std::string reason;
    std::string_view allow = {}; // with 405: the method the path takes
};

// The line protocol's command for a request (no '\n').
struct line {
    std::string text;
    enum class kind { iamat, whatsat } what;
    std::string client; // the client it is about, as in the text
};

// GET /v1/clients/ID: the client's ID, decoded.
struct client_lookup {
    std::string client;
};

// Which WebSocket a GET upgrades to.
enum class websocket { lines, stream };

using route = std::variant<line, client_lookup, websocket, error>;

// Routes a request. `body` is only read for POST /v1/iamat;
// `client_id_bytes` is limits.client_id_bytes. A WebSocket path that is
// not an upgrade is a 400.
route route_request(boost::beast::http::verb method, std::string_view target, std::string_view body, bool is_upgrade,
                    std::size_t client_id_bytes);

// The answers, one JSON object and a newline each.
// POST /v1/iamat, from its AT reply line ("AT ...\n"); a "? ..." reply
// (a rule of the line protocol the fields passed here) is a 400.
std::variant<std::string, error> iamat_answer(std::string_view replies);
// GET /v1/whatsat, from its replies (the AT line, the places JSON, the
// blank line); a "? ..." reply (the client vanished meanwhile) is a 404.
std::variant<std::string, error> whatsat_answer(std::string_view replies);
// GET /v1/clients/ID.
std::string client_answer(const location_record& record);
std::string error_answer(std::string_view reason);

} // namespace herd::http_api
