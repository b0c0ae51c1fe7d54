#pragma once
// Distances on the Earth for the offline places: one radius and one
// great-circle formula for the Westwood set and the world's cities.

#include "herd/places.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace herd::geo {

// Mean Earth radius (IUGG), as the haversine distance wants it.
inline constexpr double earth_radius_m = 6'371'008.8;
inline constexpr double radians = std::numbers::pi / 180.0;

// The haversine distance in metres; h is clamped so that rounding near
// antipodes cannot take asin past 1.
inline double haversine_m(geo_point a, geo_point b)
{
    const double dlat = (b.lat - a.lat) * radians;
    const double dlng = (b.lng - a.lng) * radians;
    const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                     std::cos(a.lat * radians) * std::cos(b.lat * radians) * std::sin(dlng / 2) * std::sin(dlng / 2);
    return 2 * earth_radius_m * std::asin(std::sqrt(std::min(1.0, h)));
}

} // namespace herd::geo
