package herd.common;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.regex.Pattern;

/** The JSON of WHATSAT replies, in Google's own style: three spaces, "key" : value. */
public final class PlacesJson {
    public static final ObjectMapper MAPPER = new ObjectMapper();
    private static final ObjectWriter GOOGLE_STYLE = MAPPER.writer(new GoogleStyle());
    private static final Pattern BLANK_LINES = Pattern.compile("\n{2,}");

    private PlacesJson() {}

    public static ObjectNode error(String status, String message) {
        final ObjectNode answer = MAPPER.createObjectNode();
        answer.put("error_message", message);
        answer.putArray("html_attributions");
        answer.putArray("results");
        answer.put("status", status);
        return answer;
    }

    /** The answer, its results cut to `bound` in place (a missing or odd "results" becomes []). */
    public static ObjectNode cut(ObjectNode answer, int bound) {
        final ArrayNode results = MAPPER.createArrayNode();
        final JsonNode held = answer.get("results");
        if (held != null && held.isArray()) {
            for (int i = 0; i < held.size() && i < bound; i++) {
                results.add(held.get(i));
            }
        }
        answer.set("results", results);
        return answer;
    }

    public static int resultCount(ObjectNode answer) {
        final JsonNode results = answer.get("results");
        return results != null && results.isArray() ? results.size() : 0;
    }

    public static String format(ObjectNode answer) {
        try {
            return BLANK_LINES.matcher(GOOGLE_STYLE.writeValueAsString(answer)).replaceAll("\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a tree of plain nodes always writes
        }
    }

    /** Jackson's pretty printer already writes " : "; this one indents by three and writes [] and {} bare. */
    private static final class GoogleStyle extends DefaultPrettyPrinter {
        private static final long serialVersionUID = 1L;

        GoogleStyle() {
            final DefaultIndenter three = new DefaultIndenter("   ", "\n");
            indentObjectsWith(three);
            indentArraysWith(three);
        }

        @Override
        public DefaultPrettyPrinter createInstance() {
            return new GoogleStyle();
        }

        @Override
        public void writeEndArray(JsonGenerator g, int entries) throws IOException {
            if (entries > 0) {
                super.writeEndArray(g, entries);
                return;
            }
            _nesting--;
            g.writeRaw(']');
        }

        @Override
        public void writeEndObject(JsonGenerator g, int entries) throws IOException {
            if (entries > 0) {
                super.writeEndObject(g, entries);
                return;
            }
            _nesting--;
            g.writeRaw('}');
        }
    }
}
