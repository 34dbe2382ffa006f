package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Downloads from a local imitation of the Hub (JDK HttpServer on 127.0.0.1): {@code /{org}/{name}/resolve/{rev}/{file}};
 * safetensors files answer 302 to a CDN path with X-Linked-Size / X-Linked-Etag (sha256) like HuggingFace's LFS files,
 * other files answer 200 with a git-style (sha1) ETag; Range requests get 206.
 */
class ModelResolverTest {
    @TempDir
    Path cache;

    HttpServer server;
    final Map<String, Path> repos = new ConcurrentHashMap<>();
    final List<String> requests = new CopyOnWriteArrayList<>();
    final List<String> authHeaders = new CopyOnWriteArrayList<>();
    final AtomicLong bytesSent = new AtomicLong();
    final List<String> revisions = new CopyOnWriteArrayList<>();
    volatile String corrupt; // file name whose served bytes get one byte flipped

    @BeforeEach
    void start() throws IOException {
        repos.put("test-org/tiny", SharedData.resolve("fixtures/gptneo-tiny"));
        repos.put("test-org/tiny-sharded", SharedData.resolve("fixtures/gptneo-tiny-bf16-sharded"));
        repos.put("test-org/tiny-bin", Path.of("src", "test", "resources", "torch", "tiny-bf16-bin"));
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    @AfterEach
    void stop() {
        if (server != null) server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            String range = ex.getRequestHeaders().getFirst("Range");
            boolean head = ex.getRequestMethod().equals("HEAD");
            requests.add((head ? "HEAD " : "") + path + (range == null ? "" : " " + range));
            boolean dataset = path.startsWith("/datasets/");
            String[] p = path.substring(dataset ? "/datasets/".length() : 1).split("/");
            boolean cdn = p[0].equals("cdn");
            if (!cdn) authHeaders.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
            // /{org}/{name}/resolve/{rev}/{file}  or  /cdn/{org}/{name}/{file}
            String repo = (dataset ? "datasets/" : "") + (cdn ? p[1] + "/" + p[2] : p[0] + "/" + p[1]);
            String file = cdn ? p[3] : p.length == 5 && p[2].equals("resolve") ? p[4] : null;
            if (!cdn && p.length == 5) revisions.add(p[3]);
            if (!cdn) ex.getResponseHeaders().add("X-Repo-Commit", commit(repo));
            Path dir = repos.get(repo);
            Path f = dir == null || file == null ? null : dir.resolve(file);
            if (f == null || !Files.isRegularFile(f)) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            byte[] data = Files.readAllBytes(f);
            if (!cdn && (file.endsWith(".safetensors") || file.endsWith(".bin"))) {
                ex.getResponseHeaders().add("X-Linked-Size", Long.toString(data.length));
                ex.getResponseHeaders().add("X-Linked-Etag", "\"" + sha256(data) + "\"");
                ex.getResponseHeaders().add("Location", "/cdn/" + repo + "/" + file);
                ex.sendResponseHeaders(302, -1);
                return;
            }
            if (file.equals(corrupt)) data[data.length / 2] ^= 1;
            if (!cdn) ex.getResponseHeaders().add("ETag", "\"" + sha1(data) + "\"");
            if (head) {
                ex.sendResponseHeaders(200, -1);
                return;
            }
            int from = 0;
            if (range != null && range.startsWith("bytes="))
                from = Integer.parseInt(range.substring(6, range.indexOf('-')));
            if (from >= data.length && from > 0) {
                ex.getResponseHeaders().add("Content-Range", "bytes */" + data.length);
                ex.sendResponseHeaders(416, -1);
                return;
            }
            if (from > 0)
                ex.getResponseHeaders()
                        .add("Content-Range", "bytes " + from + "-" + (data.length - 1) + "/" + data.length);
            ex.sendResponseHeaders(from > 0 ? 206 : 200, data.length - from);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(data, from, data.length - from);
            }
            bytesSent.addAndGet(data.length - from);
        }
    }

    /** The commit a repo's branches and tags point to in this imitation. */
    static String commit(String repo) {
        return sha1(repo.getBytes());
    }

    static String sha1(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    ModelResolver resolver(boolean offline) {
        URI base = URI.create(
                "http://127.0.0.1:" + (server == null ? 1 : server.getAddress().getPort()));
        return new ModelResolver(
                new ModelResolver.Settings(base, cache, "secret-token", offline, Duration.ofSeconds(5)));
    }

    Path snapshot(String repo) {
        return cache.resolve("models--" + repo.replace("/", "--"))
                .resolve("snapshots")
                .resolve(commit(repo));
    }

    @Test
    void freshDownloadLandsInTheHfCacheLayoutThenServedFromIt() throws Exception {
        Path dir = resolver(false).resolve("test-org/tiny");
        Path repo = cache.resolve("models--test-org--tiny");
        assertEquals(snapshot("test-org/tiny"), dir);
        assertEquals(commit("test-org/tiny"), Files.readString(repo.resolve("refs/main")));
        Path src = repos.get("test-org/tiny");
        for (String f : List.of(
                "config.json",
                "vocab.json",
                "merges.txt",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "model.safetensors")) {
            byte[] want = Files.readAllBytes(src.resolve(f));
            assertArrayEquals(want, Files.readAllBytes(dir.resolve(f)), f);
            // as huggingface_hub lays it out: a relative link into blobs/, named by sha256 (LFS) or the git blob id
            assertTrue(Files.isSymbolicLink(dir.resolve(f)), f);
            String blob = f.endsWith(".safetensors") ? sha256(want) : sha1(want);
            assertEquals(Path.of("..", "..", "blobs", blob), Files.readSymbolicLink(dir.resolve(f)), f);
        }
        // optional files the repo lacks (404) are simply absent; no partial files are left behind
        assertFalse(Files.exists(dir.resolve("tokenizer.json")));
        assertFalse(Files.exists(dir.resolve("generation_config.json")));
        try (var s = Files.walk(repo)) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(ModelResolver.INCOMPLETE)));
        }
        assertTrue(requests.contains("/cdn/test-org/tiny/model.safetensors"), requests.toString());
        assertTrue(authHeaders.stream().allMatch("Bearer secret-token"::equals), authHeaders.toString());
        GptNeoWeights w = GptNeoWeights.load(dir);
        assertEquals(GptNeoWeights.load(src).get("wte.weight"), w.get("wte.weight"));
        // second resolve: complete snapshot, no network at all (even with the server gone)
        int before = requests.size();
        ModelResolver again = resolver(false);
        server.stop(0);
        server = null;
        assertEquals(dir, again.resolve("test-org/tiny"));
        assertEquals(before, requests.size());
    }

    /** A cache written by Python (refs, snapshots of links into blobs) is used as is, offline, at a branch, tag or commit. */
    @Test
    void aCacheFilledByPythonIsUsedWithoutNetwork() throws Exception {
        server.stop(0);
        server = null;
        Path repo = cache.resolve("models--EleutherAI--gpt-neo-tiny");
        String commit = "0123456789abcdef0123456789abcdef01234567";
        Path snap = Files.createDirectories(repo.resolve("snapshots").resolve(commit));
        Files.createDirectories(repo.resolve("blobs"));
        Path src = SharedData.resolve("fixtures/gptneo-tiny");
        for (String f : List.of("config.json", "vocab.json", "merges.txt", "model.safetensors")) {
            byte[] b = Files.readAllBytes(src.resolve(f));
            String blob = sha256(b);
            Files.write(repo.resolve("blobs").resolve(blob), b);
            Files.createSymbolicLink(snap.resolve(f), Path.of("..", "..", "blobs", blob));
        }
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), commit);
        Files.writeString(repo.resolve("refs/v1.0"), commit + "\n");
        for (ModelResolver r : List.of(resolver(true), resolver(false))) {
            assertEquals(snap, r.resolve("EleutherAI/gpt-neo-tiny"));
            assertEquals(snap, r.resolve("EleutherAI/gpt-neo-tiny", "v1.0"));
            assertEquals(snap, r.resolve("EleutherAI/gpt-neo-tiny@" + commit));
            assertEquals(snap, r.resolve(ModelResolver.HUB_PREFIX + "EleutherAI/gpt-neo-tiny", commit));
        }
        assertEquals(
                GptNeoWeights.load(src).get("h.2.mlp.c_fc.weight"),
                GptNeoWeights.load(snap).get("h.2.mlp.c_fc.weight"));
        var unknown = assertThrows(HubException.class, () -> resolver(true).resolve("EleutherAI/gpt-neo-tiny", "v2"));
        assertTrue(
                unknown.getMessage().contains("HF_HUB_OFFLINE")
                        && unknown.getMessage().contains("refs/v2"),
                unknown.getMessage());
    }

    @Test
    void revisionSelectsTheSnapshotAndIsRecordedInRefs() throws Exception {
        Path dir = resolver(false).resolve("test-org/tiny", "v1");
        assertEquals(snapshot("test-org/tiny"), dir);
        assertTrue(revisions.stream().allMatch("v1"::equals), revisions.toString());
        assertEquals(commit("test-org/tiny"), Files.readString(cache.resolve("models--test-org--tiny/refs/v1")));
        assertFalse(Files.exists(cache.resolve("models--test-org--tiny/refs/main")));
        var clash = assertThrows(HubException.class, () -> resolver(false).resolve("test-org/tiny@main", "v1"));
        assertTrue(clash.getMessage().contains("--revision"), clash.getMessage());
    }

    @Test
    void shardedRepoDownloadsIndexAndEveryShard() throws Exception {
        Path dir = resolver(false).resolve("test-org/tiny-sharded@main");
        for (String f : List.of(
                "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"))
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        assertTrue(
                requests.contains("HEAD /test-org/tiny-sharded/resolve/main/model.safetensors"),
                "tries the single file first");
        try (TensorSource src = Checkpoints.open(dir)) {
            assertEquals(
                    56,
                    GptNeoWeights.plan(src, GptNeoConfig.load(dir.resolve("config.json")), "x")
                            .size());
        }
    }

    @Test
    void aRepoWithOnlyPytorchBinShardsDownloadsAndLoads() throws Exception {
        Path dir = resolver(false).resolve("test-org/tiny-bin");
        for (String f : List.of(
                Checkpoints.TORCH_INDEX, "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"))
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        assertEquals(
                GptNeoWeights.load(repos.get("test-org/tiny-bin")).get("wte.weight"),
                GptNeoWeights.load(dir).get("wte.weight"));
    }

    @Test
    void resumesAPartialBlobWithARangeRequest() throws Exception {
        Path src = repos.get("test-org/tiny").resolve("model.safetensors");
        byte[] all = Files.readAllBytes(src);
        Path blobs = Files.createDirectories(cache.resolve("models--test-org--tiny/blobs"));
        int have = 1_000_000;
        Files.write(blobs.resolve(sha256(all) + ModelResolver.INCOMPLETE), java.util.Arrays.copyOf(all, have));
        Path dir = resolver(false).resolve("test-org/tiny");
        assertArrayEquals(all, Files.readAllBytes(dir.resolve("model.safetensors")));
        assertTrue(requests.contains("/cdn/test-org/tiny/model.safetensors bytes=" + have + "-"), requests.toString());
        long small = 0;
        for (String f :
                List.of("config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"))
            small += Files.size(dir.resolve(f));
        assertEquals(small + all.length - have, bytesSent.get(), "only the missing bytes of the weights were sent");
    }

    @Test
    void corruptContentFailsTheSha256Check() throws Exception {
        corrupt = "model.safetensors";
        HubException e = assertThrows(HubException.class, () -> resolver(false).resolve("test-org/tiny"));
        assertTrue(
                e.getMessage().contains("sha256 mismatch") && e.getMessage().contains("model.safetensors"),
                e.getMessage());
        assertFalse(Files.exists(snapshot("test-org/tiny").resolve("model.safetensors")));
        try (var s = Files.list(cache.resolve("models--test-org--tiny/blobs"))) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(ModelResolver.INCOMPLETE)), "corrupt partial deleted");
        }
        corrupt = null; // a retry after the fault is gone succeeds
        assertTrue(Files.isRegularFile(resolver(false).resolve("test-org/tiny").resolve("model.safetensors")));
    }

    @Test
    void missingRepoAndRequiredFile() {
        HubException e = assertThrows(HubException.class, () -> resolver(false).resolve("test-org/nope"));
        assertTrue(e.getMessage().contains("config.json not found"), e.getMessage());
        HubException bad =
                assertThrows(HubException.class, () -> resolver(false).resolve("not a model!"));
        assertTrue(bad.getMessage().contains("not a directory and not a Hub id"), bad.getMessage());
    }

    @Test
    void serverDownOrOfflineFailsAtOnceNamingFilesAndDirectory() {
        server.stop(0);
        server = null;
        long t0 = System.nanoTime();
        HubException e = assertThrows(HubException.class, () -> new ModelResolver(new ModelResolver.Settings(
                        URI.create("http://127.0.0.1:" + freePort()), cache, null, false, Duration.ofSeconds(5)))
                .resolve("test-org/tiny"));
        assertTrue((System.nanoTime() - t0) < 10_000_000_000L, "fails fast");
        Path dir = cache.resolve("models--test-org--tiny");
        for (String s : List.of(
                "cannot connect", "config.json", "model.safetensors", "vocab.json", dir.toString(), "refs/main"))
            assertTrue(e.getMessage().contains(s), e.getMessage() + "\n  should contain " + s);
        HubException off = assertThrows(HubException.class, () -> new ModelResolver(new ModelResolver.Settings(
                        URI.create("http://127.0.0.1:1"), cache, null, true, Duration.ofSeconds(5)))
                .resolve("test-org/tiny"));
        assertTrue(
                off.getMessage().contains("HF_HUB_OFFLINE") && off.getMessage().contains(dir.toString()),
                off.getMessage());
    }

    @Test
    void localDirectoryIsUsedAsIs() throws Exception {
        Path tiny = SharedData.resolve("fixtures/gptneo-tiny");
        assertEquals(tiny, resolver(true).resolve(tiny.toString()));
        assertTrue(requests.isEmpty());
    }

    /** Issue 17 item 9: a mistyped local path is never sent to the Hub; a Hub id that fails says how it was taken. */
    @Test
    void valuesThatLookLikePathsNeverReachTheHub(@TempDir Path tmp) throws Exception {
        Map<String, String> cases = Map.of(
                tmp.resolve("missing").toString(),
                "is an absolute path",
                "./ok",
                "starts with '.'",
                "~/no-such-model-dir",
                "starts with '~'",
                "models/tiny/extra",
                "more than the one '/'",
                "src/no-such-model",
                "inside the existing folder src",
                "pom.xml",
                "names an existing file",
                "a\\b",
                "contains a path separator");
        for (var c : cases.entrySet()) {
            HubException e =
                    assertThrows(HubException.class, () -> resolver(false).resolve(c.getKey()), c.getKey());
            assertTrue(
                    e.getMessage().contains(c.getValue()) && e.getMessage().contains("never sent to the Hub"),
                    e.getMessage());
        }
        assertTrue(requests.isEmpty(), requests.toString());
        // a bare name is a Hub id (e.g. gpt2); when it fails the message says so and how to force either reading
        HubException ok = assertThrows(HubException.class, () -> resolver(true).resolve("ok"));
        assertTrue(
                ok.getMessage().contains("'ok' was taken as a Hub repository id")
                        && ok.getMessage().contains("./ok")
                        && ok.getMessage().contains("hf://ok"),
                ok.getMessage());
        HubException gone =
                assertThrows(HubException.class, () -> resolver(false).resolve("test-org/absent"));
        assertTrue(
                gone.getMessage().contains("404") && gone.getMessage().contains("taken as a Hub repository id"),
                gone.getMessage());
        // hf:// forces the Hub even where a same-named local folder's parent exists
        Path forced = resolver(false).resolve(ModelResolver.HUB_PREFIX + "test-org/tiny");
        assertEquals(snapshot("test-org/tiny"), forced);
    }

    @Test
    void hubDatasetFilesLandInTheDatasetsCache(@TempDir Path repoDir) throws Exception {
        byte[] data = "{\"prompt\":\"p\"}\n".repeat(1000).getBytes();
        Files.write(repoDir.resolve("train.jsonl.gz"), data);
        repos.put("datasets/test-org/safe", repoDir);
        Path f = resolver(false).datasetFile("hf://datasets/test-org/safe/train.jsonl.gz");
        Path repo = cache.resolve("datasets--test-org--safe");
        assertEquals(
                repo.resolve("snapshots")
                        .resolve(commit("datasets/test-org/safe"))
                        .resolve("train.jsonl.gz"),
                f);
        assertArrayEquals(data, Files.readAllBytes(f));
        assertEquals(commit("datasets/test-org/safe"), Files.readString(repo.resolve("refs/main")));
        assertTrue(requests.contains("HEAD /datasets/test-org/safe/resolve/main/train.jsonl.gz"), requests.toString());
        assertEquals(f, resolver(false).datasetFile("hf://datasets/test-org/safe/train.jsonl.gz@v2"));
        assertTrue(revisions.contains("v2"), revisions.toString());
        int before = requests.size();
        assertEquals(
                f,
                resolver(true).datasetFile("hf://datasets/test-org/safe@v2/train.jsonl.gz")); // cached: offline is fine
        assertEquals(before, requests.size());
        var off = assertThrows(
                HubException.class, () -> resolver(true).datasetFile("hf://datasets/test-org/safe/other.jsonl"));
        assertTrue(
                off.getMessage().contains("HF_HUB_OFFLINE") && off.getMessage().contains("other.jsonl"),
                off.getMessage());
        var missing = assertThrows(
                HubException.class, () -> resolver(false).datasetFile("hf://datasets/test-org/safe/absent.jsonl"));
        assertTrue(missing.getMessage().contains("absent.jsonl not found"), missing.getMessage());
        for (String bad : List.of("hf://datasets/test-org", "hf://datasets/a/b/../../x", "hf://models/a/b/c"))
            assertThrows(HubException.class, () -> resolver(false).datasetFile(bad), bad);
    }

    static int freePort() throws IOException {
        try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }
}
