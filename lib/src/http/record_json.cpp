#include "http/record_json.hpp"

#include "admin/json_pretty.hpp"
#include "protocol/protocol.hpp"

namespace herd::http_api {

void append_record_fields(std::string& out, const location_record& record)
{
    const auto at = parse_at_line(record.at_line);
    out += R"("at":)";
    append_json_string(out, record.at_line);
    out += R"(,"server":)";
    append_json_string(out, record.server());
    out += R"(,"lat":)";
    append_json_double(out, record.where.lat);
    out += R"(,"lng":)";
    append_json_double(out, record.where.lng);
    out += R"(,"time":)";
    append_json_string(out, at ? at->time : "");
}

std::string one_field_object(std::string_view key, std::string_view value)
{
    std::string out = "{";
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
    out += '}';
    return out;
}

} // namespace herd::http_api
