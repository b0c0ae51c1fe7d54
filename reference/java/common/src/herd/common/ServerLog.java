package herd.common;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * {@code <log_dir>/<Name>.log}, appended to: a UTC timestamp to the microsecond, spdlog's level
 * names (info, warning, error) padded to five, the event. Warnings reach the file at once, the
 * rest when the server calls {@link #flush()} (every 100 ms) and at close. Safe to share between
 * threads.
 */
public final class ServerLog implements Closeable {
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").withZone(ZoneOffset.UTC);

    private final Path path;
    private final Writer out;

    private ServerLog(Path path, Writer out) {
        this.path = path;
        this.out = out;
    }

    public static ServerLog open(Path dir, String name) throws IOException {
        Files.createDirectories(dir);
        final Path path = dir.resolve(name + ".log");
        final Writer out = new BufferedWriter(new OutputStreamWriter(
                Files.newOutputStream(path, StandardOpenOption.CREATE, StandardOpenOption.APPEND), StandardCharsets.UTF_8));
        return new ServerLog(path, out);
    }

    public Path path() {
        return path;
    }

    public void info(String message) {
        write("info", message, false);
    }

    public void warning(String message) {
        write("warning", message, true);
    }

    public void error(String message) {
        write("error", message, true);
    }

    private synchronized void write(String level, String message, boolean now) {
        try {
            out.write(STAMP.format(Instant.now()) + " " + String.format("%-5s", level) + " " + message + "\n");
            if (now) {
                out.flush();
            }
        } catch (IOException e) {
            System.err.println("log " + path + ": " + e.getMessage());
        }
    }

    public synchronized void flush() {
        try {
            out.flush();
        } catch (IOException e) {
            System.err.println("log " + path + ": " + e.getMessage());
        }
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
