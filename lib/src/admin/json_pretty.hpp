// JSON printed the way the Places API prints it: three-space indent,
// "key" : value, empty containers as [] and {}, numbers in their shortest
// round-trip decimal form. Boost.JSON's own serializer is compact and puts
// doubles in exponent form, which no places answer ever shows.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace herd {

std::string pretty_json(const boost::json::value& value);

// The printers pretty_json uses, for JSON written piece by piece (the admin
// endpoint's /clients): a string, quoted and escaped; a double in the
// shortest fixed notation that reads back the same, never an exponent, and
// null if it is not finite.
void append_json_string(std::string& out, std::string_view s);
void append_json_double(std::string& out, double d);

// JSON text with the white space between its tokens removed, every token
// (numbers included) as it was written: pretty_json's output made compact
// without turning its decimals into exponents. `text` must be valid JSON.
std::string compact_json(std::string_view text);

} // namespace herd
