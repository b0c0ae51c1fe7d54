#include "http/api.hpp"

#include "admin/json_pretty.hpp"
#include "http/record_json.hpp"
#include "http/url.hpp"
#include "protocol/protocol.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <optional>

namespace herd::http_api {

namespace http = boost::beast::http;

namespace {

error bad(std::string reason)
{
    return {http::status::bad_request, std::move(reason)};
}

// The client ID rule of the line protocol: 1 to `most` bytes, none of them
// white space (which would split the line into other fields).
std::optional<error> check_client(std::string_view client, std::size_t most)
{
    if (client.empty()) {
        return bad("client must not be empty");
    }
    if (client.size() > most) {
        return bad("client is over " + std::to_string(most) + " bytes");
    }
    if (std::any_of(client.begin(), client.end(), is_space)) {
        return bad("client must not contain white space");
    }
    return std::nullopt;
}

route iamat(std::string_view body, std::size_t client_id_bytes)
{
    boost::system::error_code ec;
    const boost::json::value parsed = boost::json::parse(body, ec);
    if (ec || !parsed.is_object()) {
        return bad("the body must be a JSON object: {\"client\":..., \"location\":..., \"time\":...}");
    }
    const auto& object = parsed.as_object();
    std::string_view fields[3];
    constexpr std::string_view names[3] = {"client", "location", "time"};
    for (std::size_t i = 0; i < 3; ++i) {
        const auto* value = object.if_contains(names[i]);
        if (value == nullptr || !value->is_string()) {
            return bad(std::string(names[i]) + " must be a string");
        }
        fields[i] = value->as_string();
    }
    if (object.size() != 3) {
        return bad("the body takes client, location and time, and nothing else");
    }
    if (auto wrong = check_client(fields[0], client_id_bytes)) {
        return *wrong;
    }
    if (!parse_location(fields[1])) {
        return bad("location must be ISO 6709 latitude and longitude, as +34.068930-118.445127");
    }
    if (!parse_time_ns(fields[2])) {
        return bad("time must be POSIX seconds, as 1621464827.959498503");
    }
    line out{"IAMAT ", line::kind::iamat, std::string(fields[0])};
    out.text.append(fields[0]).append(" ").append(fields[1]).append(" ").append(fields[2]);
    return out;
}

route whatsat(std::string_view query, std::size_t client_id_bytes)
{
    auto pairs = parse_query(query);
    if (!pairs) {
        return bad("the query must be client=ID&radius=KM&max=N");
    }
    std::optional<std::string> client;
    std::optional<std::string> radius;
    std::optional<std::string> bound;
    for (auto& [key, value] : *pairs) {
        auto* slot = key == "client" ? &client : key == "radius" ? &radius : key == "max" ? &bound : nullptr;
        if (slot == nullptr) {
            return bad("the query takes client, radius and max, not " + key);
        }
        if (*slot) {
            return bad(key + " is given twice");
        }
        *slot = std::move(value);
    }
    if (!client || !radius || !bound) {
        return bad("the query must be client=ID&radius=KM&max=N");
    }
    if (auto wrong = check_client(*client, client_id_bytes)) {
        return *wrong;
    }
    if (!parse_radius(*radius)) {
        return bad("radius must be kilometres, more than 0 and at most 50");
    }
    if (!parse_bound(*bound)) {
        return bad("max must be a whole number from 1 to 20");
    }
    return line{"WHATSAT " + *client + " " + *radius + " " + *bound, line::kind::whatsat, std::move(*client)};
}

error wrong_method(std::string_view allow)
{
    return {http::status::method_not_allowed, "this path takes " + std::string(allow) + " only", allow};
}

} // namespace

route route_request(http::verb method, std::string_view target, std::string_view body, bool is_upgrade,
                    std::size_t client_id_bytes)
{
    const auto [path, query] = split_target(target);
    if (path == "/v1/iamat") {
        if (method != http::verb::post) {
            return wrong_method("POST");
        }
        return iamat(body, client_id_bytes);
    }
    const bool get = method == http::verb::get;
    if (path == "/v1/whatsat") {
        return get ? whatsat(query, client_id_bytes) : route(wrong_method("GET"));
    }
    if (path == "/v1/lines" || path == "/v1/stream") {
        if (!get) {
            return wrong_method("GET");
        }
        if (!is_upgrade) {
            return bad(std::string(path) + " is a WebSocket: send an upgrade");
        }
        return path == "/v1/lines" ? websocket::lines : websocket::stream;
    }
    constexpr std::string_view clients = "/v1/clients/";
    if (path.starts_with(clients)) {
        if (!get) {
            return wrong_method("GET");
        }
        auto client = percent_decode(path.substr(clients.size()));
        if (!client) {
            return bad("the client ID has a bad %-escape");
        }
        if (auto wrong = check_client(*client, client_id_bytes)) {
            return *wrong;
        }
        return client_lookup{std::move(*client)};
    }
    return error{http::status::not_found,
                 "no such path: try POST /v1/iamat, GET /v1/whatsat, /v1/clients/ID, /v1/lines or /v1/stream"};
}

std::variant<std::string, error> iamat_answer(std::string_view replies)
{
    std::string_view at = replies.substr(0, replies.find('\n'));
    const auto record = parse_at_line(at);
    if (!record) {
        return bad("the line protocol refused it: " + std::string(at));
    }
    std::string out = R"({"at":)";
    append_json_string(out, at);
    out += R"(,"server":)";
    append_json_string(out, record->server);
    out += R"(,"skew":)";
    append_json_string(out, record->skew);
    out += "}\n";
    return out;
}

std::variant<std::string, error> whatsat_answer(std::string_view replies)
{
    const auto end = replies.find('\n');
    const std::string_view at = replies.substr(0, end);
    if (!at.starts_with("AT ") || end == std::string_view::npos) {
        return error{http::status::not_found, "no such client"};
    }
    // The places JSON is pretty-printed for the line port; the API gives it
    // as one compact value, its numbers as the line port wrote them.
    const auto text = replies.substr(end + 1);
    boost::system::error_code ec;
    boost::json::parse(text, ec);
    std::string out = R"({"at":)";
    append_json_string(out, at);
    out += R"(,"places":)";
    out += ec ? std::string("null") : compact_json(text);
    out += "}\n";
    return out;
}

std::string client_answer(const location_record& record)
{
    std::string out = "{";
    append_record_fields(out, record);
    out += "}\n";
    return out;
}

std::string error_answer(std::string_view reason)
{
    return one_field_object("error", reason) + '\n';
}

} // namespace herd::http_api
