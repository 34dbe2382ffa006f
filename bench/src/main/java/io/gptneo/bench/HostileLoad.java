package io.gptneo.bench;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Hostile clients for the serve load test, on loopback only, each loop bounded by a deadline: {@code slow} clients
 * that send one byte of a request line and then nothing (slowloris; reconnecting when the server drops them) and
 * {@code resetters} that send a 64-pair request and reset the connection at once, every {@code pauseMillis}.
 */
final class HostileLoad implements AutoCloseable {
    final AtomicLong slowConnections = new AtomicLong(), slowDropped = new AtomicLong(), resets = new AtomicLong();
    private final List<Thread> threads = new ArrayList<>();
    private final List<Socket> open = new ArrayList<>();
    private final long deadline;

    HostileLoad(int port, int slow, int resetters, long pauseMillis, long deadlineNanos) {
        this.deadline = deadlineNanos;
        StringBuilder items = new StringBuilder("[");
        for (int i = 0; i < 64; i++)
            items.append(i == 0 ? "" : ",").append("{\"prompt\": \"p").append(i).append("\", \"response\": \"r\"}");
        byte[] body = items.append("]").toString().getBytes(StandardCharsets.UTF_8);
        byte[] request = ("POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:" + port
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n"
                        + new String(body, StandardCharsets.ISO_8859_1))
                .getBytes(StandardCharsets.ISO_8859_1);
        for (int i = 0; i < slow; i++) {
            start("slowloris-" + i, () -> {
                while (System.nanoTime() < deadline) {
                    try (Socket s = connect(port)) {
                        slowConnections.incrementAndGet();
                        s.getOutputStream().write('P');
                        s.getOutputStream().flush();
                        s.setSoTimeout(250);
                        while (System.nanoTime() < deadline) {
                            try {
                                if (s.getInputStream().read() < 0) break;
                            } catch (java.net.SocketTimeoutException still) {
                                // keep holding
                            }
                        }
                        if (System.nanoTime() < deadline) slowDropped.incrementAndGet();
                    } catch (IOException dropped) {
                        if (System.nanoTime() < deadline) slowDropped.incrementAndGet();
                    }
                }
            });
        }
        for (int i = 0; i < resetters; i++) {
            start("resetter-" + i, () -> {
                while (System.nanoTime() < deadline) {
                    try (Socket s = connect(port)) {
                        OutputStream o = s.getOutputStream();
                        o.write(request);
                        o.flush();
                        s.setSoLinger(true, 0); // close = RST
                        resets.incrementAndGet();
                    } catch (IOException refused) {
                        // the server may close a connection it cannot serve; try again after the pause
                    }
                    try {
                        Thread.sleep(pauseMillis);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }
    }

    private Socket connect(int port) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
        synchronized (open) {
            open.add(s);
        }
        return s;
    }

    private void start(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        threads.add(t);
        t.start();
    }

    @Override
    public void close() throws InterruptedException {
        for (Thread t : threads) t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000 + 2000));
        synchronized (open) {
            for (Socket s : open)
                try {
                    s.close();
                } catch (IOException ignored) {
                }
        }
    }
}
