// The JSON pieces the HTTP API and the streams share, so that a record
// reads the same in GET /v1/clients/ID and in a /v1/stream event.
#pragma once

#include "core/location_store.hpp"

#include <string>
#include <string_view>

namespace herd::http_api {

// "at":...,"server":...,"lat":...,"lng":...,"time":...: the AT line, its
// origin server, the position as plain decimals, the client's time as the
// AT line spells it.
void append_record_fields(std::string& out, const location_record& record);

// {"key":"value"}, the value escaped: the answers of one field.
std::string one_field_object(std::string_view key, std::string_view value);

} // namespace herd::http_api
