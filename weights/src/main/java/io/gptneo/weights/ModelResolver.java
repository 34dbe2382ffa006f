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
 * as {@code EleutherAI/gpt-neo-125M} (optionally {@code @revision}, or a {@code revision} argument: branch, tag or
 * commit) is looked up in the HuggingFace cache shared with Python tools and downloaded into it when missing.
 *
 * <p>Cache layout (as {@code huggingface_hub} writes it, so each side uses what the other downloaded):
 * <pre>
 * {cache}/models--ORG--NAME/refs/REVISION           the commit a branch or tag points to
 * {cache}/models--ORG--NAME/snapshots/COMMIT/FILE   relative symlink to ../../blobs/ETAG (a copy where links fail)
 * {cache}/models--ORG--NAME/blobs/ETAG              the bytes; ETAG = sha256 for LFS files, the git blob id otherwise
 * </pre>
 * A snapshot that already holds config.json and complete weights is used without any network call.
 *
 * <p>Downloads: a HEAD of {@code {base}/{id}/resolve/{revision}/{file}} gives the commit ({@code X-Repo-Commit}), the
 * ETag and size (LFS: {@code X-Linked-Etag} / {@code X-Linked-Size}); redirects are followed by hand and the bearer
 * token only goes to the Hub's host. Bytes go to {@code blobs/ETAG.incomplete}, which a later run resumes with an HTTP
 * Range request; the finished blob is checked against the announced size and, for sha256 ETags, its digest, then
 * renamed into place atomically and linked from the snapshot.
 *
 * <p>A {@code --model} value that looks like a path (starts with {@code /}, {@code .} or {@code ~}, contains a
 * backslash or more than one {@code /}, or whose parent folder exists) is never sent to the Hub. {@code hf://ID}
 * forces the Hub.
 *
 * <p>Environment: {@code GPTNEO_HUB_URL} (default https://huggingface.co), the cache: {@code GPTNEO_CACHE}, else
 * {@code HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub}; {@code HF_TOKEN},
 * {@code HF_HUB_OFFLINE=1}.
 */
public final class ModelResolver {
    public static final List<String> TOKENIZER_FILES =
            List.of("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json");
    public static final String INCOMPLETE = ".incomplete";
    public static final String HUB_PREFIX = "hf://";
    private static final Pattern HUB_ID = Pattern.compile("([A-Za-z0-9][\\w.-]*/)?[A-Za-z0-9][\\w.-]*");
    private static final Pattern REVISION = Pattern.compile("[\\w.-]+(/[\\w.-]+)*");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern BLOB_ETAG = Pattern.compile("[0-9a-f]{40}|[0-9a-f]{64}");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    /** Where and how to download. {@code cacheRoot} is the HF hub cache folder (the one holding models--*). */
    public record Settings(URI baseUrl, Path cacheRoot, String token, boolean offline, Duration connectTimeout) {
        public static Settings fromEnvironment() {
            String base = env("GPTNEO_HUB_URL", "https://huggingface.co");
            String home = env(
                    "HF_HOME",
                    Path.of(System.getProperty("user.home"), ".cache", "huggingface")
                            .toString());
            String cache =
                    env("GPTNEO_CACHE", env("HF_HUB_CACHE", Path.of(home, "hub").toString()));
            String off = env("HF_HUB_OFFLINE", "");
            boolean offline = off.equals("1")
                    || off.equalsIgnoreCase("true")
                    || off.equalsIgnoreCase("yes")
                    || off.equalsIgnoreCase("on");
            return new Settings(
                    URI.create(base), Path.of(cache), env("HF_TOKEN", null), offline, Duration.ofSeconds(15));
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
        this.http = HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(settings.connectTimeout())
                .build();
    }

    public static ModelResolver fromEnvironment() {
        return new ModelResolver(Settings.fromEnvironment());
    }

    /** System property holding a default revision (the CLI's {@code --revision}); unset = the id's {@code @rev}, else main. */
    public static final String REVISION_PROPERTY = "gptneo.revision";

    /** Resolves with the environment's settings, at the revision in {@link #REVISION_PROPERTY} when set. */
    public static Path resolveModel(String model) throws IOException {
        return fromEnvironment().resolve(model, System.getProperty(REVISION_PROPERTY));
    }

    /** Resolves with the environment's settings at a revision (null = the one in the id, else main). */
    public static Path resolveModel(String model, String revision) throws IOException {
        return fromEnvironment().resolve(model, revision);
    }

    public Settings settings() {
        return settings;
    }

    /** A local directory as is; otherwise a Hub id, found in the cache or downloaded. */
    public Path resolve(String model) throws IOException {
        return resolve(model, null);
    }

    /**
     * As {@link #resolve(String)}; {@code revision} (branch, tag or commit; null = the id's {@code @rev}, else main)
     * selects the snapshot of a Hub id.
     */
    public Path resolve(String model, String revision) throws IOException {
        boolean forced = model.startsWith(HUB_PREFIX);
        String ref = forced ? model.substring(HUB_PREFIX.length()) : model;
        if (!forced) {
            Path local = localPath(model);
            if (Files.isDirectory(local)) return local;
            String why = pathReason(model, local);
            if (why != null)
                throw new HubException("--model " + model + ": no such model directory "
                        + local.toAbsolutePath().normalize()
                        + " (taken as a local path because it " + why
                        + "; it is never sent to the Hub; to download a Hub"
                        + " repository write its id as ORG/NAME or " + HUB_PREFIX + "ORG/NAME)");
        }
        int at = ref.indexOf('@');
        String id = at < 0 ? ref : ref.substring(0, at);
        String rev = at < 0 ? null : ref.substring(at + 1);
        if (rev != null && revision != null && !rev.equals(revision))
            throw new HubException("--model " + model + " names revision " + rev + " but --revision is " + revision);
        if (rev == null) rev = revision == null ? "main" : revision;
        if (!HUB_ID.matcher(id).matches()
                || id.contains("..")
                || !REVISION.matcher(rev).matches()
                || rev.contains(".."))
            throw new HubException(
                    "--model " + model + ": not a directory and not a Hub id like EleutherAI/gpt-neo-125M[@revision]");
        try {
            return download(id, rev);
        } catch (HubException e) {
            if (forced) throw e;
            throw new HubException(
                    e.getMessage() + ". ('" + model + "' was taken as a Hub repository id because no folder of that"
                            + " name exists here; for a local folder give its path, e.g. ./" + model
                            + "; to force the Hub write "
                            + HUB_PREFIX + model + ")",
                    e.getCause());
        }
    }

    /** {@code ~} expanded to the home folder. */
    private static Path localPath(String model) {
        if (model.equals("~") || model.startsWith("~/"))
            return Path.of(System.getProperty("user.home") + model.substring(1));
        return Path.of(model);
    }

    /** Why a value that is not an existing directory still names a local path, or null when it may be a Hub id. */
    static String pathReason(String model, Path local) {
        if (model.startsWith("/")) return "is an absolute path";
        if (model.startsWith(".")) return "starts with '.'";
        if (model.startsWith("~")) return "starts with '~'";
        if (model.contains("\\") || !java.io.File.separator.equals("/") && model.contains(java.io.File.separator))
            return "contains a path separator";
        String bare = model.contains("@") ? model.substring(0, model.indexOf('@')) : model;
        if (bare.chars().filter(c -> c == '/').count() > 1 || bare.endsWith("/"))
            return "has more than the one '/' of ORG/NAME";
        Path parent = local.getParent();
        if (parent != null && Files.isDirectory(parent)) return "names a folder inside the existing folder " + parent;
        if (Files.exists(local)) return "names an existing file";
        return null;
    }

    /** {@code <cacheRoot>/models--ORG--NAME}. */
    public Path repoDir(String id) {
        return repoDir("models", id);
    }

    /** {@code <cacheRoot>/TYPE--ORG--NAME}, TYPE = models or datasets. */
    public Path repoDir(String type, String id) {
        return settings.cacheRoot().resolve(type + "--" + id.replace("/", "--"));
    }

    /** The commit a revision stands for in the cache: itself when it is one, else {@code refs/REVISION}; null when unknown. */
    String cachedCommit(String type, String id, String revision) {
        if (COMMIT.matcher(revision).matches()) return revision;
        Path ref = repoDir(type, id).resolve("refs").resolve(revision);
        try {
            String c = Files.isRegularFile(ref) ? Files.readString(ref).strip() : "";
            return COMMIT.matcher(c).matches() ? c : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** One snapshot being filled: the commit is learnt from the first answer when the revision is a branch or tag. */
    private final class Snapshot {
        final String type, id, revision;
        String commit;

        Snapshot(String type, String id, String revision) {
            this.type = type;
            this.id = id;
            this.revision = revision;
            this.commit = COMMIT.matcher(revision).matches() ? revision : null;
        }

        Path repo() {
            return repoDir(type, id);
        }

        Path dir() {
            return repo().resolve("snapshots").resolve(commit);
        }

        /** {@code {base}/[datasets/]ID/resolve/REVISION/FILE}. */
        URI uri(String file) {
            String base = settings.baseUrl().toString();
            if (base.endsWith("/")) base = base.substring(0, base.length() - 1);
            return URI.create(base + "/" + (type.equals("models") ? "" : type + "/") + id + "/resolve/"
                    + URLEncoder.encode(revision, StandardCharsets.UTF_8).replace("%2F", "/")
                    + "/"
                    + URLEncoder.encode(file, StandardCharsets.UTF_8)
                            .replace("%2F", "/")
                            .replace("+", "%20"));
        }
    }

    /**
     * The snapshot folder of a repo at a revision: from the cache when complete, else downloaded (config, tokenizer
     * files, generation config, then safetensors or, failing that, pytorch_model.bin weights).
     */
    public Path download(String id, String revision) throws IOException {
        String known = cachedCommit("models", id, revision);
        Path repo = repoDir(id);
        if (known != null && complete(repo.resolve("snapshots").resolve(known)))
            return repo.resolve("snapshots").resolve(known);
        if (settings.offline()) throw offline(id, revision, "HF_HUB_OFFLINE is set", null);
        Snapshot s = new Snapshot("models", id, revision);
        try {
            fetch(s, "config.json", true);
            for (String f : TOKENIZER_FILES) fetch(s, f, false);
            fetch(s, "generation_config.json", false);
            if (!fetch(s, Checkpoints.SINGLE, false)) {
                String index = fetch(s, Checkpoints.INDEX, false)
                        ? Checkpoints.INDEX
                        : fetch(s, Checkpoints.TORCH_SINGLE, false)
                                ? null
                                : fetch(s, Checkpoints.TORCH_INDEX, false) ? Checkpoints.TORCH_INDEX : "";
                if ("".equals(index))
                    throw new HubException(id + "@" + revision + ": the repository has none of "
                            + String.join(", ", Checkpoints.PREFERENCE));
                if (index != null) for (String shard : shards(s.dir().resolve(index))) fetch(s, shard, true);
            }
        } catch (java.net.ConnectException
                | java.net.http.HttpConnectTimeoutException
                | java.nio.channels.UnresolvedAddressException e) {
            throw offline(id, revision, "cannot connect to " + settings.baseUrl() + " (" + e + ")", e);
        } catch (IOException e) {
            if (e instanceof HubException) throw e;
            Throwable c = e.getCause();
            if (e.getClass() == IOException.class || c instanceof java.net.ConnectException)
                throw offline(id, revision, "download failed: " + e, e);
            throw e;
        }
        if (!s.commit.equals(revision)) writeAtomically(repo.resolve("refs").resolve(revision), s.commit);
        return s.dir();
    }

    /**
     * One file of a Hub dataset, {@code hf://datasets/ORG/NAME/PATH[@REVISION]} (or {@code ORG/NAME@REVISION/PATH}),
     * from the cache ({@code datasets--ORG--NAME/snapshots/COMMIT/PATH}) or downloaded into it with the same resume and
     * checksum rules as model files.
     */
    public Path datasetFile(String ref) throws IOException {
        String prefix = HUB_PREFIX + "datasets/";
        String[] p = ref.startsWith(prefix) ? ref.substring(prefix.length()).split("/", 3) : new String[0];
        if (p.length < 3 || p[2].isEmpty())
            throw new HubException(ref + ": a Hub dataset file is written " + prefix + "ORG/NAME/PATH[@REVISION]");
        String name = p[1], path = p[2], revision = "main";
        if (name.contains("@")) {
            revision = name.substring(name.indexOf('@') + 1);
            name = name.substring(0, name.indexOf('@'));
        } else if (path.lastIndexOf('@') > path.lastIndexOf('/')) {
            revision = path.substring(path.lastIndexOf('@') + 1);
            path = path.substring(0, path.lastIndexOf('@'));
        }
        String id = p[0] + "/" + name;
        if (!HUB_ID.matcher(id).matches()
                || !REVISION.matcher(revision).matches()
                || revision.contains("..")
                || path.contains("..")
                || path.startsWith("/")
                || path.contains("\\"))
            throw new HubException(ref + ": not a valid dataset reference (" + prefix + "ORG/NAME/PATH[@REVISION])");
        String known = cachedCommit("datasets", id, revision);
        Path repo = repoDir("datasets", id);
        if (known != null
                && Files.isRegularFile(repo.resolve("snapshots").resolve(known).resolve(path)))
            return repo.resolve("snapshots").resolve(known).resolve(path);
        if (settings.offline())
            throw new HubException("cannot download " + ref + ": HF_HUB_OFFLINE is set and " + repo
                    + " has no snapshot of " + revision + " holding " + path);
        Snapshot s = new Snapshot("datasets", id, revision);
        try {
            fetch(s, path, true);
        } catch (java.net.ConnectException
                | java.net.http.HttpConnectTimeoutException
                | java.nio.channels.UnresolvedAddressException e) {
            throw new HubException(
                    "cannot download " + ref + ": cannot connect to " + settings.baseUrl() + " (" + e + ")", e);
        }
        if (!s.commit.equals(revision)) writeAtomically(repo.resolve("refs").resolve(revision), s.commit);
        return s.dir().resolve(path);
    }

    /** config.json plus the first weights format present, with every shard an index names. */
    private static boolean complete(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json"))) return false;
        Path w = Checkpoints.find(dir);
        if (w == null) return false;
        if (!w.getFileName().toString().endsWith(".index.json")) return true;
        try {
            for (String s : shards(w)) if (!Files.isRegularFile(dir.resolve(s))) return false;
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private HubException offline(String id, String revision, String why, Throwable cause) {
        return new HubException(
                "cannot download " + id + "@" + revision + ": " + why + ". Nothing usable is cached under "
                        + repoDir(id) + " (it needs refs/" + revision
                        + " or a commit, and snapshots/COMMIT/ with config.json, the"
                        + " weights (" + String.join(" or ", Checkpoints.PREFERENCE)
                        + " with its shards) and the tokenizer files "
                        + String.join(", ", TOKENIZER_FILES) + "); download it once where the Hub can be reached (also"
                        + " `huggingface-cli download " + id
                        + "` fills the same cache), or pass --model with a local model directory",
                cause);
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

    /**
     * Makes {@code snapshots/COMMIT/file} present: linked to an existing blob, or downloaded into {@code blobs/}
     * (resuming a partial blob). Returns false for a 404 on an optional file.
     */
    private boolean fetch(Snapshot s, String file, boolean required) throws IOException {
        String where = s.id + "@" + s.revision + ": " + file;
        Fetched head = get("HEAD", s.uri(file), 0);
        head.response.body().close();
        int status = head.response.statusCode();
        if (status == 404) {
            if (required) throw new HubException(where + " not found (404 at " + head.uri + ")");
            return false;
        }
        checkStatus(where, head, status);
        if (s.commit == null) s.commit = head.commit != null ? head.commit : s.revision;
        Path target = s.dir().resolve(file);
        if (Files.isRegularFile(target)) return true;
        Path blobs = s.repo().resolve("blobs");
        Files.createDirectories(blobs);
        Path blob = head.etag == null ? null : blobs.resolve(head.etag);
        if (blob == null || !Files.isRegularFile(blob)) {
            String partName = head.etag != null
                    ? head.etag
                    : "download-" + sha256(head.uri.toString().getBytes(StandardCharsets.UTF_8));
            Path part = blobs.resolve(partName + INCOMPLETE);
            download(where, head, part);
            if (blob == null) blob = blobs.resolve(sha256(part));
            moveIntoPlace(part, blob);
        }
        link(target, blob);
        return true;
    }

    private static void checkStatus(String where, Fetched r, int status) throws HubException {
        if (status == 401 || status == 403)
            throw new HubException(where + ": access denied (HTTP " + status + " at " + r.uri
                    + "); gated or private repositories need HF_TOKEN");
        if (status != 200 && status != 206 && status != 416)
            throw new HubException(where + ": HTTP " + status + " from " + r.uri);
    }

    /** Fills {@code part} with the file's bytes, resuming what is there with a Range request, then checks size and sha256. */
    private void download(String where, Fetched head, Path part) throws IOException {
        Long total = head.linkedSize;
        for (int attempt = 0; attempt < 2; attempt++) {
            long have = Files.isRegularFile(part) ? Files.size(part) : 0;
            Fetched r = get("GET", head.uri, have);
            try (InputStream body = r.response.body()) {
                int status = r.response.statusCode();
                checkStatus(where, r, status);
                if (status == 416) { // nothing left to send: the partial file may be whole
                    if (total != null && have == total) break;
                    Files.deleteIfExists(part);
                    continue;
                }
                boolean append = status == 206;
                if (append) {
                    Matcher m = CONTENT_RANGE.matcher(
                            r.response.headers().firstValue("Content-Range").orElse(""));
                    if (!m.matches() || Long.parseLong(m.group(1)) != have)
                        throw new HubException(where + ": server answered the range request from byte " + have
                                + " with Content-Range '"
                                + r.response
                                        .headers()
                                        .firstValue("Content-Range")
                                        .orElse("") + "'");
                    if (total == null && !m.group(3).equals("*")) total = Long.parseLong(m.group(3));
                } else if (total == null) {
                    total = r.response.headers().firstValueAsLong("Content-Length").stream()
                            .boxed()
                            .findFirst()
                            .orElse(null);
                }
                copy(body, part, append);
            }
            break;
        }
        if (!Files.isRegularFile(part)) throw new HubException(where + ": server refused the resume range twice");
        long size = Files.size(part);
        if (total != null && size != total)
            throw new HubException(where + ": download ended at " + size + " of " + total
                    + " bytes; run again to resume from " + part);
        if (head.etag != null && SHA256.matcher(head.etag).matches()) {
            String got = sha256(part);
            if (!got.equals(head.etag)) {
                Files.deleteIfExists(part);
                throw new HubException(where + ": sha256 mismatch: expected " + head.etag + ", got " + got
                        + " (corrupt download deleted; run again)");
            }
        }
    }

    /** {@code target} → relative symlink to {@code blob} as huggingface_hub makes it; a copy where links are refused. */
    private static void link(Path target, Path blob) throws IOException {
        Files.createDirectories(target.getParent());
        Files.deleteIfExists(target); // a dangling link from an interrupted run
        try {
            Files.createSymbolicLink(target, target.getParent().relativize(blob));
        } catch (UnsupportedOperationException | IOException e) {
            Path tmp = target.resolveSibling(target.getFileName() + INCOMPLETE);
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
            moveIntoPlace(tmp, target);
        }
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp");
        try {
            Files.writeString(tmp, text);
            moveIntoPlace(tmp, file);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void moveIntoPlace(Path part, Path target) throws IOException {
        try {
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private record Fetched(URI uri, HttpResponse<InputStream> response, Long linkedSize, String etag, String commit) {}

    /**
     * {@code method} (GET or HEAD) with manual redirects; size, ETag (a 40- or 64-hex blob id) and commit come from the
     * first response that announces them.
     */
    private Fetched get(String method, URI uri, long rangeFrom) throws IOException {
        String hubHost = settings.baseUrl().getHost();
        Long size = null;
        String tag = null, commit = null;
        for (int hop = 0; hop < 10; hop++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri)
                    .method(method, HttpRequest.BodyPublishers.noBody())
                    .header("User-Agent", "gptneo-java/0.1");
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
            if (size == null)
                size = h.firstValue("X-Linked-Size")
                        .map(ModelResolver::parseLong)
                        .orElse(null);
            if (tag == null)
                tag = h.firstValue("X-Linked-Etag")
                        .map(ModelResolver::etag)
                        .filter(ModelResolver::isBlobId)
                        .orElse(null);
            if (commit == null)
                commit = h.firstValue("X-Repo-Commit")
                        .map(String::strip)
                        .filter(c -> COMMIT.matcher(c).matches())
                        .orElse(null);
            int s = resp.statusCode();
            if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) {
                Optional<String> loc = h.firstValue("Location");
                resp.body().close();
                if (loc.isEmpty()) throw new HubException("redirect without Location from " + uri);
                uri = uri.resolve(loc.get());
                continue;
            }
            if (tag == null && (s == 200 || s == 206))
                tag = h.firstValue("ETag")
                        .map(ModelResolver::etag)
                        .filter(ModelResolver::isBlobId)
                        .orElse(null);
            return new Fetched(uri, resp, size, tag, commit);
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

    private static boolean isBlobId(String s) {
        return BLOB_ETAG.matcher(s).matches();
    }

    private static void copy(InputStream in, Path part, boolean append) throws IOException {
        try (FileChannel ch = FileChannel.open(
                part,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) {
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) ch.write(bb);
            }
            ch.force(true);
        }
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
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
        return Map.of(
                "hub",
                settings.baseUrl().toString(),
                "cache",
                settings.cacheRoot().toString(),
                "offline",
                Boolean.toString(settings.offline()),
                "token",
                settings.token() == null ? "none" : "set");
    }
}
