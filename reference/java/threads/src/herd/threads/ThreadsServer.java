package herd.threads;

import herd.common.Handshake;
import herd.common.LineReader;
import herd.common.Lines;
import herd.common.Protocol;
import herd.common.ServerCore;
import herd.common.ServerMain;
import herd.common.Startup;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The herd server as the Java Tutorials build one: a ServerSocket accept loop, a thread per
 * connection from an ExecutorService, blocking reads and writes, and one sender thread per
 * neighbour link fed by a BlockingQueue (PeerLink). The same contract as the C++ herd-server
 * and the other references, and the same names for the same pieces.
 *
 * <pre>reference/java/threads/run --name Goloman [--config herd.toml] [--log-dir DIR]</pre>
 */
public final class ThreadsServer extends ServerCore implements ServerMain.Server {
    static final String PROGRAM = "herd-threads";
    static final int MAX_PEER_LINE = 1024;
    static final int MAX_HANDSHAKE_LINE = 512;
    static final int HELLO_TIME_LIMIT_MS = 5000;
    private static final int BACKLOG = 1024;
    private static final int READ_SIZE = 8192; // the JDK's own default buffer size: an idle connection holds one

    private final Map<String, PeerLink> links = new LinkedHashMap<>();
    private final ExecutorService connections = Executors.newCachedThreadPool(named("connection"));
    private final ScheduledExecutorService logFlusher = Executors.newSingleThreadScheduledExecutor(named("log-flush"));
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final List<ServerSocket> listeners = new ArrayList<>();
    private final List<Thread> acceptors = new ArrayList<>();

    ThreadsServer(Startup startup) {
        super(startup);
        for (final String neighbour : me.neighbors()) {
            final PeerLink link = new PeerLink(herd.servers().get(neighbour), name, herd.secret(), log);
            links.put(neighbour, link);
            addLink(neighbour, link);
        }
    }

    static ThreadFactory named(String prefix) {
        final AtomicInteger count = new AtomicInteger();
        return task -> new Thread(task, prefix + "-" + count.incrementAndGet());
    }

    @Override
    public void start() throws IOException {
        startServer(this::handleConnection, me.host(), me.port(), "accept-clients");
        startServer(this::handlePeer, startup.peerHost(), me.peerPort(), "accept-peers");
        startup.logStarting();
        logFlusher.scheduleAtFixedRate(log::flush, 100, 100, TimeUnit.MILLISECONDS);
        links.values().forEach(PeerLink::start);
    }

    /** A listening socket and the thread that accepts on it, handing each connection to a thread of its own. */
    private void startServer(Consumer<Socket> handler, String host, int port, String threadName) throws IOException {
        final ServerSocket listener = new ServerSocket();
        listeners.add(listener);
        listener.setReuseAddress(true);
        listener.bind(new InetSocketAddress(host, port), BACKLOG);
        final Thread acceptor = new Thread(() -> {
            while (!listener.isClosed()) {
                final Socket socket;
                try {
                    socket = listener.accept();
                } catch (IOException e) {
                    if (!listener.isClosed()) {
                        log.warning("accept on " + host + ":" + port + ": " + e.getMessage());
                    }
                    continue;
                }
                open.add(socket);
                try {
                    connections.execute(() -> {
                        try {
                            handler.accept(socket);
                        } finally {
                            open.remove(socket);
                        }
                    });
                } catch (RejectedExecutionException e) { // stopping
                    closeQuietly(socket);
                    open.remove(socket);
                }
            }
        }, threadName);
        acceptors.add(acceptor);
        acceptor.start();
    }

    private static String address(Socket socket) {
        return socket.getInetAddress().getHostAddress() + ":" + socket.getPort();
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // closing is all that is left to do with it
        }
    }

    // -- clients

    void handleConnection(Socket socket) {
        final String client = address(socket);
        log.info("client " + client + " connected");
        try (socket) {
            socket.setTcpNoDelay(true);
            final InputStream in = socket.getInputStream();
            final OutputStream out = socket.getOutputStream();
            final Lines lines = new Lines();
            final byte[] chunk = new byte[READ_SIZE];
            final ByteArrayOutputStream replies = new ByteArrayOutputStream();
            while (true) {
                final int n = in.read(chunk);
                final long nowNs = Startup.nowNs(); // the skew is taken when the bytes arrive
                final List<String> complete = n < 0 ? lines.rest().map(List::of).orElse(List.of()) : lines.add(chunk, n);
                for (final String line : complete) {
                    log.info("client " + client + " < " + Protocol.escapeForLog(line));
                    final byte[] reply = handleLine(line, nowNs).join(); // this thread waits for Google
                    if (reply.length > 0) {
                        log.info("client " + client + " > " + Protocol.escapeForLog(latin1(reply, 0, reply.length)));
                        replies.write(reply);
                    }
                }
                if (replies.size() > 0) { // every reply to one read, in one write
                    replies.writeTo(out);
                    replies.reset();
                }
                if (n < 0) {
                    break;
                }
            }
        } catch (IOException e) {
            log.info("client " + client + " gone: " + e.getMessage());
        }
        log.info("client " + client + " done");
    }

    // -- flooding

    void handlePeer(Socket socket) {
        final String where = address(socket);
        try (socket) {
            socket.setTcpNoDelay(true);
            final InputStream in = new BufferedInputStream(socket.getInputStream());
            final Optional<String> neighbour = acceptHandshake(socket, in, socket.getOutputStream(), where);
            if (neighbour.isEmpty()) {
                return;
            }
            log.info("peer link from " + neighbour.get() + " (" + where + ") open");
            final LineReader records = new LineReader(in, MAX_PEER_LINE);
            for (Optional<String> line; (line = records.next()).isPresent();) {
                handleRecord(neighbour.get(), line.get());
            }
            log.info("peer link from " + neighbour.get() + " closed");
        } catch (IOException e) {
            log.info("peer link from " + where + " closed: " + e.getMessage());
        }
    }

    private Optional<String> acceptHandshake(Socket socket, InputStream in, OutputStream out, String where) throws IOException {
        final String nonceA = Handshake.nonce();
        out.write(latin1(Handshake.CHALLENGE + " " + name + " " + nonceA + "\n"));
        List<String> hello;
        socket.setSoTimeout(HELLO_TIME_LIMIT_MS);
        try {
            hello = new LineReader(in, MAX_HANDSHAKE_LINE).next().map(Protocol::splitFields).orElse(List.of());
        } catch (SocketTimeoutException | LineReader.LineTooLong e) {
            hello = List.of();
        }
        socket.setSoTimeout(0);
        final Optional<String> refusal = Handshake.checkHello(hello, me, herd.secret(), nonceA);
        if (refusal.isPresent()) {
            log.warning("peer link from " + where + " refused: " + refusal.get());
            out.write(latin1(Handshake.REFUSED + " " + refusal.get() + "\n"));
            return Optional.empty();
        }
        final String dialer = hello.get(3);
        out.write(latin1(Handshake.WELCOME + " "
                + Handshake.proof(herd.secret(), Handshake.ACCEPTOR, name, dialer, nonceA, hello.get(4)) + "\n"));
        return Optional.of(dialer);
    }

    // -- stopping

    /** Stops accepting, ends every connection and link, and waits for their threads (5 s at most). */
    @Override
    public void close() {
        log.info(name + " stopping");
        listeners.forEach(ThreadsServer::closeQuietly);
        links.values().forEach(PeerLink::stop);
        connections.shutdown();
        open.forEach(ThreadsServer::closeQuietly);
        try {
            for (final Thread acceptor : acceptors) {
                acceptor.join(5000);
            }
            for (final PeerLink link : links.values()) {
                link.join(5000);
            }
            if (!connections.awaitTermination(5, TimeUnit.SECONDS)) {
                connections.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        logFlusher.shutdownNow();
        log.info(name + " stopped");
    }

    public static void main(String[] args) {
        System.exit(ServerMain.run(PROGRAM, args, ThreadsServer::new));
    }
}
