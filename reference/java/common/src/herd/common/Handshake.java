package herd.common;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The peer handshake's pieces, the same messages and proofs as the C++ herd:
 * CHALLENGE name nonce_a, HELLO name nonce_d proof_d, WELCOME proof_a or REFUSED reason.
 */
public final class Handshake {
    public static final String CHALLENGE = "HERD herd/1 CHALLENGE";
    public static final String HELLO = "HERD herd/1 HELLO";
    public static final String WELCOME = "HERD herd/1 WELCOME";
    public static final String REFUSED = "HERD herd/1 REFUSED";
    public static final String DIALER = "dialer";
    public static final String ACCEPTOR = "acceptor";

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final HexFormat HEX = HexFormat.of();

    private Handshake() {}

    /** 128 random bits in hex. */
    public static String nonce() {
        final byte[] bytes = new byte[16];
        RANDOM.nextBytes(bytes);
        return HEX.formatHex(bytes);
    }

    /** HMAC-SHA256 over the role, both names and both nonces, NUL-separated, in hex; "-" with no secret. */
    public static String proof(Optional<String> secret, String role, String acceptor, String dialer, String nonceA,
            String nonceD) {
        if (secret.isEmpty()) {
            return "-";
        }
        try {
            final Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.get().getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            final String message = String.join("\0", role, acceptor, dialer, nonceA, nonceD);
            return HEX.formatHex(mac.doFinal(message.getBytes(StandardCharsets.ISO_8859_1)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }

    /** In constant time. */
    public static boolean proofsEqual(String expected, String offered) {
        return MessageDigest.isEqual(expected.getBytes(StandardCharsets.ISO_8859_1), offered.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Why the acceptor refuses a HELLO (its fields), or empty to welcome it. */
    public static Optional<String> checkHello(List<String> f, Topology.ServerConfig me, Optional<String> secret,
            String nonceA) {
        if (f.size() != 6 || !f.get(0).equals("HERD") || !f.get(1).equals("herd/1") || !f.get(2).equals("HELLO")) {
            return Optional.of("malformed hello");
        }
        if (!me.neighbors().contains(f.get(3))) {
            return Optional.of(f.get(3) + " is not a neighbour of " + me.name());
        }
        if (!proofsEqual(proof(secret, DIALER, me.name(), f.get(3), nonceA, f.get(4)), f.get(5))) {
            return Optional.of("proof of membership from " + f.get(3) + " does not match");
        }
        return Optional.empty();
    }

    /** A challenge from the neighbour we dialled: its nonce, or empty. */
    public static Optional<String> challengeNonce(List<String> f, String neighbour) {
        if (f.size() != 5 || !f.get(0).equals("HERD") || !f.get(1).equals("herd/1") || !f.get(2).equals("CHALLENGE")
                || !f.get(3).equals(neighbour)) {
            return Optional.empty();
        }
        return Optional.of(f.get(4));
    }

    /**
     * Why the dialer drops the link after this answer to its HELLO, or empty if it is a WELCOME
     * with the right proof. Herd's WELCOME may add its store's size and digest, for a catch-up the
     * references do not do.
     */
    public static Optional<String> checkWelcome(List<String> f, Optional<String> secret, String acceptor,
            String dialer, String nonceA, String nonceD) {
        if ((f.size() != 4 && f.size() != 6) || !f.get(0).equals("HERD") || !f.get(1).equals("herd/1")
                || !f.get(2).equals("WELCOME")) {
            return Optional.of("refused: " + String.join(" ", f));
        }
        if (!proofsEqual(proof(secret, ACCEPTOR, acceptor, dialer, nonceA, nonceD), f.get(3))) {
            return Optional.of("its proof of membership does not match");
        }
        return Optional.empty();
    }
}
