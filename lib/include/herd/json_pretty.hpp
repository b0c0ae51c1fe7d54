// JSON printed the way the Places API prints it: three-space indent,
// "key" : value, empty containers as [] and {}, numbers in their shortest
// round-trip decimal form. Boost.JSON's own serializer is compact and puts
// doubles in exponent form, which no places answer ever shows.
#pragma once

#include <boost/json/value.hpp>

#include <string>

namespace herd {

std::string pretty_json(const boost::json::value& value);

} // namespace herd
