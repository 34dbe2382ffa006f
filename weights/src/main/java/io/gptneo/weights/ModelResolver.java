package io.gptneo.weights;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a {@code --model} argument into a local model directory: an existing directory is used as is; a Hub id such
 * as {@code EleutherAI/gpt-neo-125M} (optionally {@code @revision}) is downloaded once into
 * {@code <cache>/<org>--<name>/<revision>/} and served from there afterwards.
 *
 * <p>Downloads: {@code {base}/{id}/resolve/{revision}/{file}}, redirects followed by hand (the first hop carries the
 * Hub's {@code X-Linked-Size} / {@code X-Linked-Etag} for LFS files; the bearer token is only sent to the Hub's host).
 * Bytes go to {@code file.incomplete}, which a later run resumes with an HTTP Range request; the finished file is
 * checked against the announced size and, when the ETag is a sha256 (64 hex digits, as for LFS files), its digest,
 * then renamed into place atomically.
 *
 * <p>Environment: {@code GPTNEO_HUB_URL} (default https://huggingface.co), {@code GPTNEO_CACHE} (default
 * ~/.cache/gptneo-java/hub), {@code HF_TOKEN}, {@code HF_HUB_OFFLINE=1}.
 */
public final class ModelResolver {
    public static final List<String> TOKENIZER_FILES =
            List.of("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json");
    public static final String INCOMPLETE = ".incomplete";
    private static final Pattern HUB_ID = Pattern.compile("([A-Za-z0-9][\\w.-]*/)?[A-Za-z0-9][\\w.-]*(@[\\w./-]+)?");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    /** Where and how to download. */
    public record Settings(URI baseUrl, Path cacheRoot, String token, boolean offline, Duration connectTimeout) {
        public static Settings fromEnvironment() {
            String base = env("GPTNEO_HUB_URL", "https://huggingface.co");
            String cache = env("GPTNEO_CACHE", Path.of(System.getProperty("user.home"), ".cache", "gptneo-java", "hub").toString());
            String off = env("HF_HUB_OFFLINE", "");
            boolean offline = off.equals("1") || off.equalsIgnoreCase("true") || off.equalsIgnoreCase("yes");
            return new Settings(URI.create(base), Path.of(cache), env("HF_TOKEN", null), offline, Duration.ofSeconds(15));
        }

        private static String env(String k, String dflt) {
            String v = System.getenv(k);
            return v == null || v.isBlank() ? dflt : v.strip();
        }
    }

    private final Settings settings;
    private final HttpClient http;

    public ModelResolver(Settings settings) {
        this.settings = settings;
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(settings.connectTimeout()).build();
    }

    public static ModelResolver fromEnvironment() { return new ModelResolver(Settings.fromEnvironment()); }

    /** Resolves with the environment's settings. */
    public static Path resolveModel(String model) throws IOException { return fromEnvironment().resolve(model); }

    public Settings settings() { return settings; }

    /** A local directory as is; otherwise a Hub id, downloaded (or found in the cache). */
    public Path resolve(String model) throws IOException {
        Path local = Path.of(model);
        if (Files.isDirectory(local)) return local;
        if (!HUB_ID.matcher(model).matches() || model.contains(".."))
            throw new HubException("--model " + model + ": not a directory and not a Hub id like EleutherAI/gpt-neo-125M");
        int at = model.indexOf('@');
        String id = at < 0 ? model : model.substring(0, at);
        String revision = at < 0 ? "main" : model.substring(at + 1);
        return download(id, revision);
    }

    /** {@code <cacheRoot>/<org>--<name>/<revision>}. */
    public Path cacheDir(String id, String revision) {
        return settings.cacheRoot().resolve(id.replace("/", "--")).resolve(revision.replace("/", "--"));
    }

    /** Downloads config, tokenizer files, generation config and safetensors weights of a repo into its cache dir. */
    public Path download(String id, String revision) throws IOException {
        Path dir = cacheDir(id, revision);
        if (complete(dir)) return dir;                       // a finished snapshot needs no network
        if (settings.offline()) throw offline(id, dir, "HF_HUB_OFFLINE is set", null);
        Files.createDirectories(dir);
        try {
            fetch(id, revision, "config.json", dir, true);
            for (String f : TOKENIZER_FILES) fetch(id, revision, f, dir, false);
            fetch(id, revision, "generation_config.json", dir, false);
            if (!fetch(id, revision, Checkpoints.SINGLE, dir, false)) {
                if (!fetch(id, revision, Checkpoints.INDEX, dir, false))
                    throw new HubException(id + "@" + revision + ": the repository has neither " + Checkpoints.SINGLE + " nor "
                            + Checkpoints.INDEX + " (pytorch_model.bin checkpoints are not supported; convert to safetensors)");
                for (String shard : shards(dir.resolve(Checkpoints.INDEX))) fetch(id, revision, shard, dir, true);
            }
        } catch (java.net.ConnectException | java.net.http.HttpConnectTimeoutException | java.nio.channels.UnresolvedAddressException e) {
            throw offline(id, dir, "cannot connect to " + settings.baseUrl() + " (" + e + ")", e);
        } catch (IOException e) {
            if (e instanceof HubException) throw e;
            Throwable c = e.getCause();
            if (e.getClass() == IOException.class || c instanceof java.net.ConnectException)
                throw offline(id, dir, "download failed: " + e, e);
            throw e;
        }
        return dir;
    }

    /** config.json plus either model.safetensors or the index and every shard it names. */
    private static boolean complete(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json"))) return false;
        if (Files.isRegularFile(dir.resolve(Checkpoints.SINGLE))) return true;
        Path index = dir.resolve(Checkpoints.INDEX);
        if (!Files.isRegularFile(index)) return false;
        try {
            for (String s : shards(index)) if (!Files.isRegularFile(dir.resolve(s))) return false;
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private HubException offline(String id, Path dir, String why, Throwable cause) {
        return new HubException("cannot download " + id + ": " + why + ". To use it offline, put config.json and "
                + Checkpoints.SINGLE + " (or " + Checkpoints.INDEX + " and every shard it names), plus the tokenizer files "
                + String.join(", ", TOKENIZER_FILES) + " into " + dir + ", or pass --model with a local model directory", cause);
    }

    static List<String> shards(Path index) throws IOException {
        JsonNode root;
        try {
            root = SafeTensorsFile.JSON.readTree(Files.readString(index));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new HubException(index + ": index is not valid JSON: " + e.getOriginalMessage());
        }
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject()) throw new HubException(index + ": missing 'weight_map' object");
        TreeSet<String> files = new TreeSet<>();
        for (Iterator<JsonNode> it = wm.elements(); it.hasNext(); ) {
            JsonNode v = it.next();
            String s = v.isTextual() ? v.textValue() : "";
            if (s.isEmpty() || s.contains("/") || s.contains("\\") || s.startsWith("."))
                throw new HubException(index + ": weight_map names '" + v + "', not a file beside the index");
            files.add(s);
        }
        return new ArrayList<>(files);
    }

    private URI fileUri(String id, String revision, String file) {
        String base = settings.baseUrl().toString();
        if (base.endsWith("/")) base = base.substring(0, base.length() - 1);
        return URI.create(base + "/" + id + "/resolve/" + URLEncoder.encode(revision, StandardCharsets.UTF_8).replace("%2F", "/")
                + "/" + URLEncoder.encode(file, StandardCharsets.UTF_8));
    }

    /**
     * Downloads one file unless already present. Returns false for a 404 on an optional file. A partial
     * {@code .incomplete} file is resumed with a Range request.
     */
    boolean fetch(String id, String revision, String file, Path dir, boolean required) throws IOException {
        Path target = dir.resolve(file);
        if (Files.isRegularFile(target)) return true;
        Path part = dir.resolve(file + INCOMPLETE);
        for (int attempt = 0; attempt < 2; attempt++) {
            long have = Files.isRegularFile(part) ? Files.size(part) : 0;
            Fetched r = get(fileUri(id, revision, file), have);
            try (InputStream body = r.response.body()) {
                int status = r.response.statusCode();
                if (status == 404) {
                    if (required) throw new HubException(id + "@" + revision + ": " + file + " not found (404 at " + r.uri + ")");
                    return false;
                }
                if (status == 401 || status == 403)
                    throw new HubException(id + "@" + revision + ": " + file + ": access denied (HTTP " + status + " at " + r.uri
                            + "); gated or private repositories need HF_TOKEN");
                Long total = r.linkedSize;
                if (status == 416) {                         // nothing left to send: the partial file may be whole
                    if (total != null && have == total) break;
                    Files.deleteIfExists(part);
                    continue;
                }
                boolean append;
                if (status == 206) {
                    Matcher m = CONTENT_RANGE.matcher(r.response.headers().firstValue("Content-Range").orElse(""));
                    if (!m.matches() || Long.parseLong(m.group(1)) != have)
                        throw new HubException(id + ": " + file + ": server answered the range request from byte " + have
                                + " with Content-Range '" + r.response.headers().firstValue("Content-Range").orElse("") + "'");
                    if (total == null && !m.group(3).equals("*")) total = Long.parseLong(m.group(3));
                    append = true;
                } else if (status == 200) {
                    if (total == null) total = r.response.headers().firstValueAsLong("Content-Length").stream().boxed().findFirst().orElse(null);
                    append = false;                          // full body: start over
                } else {
                    throw new HubException(id + "@" + revision + ": " + file + ": HTTP " + status + " from " + r.uri);
                }
                copy(body, part, append);
                long size = Files.size(part);
                if (total != null && size != total) {
                    throw new HubException(id + ": " + file + ": download ended at " + size + " of " + total
                            + " bytes; run again to resume from " + part);
                }
                if (r.sha256 != null) {
                    String got = sha256(part);
                    if (!got.equals(r.sha256)) {
                        Files.deleteIfExists(part);
                        throw new HubException(id + ": " + file + ": sha256 mismatch: expected " + r.sha256 + ", got " + got
                                + " (corrupt download deleted; run again)");
                    }
                }
            }
            moveIntoPlace(part, target);
            return true;
        }
        if (Files.isRegularFile(part)) {
            moveIntoPlace(part, target);
            return true;
        }
        throw new HubException(id + ": " + file + ": server refused the resume range twice");
    }

    private static void moveIntoPlace(Path part, Path target) throws IOException {
        try {
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private record Fetched(URI uri, HttpResponse<InputStream> response, Long linkedSize, String sha256) {}

    /** GET with manual redirects; size/sha256 come from the first response that announces them. */
    private Fetched get(URI uri, long rangeFrom) throws IOException {
        String hubHost = settings.baseUrl().getHost();
        Long size = null;
        String sha = null;
        for (int hop = 0; hop < 10; hop++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri).GET().header("User-Agent", "gptneo-java/0.1");
            if (rangeFrom > 0) b.header("Range", "bytes=" + rangeFrom + "-");
            if (settings.token() != null && hubHost != null && hubHost.equalsIgnoreCase(uri.getHost()))
                b.header("Authorization", "Bearer " + settings.token());
            HttpResponse<InputStream> resp;
            try {
                resp = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while downloading " + uri, e);
            }
            HttpHeaders h = resp.headers();
            if (size == null) size = h.firstValue("X-Linked-Size").map(ModelResolver::parseLong).orElse(null);
            if (sha == null) sha = h.firstValue("X-Linked-Etag").map(ModelResolver::etag).filter(ModelResolver::isSha256).orElse(null);
            int s = resp.statusCode();
            if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) {
                Optional<String> loc = h.firstValue("Location");
                resp.body().close();
                if (loc.isEmpty()) throw new HubException("redirect without Location from " + uri);
                uri = uri.resolve(loc.get());
                continue;
            }
            if (sha == null && (s == 200 || s == 206))
                sha = h.firstValue("ETag").map(ModelResolver::etag).filter(ModelResolver::isSha256).orElse(null);
            return new Fetched(uri, resp, size, sha);
        }
        throw new HubException("too many redirects from " + uri);
    }

    private static Long parseLong(String s) {
        try {
            return Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** ETag value without weak prefix and quotes, lower case. */
    static String etag(String raw) {
        String s = raw.strip();
        if (s.startsWith("W/")) s = s.substring(2);
        if (s.length() >= 2 && s.startsWith("\"") && s.endsWith("\"")) s = s.substring(1, s.length() - 1);
        return s.toLowerCase(Locale.ROOT);
    }

    private static boolean isSha256(String s) { return SHA256.matcher(s).matches(); }

    private static void copy(InputStream in, Path part, boolean append) throws IOException {
        try (FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) {
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) ch.write(bb);
            }
            ch.force(true);
        }
    }

    static String sha256(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** For messages: the settings in effect. */
    public Map<String, String> describe() {
        return Map.of("hub", settings.baseUrl().toString(), "cache", settings.cacheRoot().toString(),
                "offline", Boolean.toString(settings.offline()), "token", settings.token() == null ? "none" : "set");
    }
}
