package herd.common;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import herd.common.Protocol.Point;
import herd.common.Protocol.Radius;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * Nearby Search (legacy) through java.net.http.HttpClient: kept-alive connections, TLS verified
 * against the JDK's trust store plus {@code ca_file}, host names checked.
 */
public final class GooglePlaces implements Places {
    private final URI endpoint;
    private final String key;
    private final String keyOrigin;
    private final Duration timeout;
    private final ServerLog log;
    private final HttpClient http;

    GooglePlaces(String endpoint, String key, String keyOrigin, Optional<Path> caFile, Duration timeout, ServerLog log)
            throws ConfigException {
        try {
            this.endpoint = URI.create(endpoint);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("places.endpoint " + endpoint + " is not a URL: " + e.getMessage());
        }
        this.key = key;
        this.keyOrigin = keyOrigin;
        this.timeout = timeout;
        this.log = log;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeout)
                .sslContext(trusting(caFile))
                .build();
    }

    /** The JDK's own roots, and the certificates of `caFile` beside them. */
    private static SSLContext trusting(Optional<Path> caFile) throws ConfigException {
        try {
            if (caFile.isEmpty()) {
                return SSLContext.getDefault();
            }
            final TrustManagerFactory system = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            system.init((KeyStore) null);
            final KeyStore roots = KeyStore.getInstance(KeyStore.getDefaultType());
            roots.load(null, null);
            int n = 0;
            for (final var manager : system.getTrustManagers()) {
                if (manager instanceof X509TrustManager x509) {
                    for (final X509Certificate root : x509.getAcceptedIssuers()) {
                        roots.setCertificateEntry("system-" + n++, root);
                    }
                }
            }
            try (InputStream in = Files.newInputStream(caFile.get())) {
                for (final Certificate extra : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    roots.setCertificateEntry("ca_file-" + n++, extra);
                }
            }
            final TrustManagerFactory both = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            both.init(roots);
            final SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, both.getTrustManagers(), null);
            return context;
        } catch (IOException | GeneralSecurityException e) {
            throw new ConfigException("places.ca_file " + caFile.map(Path::toString).orElse("") + ": " + e.getMessage());
        }
    }

    private static String query(String name, String value) {
        return name + "=" + URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    @Override
    public CompletableFuture<ObjectNode> nearbySearch(Point where, Radius radius, int bound) {
        final String location = where.lat() + "," + where.lng();
        final String base = endpoint.toString();
        final String params = query("location", location) + "&" + query("radius", radius.metres());
        final URI target = URI.create(base + (endpoint.getRawQuery() == null ? "?" : "&") + params + "&" + query("key", key));
        final String shown = "GET " + base + "?location=" + location + "&radius=" + radius.metres() + "&key=REDACTED";
        final long started = System.nanoTime();
        final HttpRequest request = HttpRequest.newBuilder(target).timeout(timeout).GET().build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()).handle((response, failure) -> {
            final String took = String.format("%.1f ms", (System.nanoTime() - started) / 1e6);
            if (failure != null) {
                final Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
                final String why = cause instanceof HttpTimeoutException ? "timed out" : String.valueOf(cause.getMessage());
                log.warning("google " + shown + " failed after " + took + ": " + why);
                return PlacesJson.error("UNKNOWN_ERROR", "no answer from Google: " + why);
            }
            log.info("google " + shown + ": HTTP " + response.statusCode() + " in " + took);
            if (response.statusCode() != 200) {
                return PlacesJson.error("UNKNOWN_ERROR", "Google answered HTTP " + response.statusCode());
            }
            JsonNode answer;
            try {
                answer = PlacesJson.MAPPER.readTree(response.body());
            } catch (IOException e) {
                answer = null;
            }
            if (!(answer instanceof ObjectNode object) || !object.has("status")) {
                return PlacesJson.error("UNKNOWN_ERROR", "Google's answer was not a Places JSON object");
            }
            if (!object.has("html_attributions")) {
                object.putArray("html_attributions");
            }
            if (!object.has("results")) {
                object.putArray("results");
            }
            return object;
        });
    }

    @Override
    public String describe() {
        return "google (Nearby Search, legacy) at " + endpoint + ", key from " + keyOrigin;
    }
}
