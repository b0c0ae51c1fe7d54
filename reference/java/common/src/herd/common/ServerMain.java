package herd.common;

import java.io.Closeable;
import java.io.IOException;

/**
 * What each Java reference's main does, the same for both: read the command line and the topology
 * (exit 2 on a bad one), start the server (exit 1 if it cannot listen), print the ready line, wait
 * for SIGINT or SIGTERM, and stop it cleanly (exit 0).
 */
public final class ServerMain {
    /** A server as main drives it: start() opens its ports and links, close() stops it. */
    public interface Server extends Closeable {
        void start() throws IOException;
    }

    /** Makes the server for a prepared start-up. */
    @FunctionalInterface
    public interface Factory {
        Server create(Startup startup);
    }

    private ServerMain() {}

    public static int run(String program, String[] args, Factory factory) {
        final Startup startup;
        try {
            startup = Startup.prepare(program, args);
        } catch (Startup.Exit e) {
            (e.status() == 0 ? System.out : System.err).println(e.getMessage());
            return e.status();
        }
        final StopSignal stop = StopSignal.install();
        try (startup; Server server = factory.create(startup)) {
            try {
                server.start();
            } catch (IOException e) {
                System.err.println(program + ": " + startup.me().name() + ": cannot listen: " + e.getMessage());
                return 1;
            }
            System.out.println(startup.readyLine());
            System.out.flush();
            stop.await();
        } catch (IOException e) {
            System.err.println(program + ": " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }
}
