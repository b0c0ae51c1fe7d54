package herd.common;

import java.util.concurrent.CountDownLatch;
import sun.misc.Signal;

/**
 * SIGINT and SIGTERM as an event to wait for, so the server stops cleanly and exits 0. The JDK
 * offers no public API for this: sun.misc.Signal (module jdk.unsupported) is the one kept for it
 * (JEP 260). Without it the JVM would run its shutdown hooks and exit 130 or 143.
 */
public final class StopSignal {
    private final CountDownLatch raised = new CountDownLatch(1);

    private StopSignal() {}

    public static StopSignal install() {
        final StopSignal stop = new StopSignal();
        for (final String name : new String[] {"INT", "TERM"}) {
            Signal.handle(new Signal(name), signal -> stop.raised.countDown());
        }
        return stop;
    }

    public void await() throws InterruptedException {
        raised.await();
    }
}
