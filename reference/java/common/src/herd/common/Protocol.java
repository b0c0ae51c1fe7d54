package herd.common;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The protocol: pure functions, no I/O (parseCommand, parseAtLine, formatAt, invalidReply).
 *
 * <p>A line is held as a Latin-1 {@code String}: one char per byte, so every byte a client sends
 * survives unchanged into the reply, and only ASCII digits match {@code \d}.
 */
public final class Protocol {
    public static final int MAX_CLIENT_ID = 255;
    public static final int MAX_BOUND = 20;
    public static final long NS_PER_S = 1_000_000_000L;

    private static final Pattern DECIMAL = Pattern.compile("(\\d+)(?:\\.(\\d+))?");
    private static final Pattern LOCATION = Pattern.compile("([+-])(\\d{1,2}(?:\\.\\d+)?)([+-])(\\d{1,3}(?:\\.\\d+)?)");
    private static final Pattern SKEW = Pattern.compile("[+-]\\d+\\.\\d{9}");
    private static final Pattern DIGITS = Pattern.compile("\\d+");
    private static final BigDecimal MAX_LAT = BigDecimal.valueOf(90);
    private static final BigDecimal MAX_LNG = BigDecimal.valueOf(180);
    private static final BigDecimal MAX_RADIUS_KM = BigDecimal.valueOf(50);
    private static final BigInteger BILLION = BigInteger.valueOf(NS_PER_S);
    private static final BigInteger INT64_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    private Protocol() {}

    /** A point on Earth, in degrees. */
    public record Point(double lat, double lng) {}

    /** A WHATSAT radius: kilometres, and the same in metres as exact decimal text. */
    public record Radius(double km, String metres) {}

    /** What one client line is. */
    public sealed interface Command permits Blank, Invalid, Iamat, Whatsat {}

    public record Blank() implements Command {}

    public record Invalid() implements Command {}

    public record Iamat(String client, String location, String time, Point where, long timeNs) implements Command {}

    public record Whatsat(String client, Radius radius, int bound) implements Command {}

    /** A record from a neighbour: an AT line, checked with the client grammar. */
    public record AtRecord(String server, String client, Point where, long timeNs) {}

    // The six white-space bytes of the contract: space, \t, \n, \v, \f, \r.
    static boolean isSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    public static List<String> splitFields(String line) {
        final List<String> fields = new ArrayList<>(6);
        int i = 0;
        final int n = line.length();
        while (i < n) {
            while (i < n && isSpace(line.charAt(i))) {
                i++;
            }
            final int start = i;
            while (i < n && !isSpace(line.charAt(i))) {
                i++;
            }
            if (i > start) {
                fields.add(line.substring(start, i));
            }
        }
        return fields;
    }

    /** Checked exactly on the decimal text: +90.000 is in range, +90.000001 is not. */
    public static Optional<Point> parseLocation(String text) {
        final Matcher m = LOCATION.matcher(text);
        if (!m.matches()) {
            return Optional.empty();
        }
        final BigDecimal lat = new BigDecimal(m.group(2));
        final BigDecimal lng = new BigDecimal(m.group(4));
        if (lat.compareTo(MAX_LAT) > 0 || lng.compareTo(MAX_LNG) > 0) {
            return Optional.empty();
        }
        return Optional.of(new Point(Double.parseDouble(m.group(1) + m.group(2)), Double.parseDouble(m.group(3) + m.group(4))));
    }

    /** Seconds since the epoch as decimal text, to whole nanoseconds (further digits are cut). */
    public static OptionalLong parseTimeNs(String text) {
        final Matcher m = DECIMAL.matcher(text);
        if (!m.matches()) {
            return OptionalLong.empty();
        }
        final String fraction = m.group(2) == null ? "" : m.group(2);
        final BigInteger ns = new BigInteger(m.group(1)).multiply(BILLION)
                .add(new BigInteger((fraction + "000000000").substring(0, 9)));
        return ns.compareTo(INT64_MAX) <= 0 ? OptionalLong.of(ns.longValueExact()) : OptionalLong.empty();
    }

    /** Kilometres, 0 < r <= 50. */
    public static Optional<Radius> parseRadius(String text) {
        if (!DECIMAL.matcher(text).matches()) {
            return Optional.empty();
        }
        final BigDecimal km = new BigDecimal(text);
        if (km.signum() <= 0 || km.compareTo(MAX_RADIUS_KM) > 0) {
            return Optional.empty();
        }
        final String metres = km.movePointRight(3).stripTrailingZeros().toPlainString();
        return Optional.of(new Radius(km.doubleValue(), metres));
    }

    public static OptionalInt parseBound(String text) {
        if (!DIGITS.matcher(text).matches()) {
            return OptionalInt.empty();
        }
        final BigInteger bound = new BigInteger(text);
        return bound.signum() > 0 && bound.compareTo(BigInteger.valueOf(MAX_BOUND)) <= 0
                ? OptionalInt.of(bound.intValue())
                : OptionalInt.empty();
    }

    public static Command parseCommand(String line) {
        final List<String> f = splitFields(line);
        if (f.isEmpty()) {
            return new Blank();
        }
        if (f.size() != 4 || f.get(1).length() > MAX_CLIENT_ID) {
            return new Invalid();
        }
        switch (f.get(0)) {
            case "IAMAT" -> {
                final Optional<Point> where = parseLocation(f.get(2));
                final OptionalLong timeNs = parseTimeNs(f.get(3));
                if (where.isEmpty() || timeNs.isEmpty()) {
                    return new Invalid();
                }
                return new Iamat(f.get(1), f.get(2), f.get(3), where.get(), timeNs.getAsLong());
            }
            case "WHATSAT" -> {
                final Optional<Radius> radius = parseRadius(f.get(2));
                final OptionalInt bound = parseBound(f.get(3));
                if (radius.isEmpty() || bound.isEmpty()) {
                    return new Invalid();
                }
                return new Whatsat(f.get(1), radius.get(), bound.getAsInt());
            }
            default -> {
                return new Invalid();
            }
        }
    }

    public static Optional<AtRecord> parseAtLine(String line) {
        final List<String> f = splitFields(line);
        if (f.size() != 6 || !f.get(0).equals("AT") || !SKEW.matcher(f.get(2)).matches()
                || f.get(3).length() > MAX_CLIENT_ID) {
            return Optional.empty();
        }
        final Optional<Point> where = parseLocation(f.get(4));
        final OptionalLong timeNs = parseTimeNs(f.get(5));
        if (where.isEmpty() || timeNs.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new AtRecord(f.get(1), f.get(3), where.get(), timeNs.getAsLong()));
    }

    /** The server's clock minus the client's: a sign, whole seconds, nine decimals. */
    public static String formatSkew(long skewNs) {
        // Both clocks are at least 0, so the difference never overflows, and
        // neither does its magnitude.
        final long magnitude = Math.abs(skewNs);
        return String.format("%s%d.%09d", skewNs < 0 ? "-" : "+", magnitude / NS_PER_S, magnitude % NS_PER_S);
    }

    public static String formatAt(String server, long skewNs, Iamat cmd) {
        return "AT " + server + " " + formatSkew(skewNs) + " " + cmd.client() + " " + cmd.location() + " " + cmd.time();
    }

    /** "? " and the line, without a CR that ended it. */
    public static String invalidReply(String line) {
        return "? " + (line.endsWith("\r") ? line.substring(0, line.length() - 1) : line) + "\n";
    }

    /** Client and peer bytes escaped, so no one can forge or split a log line. */
    public static String escapeForLog(String latin1) {
        final StringBuilder out = new StringBuilder(latin1.length());
        for (int i = 0; i < latin1.length(); i++) {
            final char c = latin1.charAt(i);
            switch (c) {
                case '\\' -> out.append("\\\\");
                case '\r' -> out.append("\\r");
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                case 0x0b -> out.append("\\v");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || c >= 0x7f) {
                        out.append(String.format("\\x%02x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.toString();
    }
}
