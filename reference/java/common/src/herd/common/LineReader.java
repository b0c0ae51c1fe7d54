package herd.common;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/** Lines from a blocking stream, one at a time, each at most `limit` bytes. */
public final class LineReader {
    /** A line longer than the reader's limit: the link ends. */
    public static final class LineTooLong extends IOException {
        private static final long serialVersionUID = 1L;

        LineTooLong(int limit) {
            super("a line over " + limit + " bytes");
        }
    }

    private final InputStream in;
    private final int limit;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();

    /** `in` should be buffered: it is read a byte at a time. */
    public LineReader(InputStream in, int limit) {
        this.in = in;
        this.limit = limit;
    }

    /** The next line without its \n; empty at the end of input (a last line cut short is dropped). */
    public Optional<String> next() throws IOException {
        line.reset();
        for (int b; (b = in.read()) >= 0;) {
            if (b == '\n') {
                return Optional.of(ServerCore.latin1(line.toByteArray(), 0, line.size()));
            }
            if (line.size() >= limit) {
                throw new LineTooLong(limit);
            }
            line.write(b);
        }
        return Optional.empty();
    }
}
