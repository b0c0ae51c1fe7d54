package herd.common;

import com.fasterxml.jackson.databind.node.ObjectNode;
import herd.common.LocationStore.LocationRecord;
import herd.common.Protocol.AtRecord;
import herd.common.Protocol.Blank;
import herd.common.Protocol.Command;
import herd.common.Protocol.Iamat;
import herd.common.Protocol.Whatsat;
import herd.common.Topology.ServerConfig;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What the two Java servers share above their sockets: the answer to each client line
 * (handleLine, handleIamat, handleWhatsat) and flooding (storeAndPropagate, handleRecord). Each
 * server brings its own I/O: handleConnection, handlePeer and its PeerLinks.
 */
public abstract class ServerCore {
    /** The link to one neighbour, as flooding sees it. post() never blocks. */
    public interface Link {
        void post(String atLine);
    }

    protected final Startup startup;
    protected final Topology herd;
    protected final ServerConfig me;
    protected final String name;
    protected final ServerLog log;
    protected final Places places;
    protected final LocationStore store = new LocationStore();
    private final Map<String, Link> links = new LinkedHashMap<>();
    private final long placesTimeoutMs;

    protected ServerCore(Startup startup) {
        this.startup = startup;
        this.herd = startup.herd();
        this.me = startup.me();
        this.name = me.name();
        this.log = startup.log();
        this.places = startup.places();
        this.placesTimeoutMs = Math.round(herd.places().timeoutSeconds() * 1000);
    }

    /** Called from the constructor, one link per neighbour, before any thread reads them. */
    protected final void addLink(String neighbour, Link link) {
        links.put(neighbour, link);
    }

    public static byte[] latin1(String text) {
        return text.getBytes(StandardCharsets.ISO_8859_1);
    }

    public static String latin1(byte[] bytes, int offset, int length) {
        return new String(bytes, offset, length, StandardCharsets.ISO_8859_1);
    }

    /** The reply to one line (empty for a blank line); complete at once unless it waits for Google. */
    protected final CompletableFuture<byte[]> handleLine(String line, long nowNs) {
        final Command cmd = Protocol.parseCommand(line);
        if (cmd instanceof Iamat iamat) {
            return CompletableFuture.completedFuture(latin1(handleIamat(iamat, nowNs) + "\n"));
        }
        if (cmd instanceof Whatsat whatsat) {
            return handleWhatsat(whatsat, line);
        }
        return CompletableFuture.completedFuture(cmd instanceof Blank ? new byte[0] : latin1(Protocol.invalidReply(line)));
    }

    protected final String handleIamat(Iamat cmd, long nowNs) {
        final String atLine = Protocol.formatAt(name, nowNs - cmd.timeNs(), cmd);
        storeAndPropagate(cmd.client(), new LocationRecord(atLine, cmd.timeNs(), name, cmd.where()), null);
        return atLine;
    }

    protected final CompletableFuture<byte[]> handleWhatsat(Whatsat cmd, String line) {
        final Optional<LocationRecord> held = store.find(cmd.client());
        if (held.isEmpty()) {
            return CompletableFuture.completedFuture(latin1(Protocol.invalidReply(line)));
        }
        final LocationRecord record = held.get(); // the record may be replaced while we wait
        final String where = String.format("%.6f,%.6f radius %s m bound %d", record.where().lat(), record.where().lng(),
                cmd.radius().metres(), cmd.bound());
        final long started = System.nanoTime();
        CompletableFuture<ObjectNode> search;
        try {
            search = places.nearbySearch(record.where(), cmd.radius(), cmd.bound());
        } catch (RuntimeException e) { // a broken source must still get the client a reply
            search = CompletableFuture.failedFuture(e);
        }
        return search.orTimeout(placesTimeoutMs, TimeUnit.MILLISECONDS).handle((found, failure) -> {
            ObjectNode answer = found;
            if (failure != null) {
                final Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
                if (cause instanceof TimeoutException) {
                    log.warning("places " + where + ": no answer in time");
                    answer = PlacesJson.error("UNKNOWN_ERROR", "the places source did not answer in time");
                } else {
                    answer = PlacesJson.error("UNKNOWN_ERROR", "the places source failed: " + cause.getMessage());
                }
            }
            log.info(String.format("places %s: %s with %d results in %.3f ms", where, answer.path("status").asText(),
                    PlacesJson.resultCount(answer), (System.nanoTime() - started) / 1e6));
            final String json = PlacesJson.format(PlacesJson.cut(answer, cmd.bound()));
            final byte[] head = latin1(record.atLine() + "\n");
            final byte[] body = (json + "\n\n").getBytes(StandardCharsets.UTF_8);
            final byte[] reply = new byte[head.length + body.length];
            System.arraycopy(head, 0, reply, 0, head.length);
            System.arraycopy(body, 0, reply, head.length, body.length);
            return reply;
        });
    }

    /**
     * The prototype's propagate(): a record that changed the store goes to every neighbour but the
     * one it came from (null for a client's own IAMAT).
     */
    protected final boolean storeAndPropagate(String client, LocationRecord record, String cameFrom) {
        if (!store.update(client, record)) {
            return false;
        }
        links.forEach((neighbour, link) -> {
            if (!neighbour.equals(cameFrom)) {
                link.post(record.atLine());
            }
        });
        return true;
    }

    /** One line from a neighbour's link, after its handshake. */
    protected final void handleRecord(String neighbour, String line) {
        final Optional<AtRecord> record = Protocol.parseAtLine(line);
        if (record.isEmpty() || !herd.servers().containsKey(record.get().server())) {
            log.warning("peer " + neighbour + " sent something that is not a record: " + Protocol.escapeForLog(line));
            return;
        }
        final AtRecord at = record.get();
        final String origin = herd.servers().get(at.server()).name(); // the topology's copy, shared by its records
        final boolean stored =
                storeAndPropagate(at.client(), new LocationRecord(line, at.timeNs(), origin, at.where()), neighbour);
        log.info("peer " + neighbour + " > " + Protocol.escapeForLog(line) + " (" + (stored ? "stored" : "not newer") + ")");
    }
}
