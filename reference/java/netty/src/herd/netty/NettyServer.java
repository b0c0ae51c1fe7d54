package herd.netty;

import herd.common.Handshake;
import herd.common.Protocol;
import herd.common.ServerCore;
import herd.common.ServerMain;
import herd.common.Startup;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The herd server on Netty 4: one event-loop thread for every socket, as asyncio and Herd have,
 * a ChannelPipeline per connection (a LineDecoder, then a ClientHandler or a PeerHandler), and
 * each neighbour link a Netty client channel (PeerLink). The same contract as the C++
 * herd-server and the other references, and the same names for the same pieces.
 *
 * <pre>reference/java/netty/run --name Goloman [--config herd.toml] [--log-dir DIR]</pre>
 */
public final class NettyServer extends ServerCore implements ServerMain.Server {
    static final String PROGRAM = "herd-netty";
    static final int MAX_PEER_LINE = 1024;
    static final int MAX_HANDSHAKE_LINE = 512;
    static final long HELLO_TIME_LIMIT_MS = 5000;
    private static final int BACKLOG = 1024;

    private final EventLoopGroup loop = new NioEventLoopGroup(1, new DefaultThreadFactory("event-loop"));
    private final ChannelGroup channels = new DefaultChannelGroup("herd", loop.next());
    private final Map<String, PeerLink> links = new LinkedHashMap<>();
    private final List<Channel> listeners = new ArrayList<>();

    NettyServer(Startup startup) {
        super(startup);
        for (final String neighbour : me.neighbors()) {
            final PeerLink link = new PeerLink(loop, herd.servers().get(neighbour), name, herd.secret(), log);
            links.put(neighbour, link);
            addLink(neighbour, link);
        }
    }

    @Override
    public void start() throws IOException {
        startServer(ClientHandler::new, me.host(), me.port(), Integer.MAX_VALUE, true);
        startServer(PeerHandler::new, startup.peerHost(), me.peerPort(), MAX_PEER_LINE, false);
        startup.logStarting();
        loop.scheduleAtFixedRate(log::flush, 100, 100, TimeUnit.MILLISECONDS);
        links.values().forEach(PeerLink::start);
    }

    /** A listening channel whose connections each get a LineDecoder and a handler of their own. */
    private void startServer(Supplier<ChannelHandler> handler, String host, int port, int maxLine, boolean lastLineCounts)
            throws IOException {
        final ServerBootstrap bootstrap = new ServerBootstrap()
                .group(loop)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, BACKLOG)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        channels.add(ch);
                        ch.pipeline().addLast(new LineDecoder(maxLine, lastLineCounts), handler.get());
                    }
                });
        final ChannelFuture bound = bootstrap.bind(new InetSocketAddress(host, port)).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            throw new IOException(bound.cause().getMessage(), bound.cause());
        }
        listeners.add(bound.channel());
    }

    private static String address(Channel channel) {
        final InetSocketAddress remote = (InetSocketAddress) channel.remoteAddress();
        return remote.getAddress().getHostAddress() + ":" + remote.getPort();
    }

    // -- clients

    /**
     * One client connection. Replies go out in the order of the lines, each read's in one write
     * (flushed at channelReadComplete); a WHATSAT that waits for Google holds back the replies
     * behind it, not the event loop.
     */
    private final class ClientHandler extends SimpleChannelInboundHandler<String> {
        private final ArrayDeque<CompletableFuture<byte[]>> replies = new ArrayDeque<>();
        private String client = "?";
        private boolean inputEnded;
        private boolean done;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            client = address(ctx.channel());
            log.info("client " + client + " connected");
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, String line) {
            log.info("client " + client + " < " + Protocol.escapeForLog(line));
            final CompletableFuture<byte[]> reply = handleLine(line, Startup.nowNs());
            replies.add(reply);
            if (reply.isDone()) {
                writeReady(ctx);
            } else {
                reply.whenComplete((answer, failure) -> ctx.executor().execute(() -> {
                    writeReady(ctx);
                    ctx.flush();
                }));
            }
        }

        /** Writes (without flushing) every reply at the head of the line that is ready. */
        private void writeReady(ChannelHandlerContext ctx) {
            while (!replies.isEmpty() && replies.peek().isDone()) {
                final byte[] reply = replies.poll().join();
                if (reply.length > 0) {
                    log.info("client " + client + " > " + Protocol.escapeForLog(latin1(reply, 0, reply.length)));
                    ctx.write(Unpooled.wrappedBuffer(reply));
                }
            }
            if (inputEnded && replies.isEmpty()) {
                finish(ctx);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush(); // every reply to one read, in one write
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
            if (event instanceof ChannelInputShutdownEvent) { // a half-close: answer everything, then close
                inputEnded = true;
                writeReady(ctx);
                ctx.flush();
            }
        }

        private void finish(ChannelHandlerContext ctx) {
            if (!done) {
                done = true;
                log.info("client " + client + " done");
                ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!done) {
                done = true;
                log.info("client " + client + " done");
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.info("client " + client + " gone: " + cause.getMessage());
            ctx.close();
        }
    }

    // -- flooding

    /** One neighbour's link to this server: the acceptor's side of the handshake, then its records. */
    private final class PeerHandler extends SimpleChannelInboundHandler<String> {
        private enum State { HELLO, OPEN, REFUSED }

        private State state = State.HELLO;
        private String where = "?";
        private String nonceA;
        private String neighbour;
        private ScheduledFuture<?> helloTimer;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            where = address(ctx.channel());
            nonceA = Handshake.nonce();
            ctx.writeAndFlush(Unpooled.wrappedBuffer(latin1(Handshake.CHALLENGE + " " + name + " " + nonceA + "\n")));
            helloTimer = ctx.executor().schedule(() -> acceptHandshake(ctx, List.of()), HELLO_TIME_LIMIT_MS, TimeUnit.MILLISECONDS);
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, String line) {
            switch (state) {
                case HELLO -> {
                    helloTimer.cancel(false);
                    acceptHandshake(ctx, line.length() > MAX_HANDSHAKE_LINE ? List.of() : Protocol.splitFields(line));
                }
                case OPEN -> handleRecord(neighbour, line);
                case REFUSED -> { } // the rest of what came with a refused hello
            }
        }

        private void acceptHandshake(ChannelHandlerContext ctx, List<String> hello) {
            if (state != State.HELLO) {
                return;
            }
            final Optional<String> refusal = Handshake.checkHello(hello, me, herd.secret(), nonceA);
            if (refusal.isPresent()) {
                state = State.REFUSED;
                log.warning("peer link from " + where + " refused: " + refusal.get());
                ctx.writeAndFlush(Unpooled.wrappedBuffer(latin1(Handshake.REFUSED + " " + refusal.get() + "\n")))
                        .addListener(ChannelFutureListener.CLOSE);
                return;
            }
            state = State.OPEN;
            neighbour = hello.get(3);
            ctx.writeAndFlush(Unpooled.wrappedBuffer(latin1(Handshake.WELCOME + " "
                    + Handshake.proof(herd.secret(), Handshake.ACCEPTOR, name, neighbour, nonceA, hello.get(4)) + "\n")));
            log.info("peer link from " + neighbour + " (" + where + ") open");
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
            if (event instanceof ChannelInputShutdownEvent) {
                ctx.close();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (helloTimer != null) {
                helloTimer.cancel(false);
            }
            if (state == State.OPEN) {
                log.info("peer link from " + neighbour + " closed");
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.info("peer link from " + (neighbour != null ? neighbour : where) + " closed: " + cause.getMessage());
            state = State.REFUSED; // no "closed" line again
            ctx.close();
        }
    }

    // -- stopping

    /** Stops accepting, ends every connection and link, and stops the event loop (5 s at most). */
    @Override
    public void close() {
        log.info(name + " stopping");
        listeners.forEach(Channel::close);
        links.values().forEach(PeerLink::stop);
        channels.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        loop.shutdownGracefully(0, 5, TimeUnit.SECONDS).awaitUninterruptibly();
        log.info(name + " stopped");
    }

    public static void main(String[] args) {
        System.exit(ServerMain.run(PROGRAM, args, NettyServer::new));
    }
}
