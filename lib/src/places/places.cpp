#include "herd/places.hpp"
#include "places/places_reply.hpp"

#include "admin/json_pretty.hpp"
#include "protocol/protocol.hpp"

#include <boost/json.hpp>

namespace herd {

boost::json::object places_error(std::string_view status, std::string_view message)
{
    boost::json::object answer;
    answer["error_message"] = message;
    answer["html_attributions"] = boost::json::array();
    answer["results"] = boost::json::array();
    answer["status"] = status;
    return answer;
}

void limit_results(boost::json::object& answer, unsigned bound)
{
    if (auto* results = answer.if_contains("results"); results != nullptr && results->is_array()) {
        auto& list = results->get_array();
        if (list.size() > bound) {
            list.erase(list.begin() + bound, list.end());
        }
    }
}

std::string format_places(const boost::json::object& answer)
{
    return fold_newlines(pretty_json(answer));
}

} // namespace herd
