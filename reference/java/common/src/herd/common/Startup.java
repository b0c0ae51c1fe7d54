package herd.common;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;

/**
 * What both Java servers do before they listen: the command line, herd.toml, the server's name,
 * its log and its places, with the other implementations' exit statuses (2 for a bad command line,
 * name or file).
 */
public record Startup(Topology herd, Topology.ServerConfig me, ServerLog log, Places places) implements AutoCloseable {
    public static final String VERSION = "0.1.0";

    /** The server should not start: print the message (if any) and exit with the status. */
    public static final class Exit extends Exception {
        private static final long serialVersionUID = 1L;
        private final int status;

        public Exit(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    private record Options(String name, String config, String logDir) {}

    private static Options parseArgs(String program, String[] argv) throws Exit {
        String name = null;
        String config = "herd.toml";
        String logDir = null;
        for (int i = 0; i < argv.length; i++) {
            final String a = argv[i];
            final int eq = a.indexOf('=');
            final String option = a.startsWith("--") && eq > 0 ? a.substring(0, eq) : a;
            switch (option) {
                case "--version" -> throw new Exit(0, program + " " + VERSION);
                case "--help", "-h" -> throw new Exit(0, usage(program));
                case "--name", "-n", "--config", "-c", "--log-dir" -> {
                    final String value;
                    if (eq > 0 && a.startsWith("--")) {
                        value = a.substring(eq + 1);
                    } else if (i + 1 < argv.length) {
                        value = argv[++i];
                    } else {
                        throw new Exit(2, program + ": " + option + " needs a value");
                    }
                    switch (option) {
                        case "--name", "-n" -> name = value;
                        case "--config", "-c" -> config = value;
                        default -> logDir = value;
                    }
                }
                default -> throw new Exit(2, program + ": unknown option " + a + "\n" + usage(program));
            }
        }
        if (name == null) {
            throw new Exit(2, usage(program));
        }
        return new Options(name, config, logDir);
    }

    private static String usage(String program) {
        return "usage: " + program + " --name NAME [--config FILE] [--log-dir DIR]";
    }

    /**
     * The bundled Westwood places: data/westwood.geojson of the checkout, which the launcher names
     * in the system property herd.bundled_places.
     */
    static Path bundledPlaces() {
        return Path.of(System.getProperty("herd.bundled_places", "data/westwood.geojson"));
    }

    public static Startup prepare(String program, String[] argv) throws Exit {
        final Options options = parseArgs(program, argv);
        final Topology herd;
        try {
            herd = Topology.load(Path.of(options.config()));
        } catch (ConfigException e) {
            throw new Exit(2, program + ": " + e.getMessage());
        }
        final Topology.ServerConfig me = herd.servers().get(options.name());
        if (me == null) {
            throw new Exit(2, program + ": no server named \"" + options.name() + "\" in " + options.config() + " (known: "
                    + String.join(", ", herd.servers().keySet()) + ")");
        }
        final Path logDir = options.logDir() != null ? Path.of(options.logDir()) : herd.logDir().orElse(Path.of("logs"));
        final ServerLog log;
        try {
            log = ServerLog.open(logDir, me.name());
        } catch (IOException e) {
            throw new Exit(2, program + ": cannot open the log in " + logDir + ": " + e.getMessage());
        }
        try {
            return new Startup(herd, me, log, Places.make(herd.places(), bundledPlaces(), log));
        } catch (ConfigException e) {
            log.flush();
            throw new Exit(2, program + ": " + e.getMessage());
        }
    }

    /** The line scripts and tests wait for, once both ports listen. */
    public String readyLine() {
        return me.name() + ": clients on " + me.host() + ":" + me.port() + ", peers on port " + me.peerPort() + ", log "
                + log.path();
    }

    /** Without a shared secret nothing proves a peer is a member, so the peer port stays off the network. */
    public String peerHost() {
        return herd.secret().isPresent() ? me.host() : "127.0.0.1";
    }

    /** What the log says at start, the same words as the other implementations. */
    public void logStarting() {
        log.info(me.name() + " starting: clients on " + me.host() + ":" + me.port() + ", peers on " + peerHost() + ":"
                + me.peerPort() + ", neighbours " + (me.neighbors().isEmpty() ? "none" : String.join(", ", me.neighbors()))
                + ", places " + places.describe());
        if (herd.secret().isEmpty()) {
            log.warning("no shared secret configured: peers are not authenticated, peer port on loopback only");
        }
    }

    /** Closes the places source, then the log. */
    @Override
    public void close() throws IOException {
        try (log) {
            places.close();
        }
    }

    /** Wall-clock nanoseconds since the epoch (the JDK's clock gives microseconds on Linux). */
    public static long nowNs() {
        final Instant now = Instant.now();
        return now.getEpochSecond() * Protocol.NS_PER_S + now.getNano();
    }
}
