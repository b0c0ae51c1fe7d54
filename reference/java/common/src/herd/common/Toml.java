package herd.common;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The subset of TOML that herd.toml uses: tables with dotted and quoted names, bare and quoted
 * keys, basic and literal strings, integers, floats, booleans, arrays, comments. Debian packages
 * no TOML library for Java, so this is the reader; anything outside the subset (inline tables,
 * multi-line strings, dates, arrays of tables) is refused, so a file is never half read.
 *
 * <p>Tables are {@code Map<String, Object>}; values are {@code String}, {@code Long},
 * {@code Double}, {@code Boolean} or {@code List<Object>}.
 */
final class Toml {
    private static final Pattern BARE_KEY = Pattern.compile("[A-Za-z0-9_-]+");
    private static final Pattern SCALAR =
            Pattern.compile("true|false|[+-]?\\d[\\d_]*(\\.\\d[\\d_]*)?([eE][+-]?\\d+)?");

    private final String source;
    private final String file;
    private int i;

    private Toml(String source, String file) {
        this.source = source;
        this.file = file;
    }

    static Map<String, Object> parse(String source, String file) throws ConfigException {
        return new Toml(source, file).document();
    }

    private Map<String, Object> document() throws ConfigException {
        final Map<String, Object> root = new LinkedHashMap<>();
        Map<String, Object> table = root;
        while (true) {
            skipSpace(true);
            if (i >= source.length()) {
                return root;
            }
            if (peek() == '[') {
                i++;
                table = root;
                while (true) {
                    skipSpace(false);
                    table = subtable(table, key());
                    skipSpace(false);
                    if (peek() == '.') {
                        i++;
                    } else if (peek() == ']') {
                        i++;
                        break;
                    } else {
                        throw fail("bad table name");
                    }
                }
            } else {
                final String k = key();
                skipSpace(false);
                if (peek() != '=') {
                    throw fail("expected =");
                }
                i++;
                skipSpace(false);
                if (table.putIfAbsent(k, value()) != null) {
                    throw fail("duplicate key " + k);
                }
            }
            skipSpace(false);
            if (i < source.length() && peek() != '\n' && peek() != '\r') {
                throw fail("expected the end of the line");
            }
        }
    }

    @SuppressWarnings("unchecked") // every table this reader makes is a Map<String, Object>
    private Map<String, Object> subtable(Map<String, Object> parent, String k) throws ConfigException {
        final Object held = parent.computeIfAbsent(k, unused -> new LinkedHashMap<String, Object>());
        if (!(held instanceof Map)) {
            throw fail(k + " is a value, not a table");
        }
        return (Map<String, Object>) held;
    }

    private char peek() {
        return i < source.length() ? source.charAt(i) : '\0';
    }

    private void skipSpace(boolean newlines) {
        while (i < source.length()) {
            final char c = source.charAt(i);
            if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
                i++;
            } else if (c == '#') {
                while (i < source.length() && source.charAt(i) != '\n') {
                    i++;
                }
            } else {
                return;
            }
        }
    }

    private String key() throws ConfigException {
        if (peek() == '"' || peek() == '\'') {
            return string();
        }
        final Matcher m = BARE_KEY.matcher(source).region(i, source.length());
        if (!m.lookingAt()) {
            throw fail("expected a key");
        }
        i = m.end();
        return m.group();
    }

    private String string() throws ConfigException {
        final char quote = source.charAt(i++);
        final StringBuilder out = new StringBuilder();
        while (peek() != quote) {
            if (i >= source.length() || peek() == '\n') {
                throw fail("unterminated string");
            }
            final char c = source.charAt(i++);
            if (quote == '"' && c == '\\') {
                final char escape = peek();
                i++;
                switch (escape) {
                    case 'n' -> out.append('\n');
                    case 't' -> out.append('\t');
                    case 'r' -> out.append('\r');
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case '"' -> out.append('"');
                    case '\\' -> out.append('\\');
                    case 'u' -> {
                        if (i + 4 > source.length()) {
                            throw fail("bad escape");
                        }
                        try {
                            out.append((char) Integer.parseInt(source.substring(i, i + 4), 16));
                        } catch (NumberFormatException e) {
                            throw fail("bad escape");
                        }
                        i += 4;
                    }
                    default -> throw fail("bad escape");
                }
            } else {
                out.append(c);
            }
        }
        i++;
        return out.toString();
    }

    private Object value() throws ConfigException {
        final char c = peek();
        if (c == '"' || c == '\'') {
            return string();
        }
        if (c == '[') {
            i++;
            final List<Object> items = new ArrayList<>();
            while (true) {
                skipSpace(true);
                if (peek() == ']') {
                    i++;
                    return items;
                }
                items.add(value());
                skipSpace(true);
                if (peek() == ',') {
                    i++;
                } else if (peek() != ']') {
                    throw fail("expected , or ]");
                }
            }
        }
        final Matcher m = SCALAR.matcher(source).region(i, source.length());
        if (!m.lookingAt()) {
            throw fail("unsupported value");
        }
        i = m.end();
        final String text = m.group();
        if (text.equals("true") || text.equals("false")) {
            return Boolean.valueOf(text);
        }
        final String digits = text.replace("_", "");
        try {
            return m.group(1) == null && m.group(2) == null ? (Object) Long.valueOf(digits) : (Object) Double.valueOf(digits);
        } catch (NumberFormatException e) {
            throw fail("number out of range");
        }
    }

    private ConfigException fail(String what) {
        final int line = (int) source.substring(0, Math.min(i, source.length())).chars().filter(ch -> ch == '\n').count() + 1;
        return new ConfigException(file + ": " + what + " at line " + line);
    }
}
