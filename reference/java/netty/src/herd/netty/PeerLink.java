package herd.netty;

import herd.common.Handshake;
import herd.common.Protocol;
import herd.common.ServerCore;
import herd.common.ServerLog;
import herd.common.Topology.ServerConfig;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The link to one neighbour: a queue and a Netty client channel that dials, proves membership,
 * sends what is queued, and dials again when it closes. Everything here runs on the event loop,
 * so it needs no lock: post() is called there too (flooding happens on the loop).
 */
final class PeerLink implements ServerCore.Link {
    static final int HANDSHAKE_TIME_LIMIT_MS = 2000;
    static final long RECONNECT_INTERVAL_MS = 1000;
    static final int QUEUE_CAPACITY = 4096;

    private final EventLoopGroup loop;
    private final ServerConfig neighbour;
    private final String name;
    private final Optional<String> secret;
    private final ServerLog log;
    private final Bootstrap bootstrap;
    private final ArrayDeque<String> queue = new ArrayDeque<>();
    private Channel channel; // the channel being dialled or up, if any
    private boolean up;
    private boolean stopped;
    private boolean flushQueued;
    private ScheduledFuture<?> redial;
    private String lastFailure = "";

    PeerLink(EventLoopGroup loop, ServerConfig neighbour, String name, Optional<String> secret, ServerLog log) {
        this.loop = loop;
        this.neighbour = neighbour;
        this.name = name;
        this.secret = secret;
        this.log = log;
        this.bootstrap = new Bootstrap()
                .group(loop)
                .channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, HANDSHAKE_TIME_LIMIT_MS)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new LineDecoder(NettyServer.MAX_PEER_LINE, false), new DialerHandler());
                    }
                });
    }

    void start() {
        loop.execute(this::dial);
    }

    void stop() {
        loop.execute(() -> {
            stopped = true;
            if (redial != null) {
                redial.cancel(false);
            }
            if (channel != null) {
                channel.close();
            }
        });
    }

    @Override
    public void post(String atLine) {
        if (queue.size() >= QUEUE_CAPACITY) {
            log.warning("peer link to " + neighbour.name() + ": queue full, dropped " + Protocol.escapeForLog(atLine));
            return;
        }
        queue.add(atLine);
        if (up) {
            if (!flushQueued) { // the rest of this burst joins it, in one write
                flushQueued = true;
                loop.execute(this::flush);
            }
        } else {
            dial(); // down: dial at once
        }
    }

    private void flush() {
        flushQueued = false;
        if (!up || queue.isEmpty()) {
            return;
        }
        final StringBuilder text = new StringBuilder();
        final int count = queue.size();
        for (final String line : queue) {
            text.append(line).append('\n');
        }
        queue.clear();
        channel.writeAndFlush(Unpooled.wrappedBuffer(ServerCore.latin1(text.toString()))).addListener(written -> {
            if (!written.isSuccess() && !stopped) {
                log.warning("peer link to " + neighbour.name() + ": " + count + " records lost: " + written.cause().getMessage());
            }
        });
    }

    private void noteDown(String why) {
        if (!why.equals(lastFailure)) {
            log.warning("peer link to " + neighbour.name() + " (" + neighbour.host() + ":" + neighbour.peerPort() + ") down: " + why);
            lastFailure = why;
        }
    }

    private void dial() {
        if (stopped || channel != null) {
            return;
        }
        if (redial != null) {
            redial.cancel(false);
            redial = null;
        }
        final ChannelFuture connecting = bootstrap.connect(neighbour.host(), neighbour.peerPort());
        channel = connecting.channel();
        connecting.addListener(connected -> {
            if (!connected.isSuccess()) {
                failed(connecting.channel(), String.valueOf(connected.cause().getMessage()));
            }
        });
    }

    /** A dial or handshake that did not end in a WELCOME: what waited for it is dropped. */
    private void failed(Channel ch, String why) {
        if (channel != ch) {
            return;
        }
        channel = null;
        ch.close();
        noteDown(why);
        if (!queue.isEmpty()) {
            log.warning("peer link to " + neighbour.name() + " down: dropped " + queue.size() + " records");
            queue.clear();
        }
        redialLater();
    }

    private void opened(Channel ch) {
        up = true;
        lastFailure = "";
        log.info("peer link to " + neighbour.name() + " open");
        flush();
    }

    /** The acceptor sends nothing after WELCOME: the channel closing is how the link learns it went away. */
    private void closed(Channel ch) {
        if (channel != ch) {
            return;
        }
        channel = null;
        up = false;
        if (stopped) {
            return;
        }
        log.info("peer link to " + neighbour.name() + " closed");
        lastFailure = "closed";
        redialLater();
    }

    // Down: dial again when there is a record, or within the interval.
    private void redialLater() {
        if (!stopped) {
            redial = loop.schedule(this::dial, RECONNECT_INTERVAL_MS, TimeUnit.MILLISECONDS);
        }
    }

    /** The dialer's side of the handshake: CHALLENGE in, HELLO out, WELCOME in. */
    private final class DialerHandler extends SimpleChannelInboundHandler<String> {
        private enum State { CHALLENGE, WELCOME, UP }

        private State state = State.CHALLENGE;
        private String nonceA;
        private String nonceD;
        private ScheduledFuture<?> timer;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            timer = ctx.executor().schedule(() -> failed(ctx.channel(), "handshake timed out"), HANDSHAKE_TIME_LIMIT_MS,
                    TimeUnit.MILLISECONDS);
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, String line) {
            final List<String> fields = line.length() > NettyServer.MAX_HANDSHAKE_LINE ? List.of() : Protocol.splitFields(line);
            switch (state) {
                case CHALLENGE -> {
                    final Optional<String> nonce = Handshake.challengeNonce(fields, neighbour.name());
                    if (nonce.isEmpty()) {
                        fail(ctx, "no valid challenge from the peer port");
                        return;
                    }
                    nonceA = nonce.get();
                    nonceD = Handshake.nonce();
                    final String proof = Handshake.proof(secret, Handshake.DIALER, neighbour.name(), name, nonceA, nonceD);
                    ctx.writeAndFlush(Unpooled.wrappedBuffer(
                            ServerCore.latin1(Handshake.HELLO + " " + name + " " + nonceD + " " + proof + "\n")));
                    state = State.WELCOME;
                }
                case WELCOME -> {
                    final Optional<String> refusal = Handshake.checkWelcome(fields, secret, neighbour.name(), name, nonceA, nonceD);
                    if (refusal.isPresent()) {
                        fail(ctx, refusal.get());
                        return;
                    }
                    timer.cancel(false);
                    state = State.UP;
                    opened(ctx.channel());
                }
                case UP -> { } // the acceptor has nothing to say
            }
        }

        private void fail(ChannelHandlerContext ctx, String why) {
            timer.cancel(false);
            failed(ctx.channel(), why);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (timer != null) {
                timer.cancel(false);
            }
            switch (state) {
                case CHALLENGE -> failed(ctx.channel(), "no valid challenge from the peer port");
                case WELCOME -> failed(ctx.channel(), "refused: ");
                case UP -> closed(ctx.channel());
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (state == State.UP) {
                ctx.close();
            } else {
                fail(ctx, String.valueOf(cause.getMessage()));
            }
        }
    }
}
