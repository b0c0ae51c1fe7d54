package herd.common;

import java.util.Comparator;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/** The location store: one record per client, newest wins. Safe to share between threads. */
public final class LocationStore {
    /** One client's newest AT line, with what it was ordered by. */
    public record LocationRecord(String atLine, long timeNs, String server, Protocol.Point where) {
        // Equal times break on origin server, then the whole line: the same
        // rule on every server, so the herd settles on one record. Latin-1
        // strings compare as unsigned bytes, as the other servers compare.
        private static final Comparator<LocationRecord> ORDER = Comparator.comparingLong(LocationRecord::timeNs)
                .thenComparing(LocationRecord::server)
                .thenComparing(LocationRecord::atLine);

        boolean isNewerThan(LocationRecord other) {
            return ORDER.compare(this, other) > 0;
        }
    }

    private final ConcurrentMap<String, LocationRecord> records = new ConcurrentHashMap<>();

    /** True if the record changed the store (and so travels on). Atomic. */
    public boolean update(String client, LocationRecord record) {
        return records.merge(client, record, (held, offered) -> offered.isNewerThan(held) ? offered : held) == record;
    }

    public Optional<LocationRecord> find(String client) {
        return Optional.ofNullable(records.get(client));
    }

    public int size() {
        return records.size();
    }
}
