// libFuzzer target: an HTTP request as the HTTP port parses it (Beast's
// parser, the port's header and body limits) and routes it. Beyond not
// crashing: whatever line the API makes of a request must be one the line
// protocol accepts as that command, so nothing malformed reaches the store;
// and the body, read as a /v1/stream message, is parsed without a crash.
#include "http/api.hpp"
#include "http/subscription.hpp"
#include "protocol/protocol.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdlib>
#include <string_view>

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    (void)herd::stream::parse_request(bytes);

    http::request_parser<http::string_body> parser;
    parser.header_limit(8192);
    parser.body_limit(8192);
    parser.eager(true);
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(bytes), ec);
    if (ec || !parser.is_done()) {
        return 0;
    }
    const auto& request = parser.get();
    const auto route = herd::http_api::route_request(request.method(), request.target(), request.body(), false,
                                                     herd::max_client_id_bytes);
    if (const auto* line = std::get_if<herd::http_api::line>(&route)) {
        const auto command = herd::parse_command(line->text);
        const bool same = line->what == herd::http_api::line::kind::iamat
                              ? std::holds_alternative<herd::iamat_command>(command)
                              : std::holds_alternative<herd::whatsat_command>(command);
        if (!same || line->text.find('\n') != std::string::npos) {
            std::abort();
        }
    }
    return 0;
}
