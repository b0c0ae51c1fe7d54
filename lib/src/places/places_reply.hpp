// The places half of a WHATSAT reply, from a source's answer.
#pragma once

#include <boost/json/object.hpp>

#include <string>

namespace herd {

// Cuts `results` to at most `bound` entries.
void limit_results(boost::json::object& answer, unsigned bound);

// The places part of a WHATSAT reply: Google's pretty-printing, runs of
// newlines folded, and no trailing newline.
std::string format_places(const boost::json::object& answer);

} // namespace herd
