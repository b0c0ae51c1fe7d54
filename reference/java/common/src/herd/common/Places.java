package herd.common;

import com.fasterxml.jackson.databind.node.ObjectNode;
import herd.common.Protocol.Point;
import herd.common.Protocol.Radius;
import herd.common.Topology.PlacesConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** Where WHATSAT's places come from: the offline GeoJSON points, or Google's legacy Nearby Search. */
public interface Places extends AutoCloseable {
    String LEGACY_URL = "https://maps.googleapis.com/maps/api/place/nearbysearch/json";

    /** The answer in the legacy API's shape; the caller cuts it to the bound. Never fails. */
    CompletableFuture<ObjectNode> nearbySearch(Point where, Radius radius, int bound);

    String describe();

    @Override
    default void close() {}

    /** provider "auto" picks google (legacy) with a key and local without; "google-new" is Herd's alone. */
    static Places make(PlacesConfig config, Path bundled, ServerLog log) throws ConfigException {
        String provider = config.provider();
        final String keyEnv = config.keyEnv();
        final String key = System.getenv().getOrDefault(keyEnv, "");
        if (provider.equals("auto")) {
            provider = key.isEmpty() ? "local" : "google"; // the reference speaks only the legacy API
            log.info("places provider auto: $" + keyEnv + " is " + (key.isEmpty() ? "not set" : "set"));
        }
        switch (provider) {
            case "local" -> {
                return LocalPlaces.load(config.file().orElse(bundled));
            }
            case "google-new" -> throw new ConfigException(
                    "places.provider google-new: the Java reference speaks only the legacy API (use google)");
            case "google" -> {
                if (key.isEmpty()) {
                    throw new ConfigException("places.provider is google but $" + keyEnv + " is not set");
                }
                return new GooglePlaces(config.endpoint().orElse(LEGACY_URL), key, "$" + keyEnv, config.caFile(),
                        Duration.ofMillis(Math.round(config.timeoutSeconds() * 1000)), log);
            }
            default -> throw new ConfigException("places.provider " + provider + " is not one of auto, local, google");
        }
    }
}
