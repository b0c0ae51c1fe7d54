#include "herd/local_places.hpp"

#include "places/bundled_places.hpp"
#include "places/geo.hpp"

#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace herd {

namespace {

namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;

using point = bg::model::point<double, 2, bg::cs::spherical_equatorial<bg::degree>>;
using entry = std::pair<point, std::size_t>;

using geo::earth_radius_m;

struct place {
    std::string name;
    std::string place_id;
    std::string vicinity;
    boost::json::array types;
    geo_point where;
};

std::string string_property(const boost::json::object& props, std::string_view key)
{
    const auto* v = props.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// OpenStreetMap exports tag a place with amenity=cafe, shop=bakery and the
// like; files made for Herd say category=cafe. Either becomes the first type.
std::string category_of(const boost::json::object& props)
{
    for (std::string_view key : {"category", "amenity", "shop", "tourism", "leisure", "building"}) {
        if (auto value = string_property(props, key); !value.empty()) {
            return value;
        }
    }
    return "point_of_interest";
}

std::string vicinity_of(const boost::json::object& props)
{
    if (auto v = string_property(props, "vicinity"); !v.empty()) {
        return v;
    }
    std::string street = string_property(props, "addr:street");
    if (auto number = string_property(props, "addr:housenumber"); !number.empty() && !street.empty()) {
        street = number + " " + street;
    }
    std::string city = string_property(props, "addr:city");
    if (street.empty()) {
        return city;
    }
    return city.empty() ? street : street + ", " + city;
}

std::string id_of(const boost::json::object& feature, const boost::json::object& props, std::size_t n)
{
    for (std::string_view key : {"place_id", "@id", "id"}) {
        if (auto id = string_property(props, key); !id.empty()) {
            return id;
        }
    }
    if (const auto* id = feature.if_contains("id")) {
        if (id->is_string()) {
            return std::string(id->get_string());
        }
        if (id->is_int64()) {
            return std::to_string(id->get_int64());
        }
    }
    return "local-" + std::to_string(n);
}

} // namespace

struct local_places::index {
    std::string origin;
    std::vector<place> places;
    boost::json::array attributions;
    bgi::rtree<entry, bgi::rstar<16>> tree;
};

local_places::local_places(std::unique_ptr<index> idx) : index_(std::move(idx)) {}
local_places::~local_places() = default;

std::unique_ptr<local_places> local_places::from_geojson(std::string_view geojson, std::string origin)
{
    auto fail = [&](const std::string& what) -> places_data_error { return places_data_error(origin + ": " + what); };
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(geojson, ec);
    if (ec) {
        throw fail("not JSON: " + ec.message());
    }
    const auto* root = doc.if_object();
    const auto* type = root != nullptr ? root->if_contains("type") : nullptr;
    const auto* features = root != nullptr ? root->if_contains("features") : nullptr;
    if (type == nullptr || *type != "FeatureCollection" || features == nullptr || !features->is_array()) {
        throw fail("not a GeoJSON FeatureCollection");
    }

    auto idx = std::make_unique<index>();
    idx->origin = origin; // `fail` still names it
    if (const auto* a = root->if_contains("attribution"); a != nullptr && a->is_string()) {
        idx->attributions.push_back(*a);
    }
    std::vector<entry> entries;
    for (const auto& f : features->get_array()) {
        const auto* feature = f.if_object();
        const auto* geometry = feature != nullptr ? feature->if_contains("geometry") : nullptr;
        const auto* props_v = feature != nullptr ? feature->if_contains("properties") : nullptr;
        if (geometry == nullptr || !geometry->is_object() || props_v == nullptr || !props_v->is_object()) {
            continue;
        }
        const auto& g = geometry->get_object();
        const auto* coords = g.if_contains("coordinates");
        if (g.if_contains("type") == nullptr || g.at("type") != "Point" || coords == nullptr || !coords->is_array() ||
            coords->get_array().size() < 2) {
            continue; // ways and areas: only points are places here
        }
        const auto& props = props_v->get_object();
        place p;
        p.name = string_property(props, "name");
        if (p.name.empty()) {
            continue;
        }
        try {
            p.where = {coords->get_array()[1].to_number<double>(), coords->get_array()[0].to_number<double>()};
        } catch (const std::exception&) {
            throw fail("feature \"" + p.name + "\" has coordinates that are not numbers");
        }
        p.place_id = id_of(*feature, props, idx->places.size());
        p.vicinity = vicinity_of(props);
        p.types = {boost::json::string(category_of(props)), "point_of_interest", "establishment"};
        entries.emplace_back(point(p.where.lng, p.where.lat), idx->places.size());
        idx->places.push_back(std::move(p));
    }
    if (idx->places.empty()) {
        throw fail("no named points among its features");
    }
    idx->tree = bgi::rtree<entry, bgi::rstar<16>>(entries.begin(), entries.end());
    return std::unique_ptr<local_places>(new local_places(std::move(idx)));
}

std::unique_ptr<local_places> local_places::from_file(const std::filesystem::path& file)
{
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
        throw places_data_error(file.string() + ": is a directory, not a GeoJSON file");
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw places_data_error(file.string() + ": cannot be read: " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return from_geojson(text.str(), file.string());
}

std::unique_ptr<local_places> local_places::bundled()
{
    return from_geojson(bundled_westwood_geojson, "bundled Westwood places");
}

boost::asio::awaitable<boost::json::object> local_places::nearby_search(places_query query)
{
    co_return search(query);
}

boost::json::object local_places::search(const places_query& query) const
{
    const point centre(query.where.lng, query.where.lat);
    const double radius_m = query.radius_km * 1000.0;
    boost::json::array results;
    // The nearest query visits places in order of distance, so the first
    // one past the radius ends the search.
    for (auto it = index_->tree.qbegin(bgi::nearest(centre, static_cast<unsigned>(index_->places.size())));
         it != index_->tree.qend() && results.size() < query.bound; ++it) {
        const double metres = bg::distance(centre, it->first) * earth_radius_m;
        if (metres > radius_m) {
            break;
        }
        const place& p = index_->places[it->second];
        boost::json::object result;
        result["geometry"] = {{"location", {{"lat", p.where.lat}, {"lng", p.where.lng}}}};
        result["name"] = p.name;
        result["place_id"] = p.place_id;
        result["types"] = p.types;
        result["vicinity"] = p.vicinity;
        results.push_back(std::move(result));
    }
    const bool none = results.empty();
    boost::json::object answer; // keys in the order Google prints them
    answer["html_attributions"] = index_->attributions;
    answer["results"] = std::move(results);
    answer["status"] = none ? "ZERO_RESULTS" : "OK";
    return answer;
}

std::string local_places::describe() const
{
    const auto n = index_->places.size();
    return "local (" + std::to_string(n) + (n == 1 ? " place from " : " places from ") + index_->origin + ")";
}

std::size_t local_places::size() const noexcept
{
    return index_->places.size();
}

} // namespace herd
