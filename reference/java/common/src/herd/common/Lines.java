package herd.common;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Bytes as they arrive, cut into lines at each \n (the \n dropped, a \r before it kept). */
public final class Lines {
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();

    /** The lines that `length` more bytes complete. */
    public List<String> add(byte[] bytes, int length) {
        final List<String> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < length; i++) {
            if (bytes[i] == '\n') {
                if (partial.size() > 0) {
                    partial.write(bytes, start, i - start);
                    lines.add(ServerCore.latin1(partial.toByteArray(), 0, partial.size()));
                    partial.reset();
                } else {
                    lines.add(ServerCore.latin1(bytes, start, i - start));
                }
                start = i + 1;
            }
        }
        partial.write(bytes, start, length - start);
        return lines;
    }

    /** At the end of input, the last line if it had no newline. */
    public Optional<String> rest() {
        if (partial.size() == 0) {
            return Optional.empty();
        }
        final String last = ServerCore.latin1(partial.toByteArray(), 0, partial.size());
        partial.reset();
        return Optional.of(last);
    }
}
