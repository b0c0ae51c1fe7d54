package herd.common;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/** The topology: herd.toml, read as the other references read it. */
public record Topology(SortedMap<String, ServerConfig> servers, Optional<String> secret, Optional<Path> logDir,
        PlacesConfig places) {

    /** One server of the herd; its neighbours include those that name it (links work both ways). */
    public record ServerConfig(String name, String host, int port, int peerPort, List<String> neighbors) {}

    /** [places], with file and ca_file relative to the topology file. */
    public record PlacesConfig(String provider, String keyEnv, Optional<Path> file, Optional<String> endpoint,
            Optional<Path> caFile, double timeoutSeconds) {}

    public Topology {
        servers = Collections.unmodifiableSortedMap(new TreeMap<>(servers));
    }

    public static Topology load(Path path) throws ConfigException {
        final String source;
        try {
            source = Files.readString(path, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ConfigException(path + ": cannot be read");
        }
        final Map<String, Object> doc = Toml.parse(source, path.toString());
        final Path base = path.toAbsolutePath().getParent();
        final Reader r = new Reader(path);

        final Map<String, Object> herd = r.table(doc, "herd");
        Optional<String> secret = r.string(herd, "herd", "secret");
        final Optional<String> secretEnv = r.string(herd, "herd", "secret_env");
        if (secretEnv.isPresent()) {
            secret = Optional.ofNullable(System.getenv(secretEnv.get())).filter(s -> !s.isEmpty());
            if (secret.isEmpty()) {
                throw new ConfigException(path + ": herd.secret_env names " + secretEnv.get() + ", which is not set");
            }
        }
        final Optional<Path> logDir = r.string(herd, "herd", "log_dir").map(base::resolve);

        final Map<String, Object> p = r.table(doc, "places");
        final PlacesConfig places = new PlacesConfig(
                r.string(p, "places", "provider").orElse("auto"),
                r.string(p, "places", "key_env").orElse("GOOGLE_PLACES_API_KEY"),
                r.string(p, "places", "file").map(base::resolve),
                r.string(p, "places", "endpoint"),
                r.string(p, "places", "ca_file").map(base::resolve),
                r.number(p, "places", "timeout").orElse(5.0));

        final Map<String, Object> serverTables = r.table(doc, "servers");
        final Map<String, List<String>> neighbors = new TreeMap<>();
        final Map<String, ServerConfig> bare = new TreeMap<>();
        for (final String name : new TreeMap<>(serverTables).keySet()) {
            final String where = "servers." + name;
            final Map<String, Object> t = r.table(serverTables, name);
            final int port = r.integer(t, where, "port")
                    .orElseThrow(() -> new ConfigException(path + ": " + where + ".port is missing"));
            final int peerPort = r.integer(t, where, "peer_port").orElse(port + 10000);
            bare.put(name, new ServerConfig(name, r.string(t, where, "host").orElse("127.0.0.1"), port, peerPort, List.of()));
            neighbors.put(name, new ArrayList<>(r.strings(t, where, "neighbors")));
        }
        if (bare.isEmpty()) {
            throw new ConfigException(path + ": no servers");
        }
        for (final Map.Entry<String, List<String>> e : neighbors.entrySet()) {
            for (final String n : e.getValue()) {
                if (n.equals(e.getKey())) {
                    throw new ConfigException(path + ": servers." + n + " lists itself as a neighbor");
                }
                if (!bare.containsKey(n)) {
                    throw new ConfigException(path + ": servers." + e.getKey() + ".neighbors names unknown server \"" + n
                            + "\" (known: " + String.join(", ", bare.keySet()) + ")");
                }
            }
        }
        for (final Map.Entry<String, List<String>> e : neighbors.entrySet()) { // links work both ways
            for (final String n : List.copyOf(e.getValue())) {
                if (!neighbors.get(n).contains(e.getKey())) {
                    neighbors.get(n).add(e.getKey());
                }
            }
        }
        final Map<String, String> taken = new LinkedHashMap<>();
        final SortedMap<String, ServerConfig> servers = new TreeMap<>();
        for (final ServerConfig s : bare.values()) {
            for (final Map.Entry<String, Integer> use : List.of(Map.entry("port", s.port()), Map.entry("peer_port", s.peerPort()))) {
                final String key = s.host() + ":" + use.getValue();
                final String what = "servers." + s.name() + "." + use.getKey();
                final String other = taken.putIfAbsent(key, what);
                if (other != null) {
                    throw new ConfigException(path + ": " + what + " and " + other + " both use " + key);
                }
            }
            servers.put(s.name(), new ServerConfig(s.name(), s.host(), s.port(), s.peerPort(), List.copyOf(neighbors.get(s.name()))));
        }
        return new Topology(servers, secret, logDir, places);
    }

    /** Typed look-ups that name the file and the key in what they refuse. */
    private record Reader(Path path) {
        @SuppressWarnings("unchecked") // Toml makes every table a Map<String, Object>
        Map<String, Object> table(Map<String, Object> in, String key) throws ConfigException {
            final Object v = in.get(key);
            if (v == null) {
                return Map.of();
            }
            if (!(v instanceof Map)) {
                throw new ConfigException(path + ": " + key + " must be a table");
            }
            return (Map<String, Object>) v;
        }

        Optional<String> string(Map<String, Object> in, String where, String key) throws ConfigException {
            final Object v = in.get(key);
            if (v != null && !(v instanceof String)) {
                throw new ConfigException(path + ": " + where + "." + key + " must be a string");
            }
            return Optional.ofNullable((String) v);
        }

        Optional<Integer> integer(Map<String, Object> in, String where, String key) throws ConfigException {
            final Object v = in.get(key);
            if (v == null) {
                return Optional.empty();
            }
            if (!(v instanceof Long n) || n < 0 || n > 65535) {
                throw new ConfigException(path + ": " + where + "." + key + " must be a port number");
            }
            return Optional.of(n.intValue());
        }

        Optional<Double> number(Map<String, Object> in, String where, String key) throws ConfigException {
            final Object v = in.get(key);
            if (v != null && !(v instanceof Number)) {
                throw new ConfigException(path + ": " + where + "." + key + " must be a number");
            }
            return Optional.ofNullable(v == null ? null : ((Number) v).doubleValue());
        }

        List<String> strings(Map<String, Object> in, String where, String key) throws ConfigException {
            final Object v = in.get(key);
            if (v == null) {
                return List.of();
            }
            final List<String> out = new ArrayList<>();
            if (v instanceof List<?> items) {
                for (final Object item : items) {
                    if (!(item instanceof String s)) {
                        throw new ConfigException(path + ": " + where + "." + key + " must be a list of names");
                    }
                    out.add(s);
                }
                return out;
            }
            throw new ConfigException(path + ": " + where + "." + key + " must be a list of names");
        }
    }
}
