package herd.threads;

import herd.common.Handshake;
import herd.common.LineReader;
import herd.common.Protocol;
import herd.common.ServerCore;
import herd.common.ServerLog;
import herd.common.Topology.ServerConfig;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The link to one neighbour: a BlockingQueue and the one sender thread that dials, proves
 * membership, sends what is queued, and dials again. While the link is up a second thread keeps
 * a read pending on it: the acceptor sends nothing after WELCOME, so that read ending is how the
 * link learns at once that it went away, not at the next write.
 */
final class PeerLink implements ServerCore.Link {
    static final int HANDSHAKE_TIME_LIMIT_MS = 2000;
    static final long RECONNECT_INTERVAL_MS = 1000;
    static final int QUEUE_CAPACITY = 4096;

    /** A handshake that did not end in a WELCOME with the right proof. */
    private static final class HandshakeFailed extends IOException {
        private static final long serialVersionUID = 1L;

        HandshakeFailed(String why) {
            super(why);
        }
    }

    private final ServerConfig neighbour;
    private final String name;
    private final Optional<String> secret;
    private final ServerLog log;
    private final BlockingQueue<String> queue = new LinkedBlockingQueue<>(QUEUE_CAPACITY);
    private final Thread sender;
    private final Object lock = new Object();
    private Socket socket; // guarded by lock: the connection being dialled or up, if any
    private volatile boolean stopped;
    private String lastFailure = ""; // the sender's own

    PeerLink(ServerConfig neighbour, String name, Optional<String> secret, ServerLog log) {
        this.neighbour = neighbour;
        this.name = name;
        this.secret = secret;
        this.log = log;
        this.sender = new Thread(this::run, "link-" + neighbour.name());
    }

    void start() {
        sender.start();
    }

    void stop() {
        stopped = true;
        synchronized (lock) {
            closeQuietly(socket);
        }
        sender.interrupt();
    }

    void join(long millis) throws InterruptedException {
        sender.join(millis);
    }

    @Override
    public void post(String atLine) {
        if (!queue.offer(atLine)) {
            log.warning("peer link to " + neighbour.name() + ": queue full, dropped " + Protocol.escapeForLog(atLine));
        }
    }

    private void noteDown(String why) {
        if (!why.equals(lastFailure)) {
            log.warning("peer link to " + neighbour.name() + " (" + neighbour.host() + ":" + neighbour.peerPort() + ") down: " + why);
            lastFailure = why;
        }
    }

    private static void closeQuietly(Socket s) {
        if (s == null) {
            return;
        }
        try {
            s.close();
        } catch (IOException ignored) {
            // closing is all that is left to do with it
        }
    }

    private void run() {
        String pending = null; // a record that came while the link was down, and made it dial
        while (!stopped) {
            final Optional<Socket> link = connect();
            if (link.isPresent()) {
                lastFailure = "";
                log.info("peer link to " + neighbour.name() + " open");
                final Thread watcher = new Thread(() -> watchForClose(link.get()), "watch-" + neighbour.name());
                watcher.start();
                sendRecords(link.get(), pending);
                pending = null;
                synchronized (lock) {
                    socket = null;
                    closeQuietly(link.get());
                }
                Thread.interrupted(); // the watcher's, if it was the one that ended the link
                if (stopped) {
                    return;
                }
                log.info("peer link to " + neighbour.name() + " closed");
                lastFailure = "closed";
            } else if (pending != null) {
                log.warning("peer link to " + neighbour.name() + " down: dropped " + Protocol.escapeForLog(pending));
                pending = null;
            }
            // Down: dial again when there is a record, or within the interval.
            try {
                pending = queue.poll(RECONNECT_INTERVAL_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                if (stopped) {
                    return;
                }
            }
        }
    }

    private Optional<Socket> connect() {
        final Socket s = new Socket();
        synchronized (lock) {
            if (stopped) {
                return Optional.empty();
            }
            socket = s;
        }
        try {
            s.setTcpNoDelay(true);
            s.connect(new InetSocketAddress(neighbour.host(), neighbour.peerPort()), HANDSHAKE_TIME_LIMIT_MS);
            s.setSoTimeout(HANDSHAKE_TIME_LIMIT_MS);
            final LineReader in = new LineReader(new BufferedInputStream(s.getInputStream()), ThreadsServer.MAX_HANDSHAKE_LINE);
            final OutputStream out = s.getOutputStream();
            final List<String> challenge = in.next().map(Protocol::splitFields).orElse(List.of());
            final String nonceA = Handshake.challengeNonce(challenge, neighbour.name())
                    .orElseThrow(() -> new HandshakeFailed("no valid challenge from the peer port"));
            final String nonceD = Handshake.nonce();
            final String proof = Handshake.proof(secret, Handshake.DIALER, neighbour.name(), name, nonceA, nonceD);
            out.write(ServerCore.latin1(Handshake.HELLO + " " + name + " " + nonceD + " " + proof + "\n"));
            final List<String> welcome = in.next().map(Protocol::splitFields).orElse(List.of());
            final Optional<String> refusal = Handshake.checkWelcome(welcome, secret, neighbour.name(), name, nonceA, nonceD);
            if (refusal.isPresent()) {
                throw new HandshakeFailed(refusal.get());
            }
            s.setSoTimeout(0);
            return Optional.of(s);
        } catch (SocketTimeoutException e) {
            noteDown(s.isConnected() ? "handshake timed out" : "connect timed out");
        } catch (IOException e) {
            noteDown(String.valueOf(e.getMessage()));
        }
        synchronized (lock) {
            socket = null;
            closeQuietly(s);
        }
        return Optional.empty();
    }

    /** Until the link fails, is closed by the watcher, or the server stops. */
    private void sendRecords(Socket link, String first) {
        final List<String> batch = new ArrayList<>();
        if (first != null) {
            batch.add(first);
        }
        try {
            final OutputStream out = link.getOutputStream();
            final StringBuilder text = new StringBuilder();
            while (true) {
                if (batch.isEmpty()) {
                    batch.add(queue.take());
                }
                queue.drainTo(batch); // a burst goes out in one write
                for (final String line : batch) {
                    text.append(line).append('\n');
                }
                out.write(ServerCore.latin1(text.toString()));
                text.setLength(0);
                batch.clear();
            }
        } catch (InterruptedException e) {
            // the watcher saw the link close, or the server is stopping
        } catch (IOException e) {
            log.warning("peer link to " + neighbour.name() + ": " + batch.size() + " records lost: " + e.getMessage());
        }
    }

    private void watchForClose(Socket link) {
        try {
            final InputStream in = link.getInputStream();
            final byte[] ignored = new byte[4096];
            while (in.read(ignored) >= 0) {
                // the acceptor has nothing to say
            }
        } catch (IOException e) {
            // gone, or closed by the sender
        }
        synchronized (lock) {
            if (socket == link) {
                sender.interrupt();
            }
        }
    }
}
