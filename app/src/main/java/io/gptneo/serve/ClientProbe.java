package io.gptneo.serve;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * Tells whether the client of an exchange has gone (closed or reset its connection) while its request waits for the
 * model, so its pairs can be dropped before they are scored. The JDK server does not expose the socket; this reads
 * it through the implementation's fields, which needs {@code --add-opens jdk.httpserver/sun.net.httpserver=ALL-UNNAMED}
 * (the launcher and the tests pass it). Without it {@link #AVAILABLE} is false and every client counts as present.
 *
 * <p>The check is one non-blocking read of at most one byte after the whole body was read: -1 (FIN) or an error
 * (RST) means gone; a byte means the client pipelined its next request, which this read consumed, so the caller
 * must close the connection after answering.
 */
final class ClientProbe {
    enum State {
        PRESENT,
        GONE,
        PIPELINED
    }

    private static final Field IMPL, CONNECTION, CHANNEL;
    static final boolean AVAILABLE;

    static {
        Field impl = null, conn = null, chan = null;
        try {
            impl = Class.forName("sun.net.httpserver.HttpExchangeImpl").getDeclaredField("impl");
            conn = Class.forName("sun.net.httpserver.ExchangeImpl").getDeclaredField("connection");
            chan = Class.forName("sun.net.httpserver.HttpConnection").getDeclaredField("chan");
            impl.setAccessible(true);
            conn.setAccessible(true);
            chan.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
            impl = null;
        }
        IMPL = impl;
        CONNECTION = conn;
        CHANNEL = chan;
        AVAILABLE = impl != null;
    }

    private ClientProbe() {}

    static State probe(HttpExchange ex) {
        if (!AVAILABLE) return State.PRESENT;
        SocketChannel ch;
        try {
            ch = (SocketChannel) CHANNEL.get(CONNECTION.get(IMPL.get(ex)));
        } catch (ReflectiveOperationException | ClassCastException e) {
            return State.PRESENT;
        }
        if (ch == null || !ch.isOpen()) return State.GONE;
        synchronized (ch.blockingLock()) {
            try {
                ch.configureBlocking(false);
                int r = ch.read(ByteBuffer.allocate(1));
                return r < 0 ? State.GONE : r == 0 ? State.PRESENT : State.PIPELINED;
            } catch (IOException e) {
                return State.GONE;
            } catch (RuntimeException e) { // e.g. a selector still holds the channel: cannot tell
                return State.PRESENT;
            } finally {
                try {
                    if (ch.isOpen()) ch.configureBlocking(true);
                } catch (IOException | RuntimeException ignored) {
                    // closed meanwhile: the answer will fail to send, which the handler ignores
                }
            }
        }
    }
}
