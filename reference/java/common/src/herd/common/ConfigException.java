package herd.common;

/** A topology or places file that cannot be used: the server exits with status 2. */
public final class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
