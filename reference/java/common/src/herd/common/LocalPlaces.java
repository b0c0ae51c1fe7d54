package herd.common;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import herd.common.Protocol.Point;
import herd.common.Protocol.Radius;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Points from a GeoJSON FeatureCollection, nearest first (a linear scan). */
public final class LocalPlaces implements Places {
    private static final double EARTH_RADIUS_M = 6_371_008.8;
    private static final List<String> CATEGORY_KEYS = List.of("category", "amenity", "shop", "tourism", "leisure", "building");

    /** One place: its JSON in the legacy API's shape, and where it is. */
    private record Place(ObjectNode json, Point where) {}

    private record Ranked(double metres, Place place) {}

    private final Path origin;
    private final List<String> attributions;
    private final List<Place> places;

    private LocalPlaces(Path origin, List<String> attributions, List<Place> places) {
        this.origin = origin;
        this.attributions = List.copyOf(attributions);
        this.places = List.copyOf(places);
    }

    public static LocalPlaces load(Path path) throws ConfigException {
        final JsonNode doc;
        try {
            doc = PlacesJson.MAPPER.readTree(path.toFile());
        } catch (IOException e) {
            throw new ConfigException(path + ": " + e.getMessage());
        }
        if (doc == null || !doc.path("features").isArray()) {
            throw new ConfigException(path + ": not a GeoJSON FeatureCollection");
        }
        final List<String> attributions = doc.hasNonNull("attribution") ? List.of(doc.get("attribution").asText()) : List.of();
        final List<Place> places = new ArrayList<>();
        for (final JsonNode f : doc.get("features")) {
            final JsonNode props = f.path("properties");
            final JsonNode geometry = f.path("geometry");
            final String name = props.path("name").asText("");
            final JsonNode coordinates = geometry.path("coordinates");
            if (!geometry.path("type").asText().equals("Point") || name.isEmpty() || coordinates.size() < 2) {
                continue;
            }
            final double lng = coordinates.get(0).asDouble();
            final double lat = coordinates.get(1).asDouble();
            String street = props.path("addr:street").asText("");
            final String number = props.path("addr:housenumber").asText("");
            if (!number.isEmpty() && !street.isEmpty()) {
                street = number + " " + street;
            }
            final String city = props.path("addr:city").asText("");
            String vicinity = props.path("vicinity").asText("");
            if (vicinity.isEmpty()) {
                vicinity = Stream.of(street, city).filter(s -> !s.isEmpty()).collect(Collectors.joining(", "));
            }
            final String category = CATEGORY_KEYS.stream()
                    .map(k -> props.path(k).asText(""))
                    .filter(s -> !s.isEmpty())
                    .findFirst()
                    .orElse("point_of_interest");
            String placeId = props.path("place_id").asText("");
            if (placeId.isEmpty()) {
                placeId = props.path("@id").asText("");
            }
            if (placeId.isEmpty()) {
                placeId = f.hasNonNull("id") ? f.get("id").asText() : String.valueOf(places.size());
            }
            final ObjectNode json = PlacesJson.MAPPER.createObjectNode();
            json.putObject("geometry").putObject("location").put("lat", lat).put("lng", lng);
            json.put("name", name);
            json.put("place_id", placeId);
            json.putArray("types").add(category).add("point_of_interest").add("establishment");
            json.put("vicinity", vicinity);
            places.add(new Place(json, new Point(lat, lng)));
        }
        return new LocalPlaces(path, attributions, places);
    }

    static double haversineM(Point a, Point b) {
        final double lat1 = Math.toRadians(a.lat());
        final double lat2 = Math.toRadians(b.lat());
        final double dLat = lat2 - lat1;
        final double dLng = Math.toRadians(b.lng() - a.lng());
        final double h = Math.pow(Math.sin(dLat / 2), 2) + Math.cos(lat1) * Math.cos(lat2) * Math.pow(Math.sin(dLng / 2), 2);
        return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(h));
    }

    @Override
    public CompletableFuture<ObjectNode> nearbySearch(Point where, Radius radius, int bound) {
        final double limit = radius.km() * 1000;
        final ObjectNode answer = PlacesJson.MAPPER.createObjectNode();
        final ArrayNode html = answer.putArray("html_attributions");
        attributions.forEach(html::add);
        final ArrayNode results = answer.putArray("results");
        places.stream()
                .map(p -> new Ranked(haversineM(where, p.where()), p))
                .filter(r -> r.metres() <= limit)
                .sorted(Comparator.comparingDouble(Ranked::metres)) // stable: ties keep the file's order
                .limit(bound)
                .forEach(r -> results.add(r.place().json()));
        answer.put("status", results.isEmpty() ? "ZERO_RESULTS" : "OK");
        return CompletableFuture.completedFuture(answer);
    }

    @Override
    public String describe() {
        return "local (" + places.size() + " places from " + origin + ")";
    }
}
