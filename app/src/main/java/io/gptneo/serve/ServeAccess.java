package io.gptneo.serve;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Locale;

/**
 * Who may talk to the score server, against browsers used as a proxy (cross-site POSTs, DNS rebinding) and, beyond
 * loopback, against everyone else.
 *
 * @param bindHost     the address the server listens on (127.0.0.1 unless {@code --host})
 * @param allowedHosts extra {@code Host} header names accepted besides the bind address, localhost, 127.0.0.1, [::1]
 * @param allowOrigin  one browser origin granted CORS (e.g. {@code https://tool.example}), or null for none
 * @param token        bearer token every request except the page must carry ({@code Authorization: Bearer T}), or null
 */
public record ServeAccess(String bindHost, List<String> allowedHosts, String allowOrigin, String token) {
    public static final ServeAccess LOOPBACK = new ServeAccess("127.0.0.1", List.of(), null, null);

    public ServeAccess {
        allowedHosts =
                allowedHosts.stream().map(h -> h.toLowerCase(Locale.ROOT)).toList();
        if (token != null && token.isBlank()) throw new IllegalArgumentException("the bearer token is empty");
    }

    /** Whether {@code bindHost} is a loopback address (or names one). */
    public boolean loopback() {
        try {
            return InetAddress.getByName(bindHost).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** Null when the {@code Host} header names this server, else the reason to refuse (DNS rebinding). */
    String checkHost(String hostHeader) {
        if (hostHeader == null || hostHeader.isBlank()) return "missing Host header";
        String h = hostHeader.trim().toLowerCase(Locale.ROOT);
        if (h.startsWith("[")) h = h.substring(0, Math.max(1, h.indexOf(']') + 1)); // [::1]:8080 -> [::1]
        else if (h.indexOf(':') >= 0) h = h.substring(0, h.indexOf(':')); // name:8080 -> name
        if (h.equals("localhost")
                || h.equals("127.0.0.1")
                || h.equals("[::1]")
                || h.equals(bindHost.toLowerCase(Locale.ROOT))
                || h.equals("[" + bindHost.toLowerCase(Locale.ROOT) + "]")
                || allowedHosts.contains(h)) {
            return null;
        }
        return "Host \"" + hostHeader + "\" is not this server (" + bindHost
                + ", localhost); start it with --allow-host " + h + " if that name is meant to reach it";
    }

    /** Null when a request from a browser page at {@code origin} (null: not a browser, or same-origin GET) may be served. */
    String checkOrigin(String origin, String hostHeader) {
        if (origin == null) return null;
        if (origin.equalsIgnoreCase("http://" + hostHeader) || origin.equals(allowOrigin)) return null;
        return "requests from the page at " + origin + " are not allowed (start the server with --allow-origin "
                + origin + " to allow them)";
    }

    /** Null when the request carries the token (or none is required). Constant-time comparison. */
    String checkToken(String authorization) {
        if (token == null) return null;
        if (authorization == null || !authorization.startsWith("Bearer "))
            return "missing Authorization: Bearer token (see --token-file)";
        byte[] given = authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(given, token.getBytes(StandardCharsets.UTF_8)) ? null : "wrong bearer token";
    }
}
