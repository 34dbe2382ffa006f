package io.gptneo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.weights.GptNeoConfig;
import io.gptneo.weights.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Acceptance tests against the published outputs of the real checkpoints
 * ({@code shared/models/gpt-neo-125M/REAL_WEIGHTS_ORACLES.md}), fp32 on CPU.
 *
 * <p>Convention: the environment variable {@code GPTNEO_REAL_WEIGHTS} names either
 * <ul>
 *   <li>a folder of model folders named like their Hub repos: {@code gpt-neo-125M/}, {@code gpt-neo-1.3B/},
 *       {@code TinyStories-33M/} (each with {@code config.json} and {@code model.safetensors} or a sharded index), or</li>
 *   <li>one model folder (it has a {@code config.json}); it is identified by its shape: hidden 768 / 12 layers =
 *       gpt-neo-125M, hidden 2048 / 24 layers = gpt-neo-1.3B, hidden 768 / 4 layers = TinyStories-33M.</li>
 * </ul>
 * Each test is skipped (JUnit assumption, with the reason) when the variable is unset or its model is absent.
 * Text oracles use the model folder's tokenizer, else {@code shared/tokenizer/gpt2}. The 1.3B model needs about
 * 5.3 GB of native memory: raise {@code -Dorg.bytedeco.javacpp.maxbytes} beyond the build's default 6G if it fails.
 */
class RealWeightsAcceptanceTest {
    static final String ENV = "GPTNEO_REAL_WEIGHTS";

    /** The folder of one real model, or a skipped test saying why. */
    static Path model(String name, int hidden, int layers) {
        String root = System.getenv(ENV);
        assumeTrue(
                root != null && !root.isBlank(),
                ENV + " is not set: real-weights acceptance tests skipped (see class javadoc)");
        Path r = Path.of(root);
        assumeTrue(Files.isDirectory(r), ENV + "=" + root + " is not a directory");
        Path sub = r.resolve(name);
        if (Files.isRegularFile(sub.resolve("config.json"))) return sub;
        if (Files.isRegularFile(r.resolve("config.json"))) {
            try {
                GptNeoConfig c = GptNeoConfig.load(r.resolve("config.json"));
                assumeTrue(
                        c.hiddenSize() == hidden && c.numLayers() == layers,
                        ENV + "=" + root + " holds a model with hidden " + c.hiddenSize() + ", " + c.numLayers()
                                + " layers, not " + name);
                return r;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        assumeTrue(
                false,
                name + " not found: expected " + sub + "/config.json (or " + ENV
                        + " pointing at the model folder itself)");
        return null;
    }

    static Gpt2Tokenizer tokenizer(Path dir) {
        boolean own =
                Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isRegularFile(dir.resolve("vocab.json"));
        return Gpt2Tokenizer.load(own ? dir : SharedData.resolve("tokenizer/gpt2"));
    }

    @Test
    void gptNeo125mLogitsOfItWasASunny() throws IOException {
        GptNeoModel m = GptNeoModel.load(model("gpt-neo-125M", 768, 12), DataType.FLOAT);
        try (var off = GradMode.off()) {
            Tensor logits = m.logits(m.forward(new int[][] {{1026, 373, 257, 27737}}, null, null));
            assertArrayEquals(new long[] {1, 4, 50257}, logits.shape());
            INDArray last = logits.data()
                    .get(
                            org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                            org.nd4j.linalg.indexing.NDArrayIndex.point(3));
            double[] v = last.castTo(DataType.DOUBLE).dup().data().asDouble();
            int arg = Generator.argmax(v);
            assertEquals(1110, arg, "argmax of the last position (\" day\")");
            assertEquals(-0.0279, v[arg], 1e-4, "its logit");
        }
    }

    @Test
    void gptNeo125mLossOfHelloWorld() throws IOException {
        GptNeoModel m = GptNeoModel.load(model("gpt-neo-125M", 768, 12), DataType.FLOAT);
        try (var off = GradMode.off()) {
            assertEquals(
                    4.900552,
                    m.lmLoss(new int[][] {{50256, 15496, 995, 0}}, null).item(),
                    1e-4);
        }
    }

    @Test
    void tinyStories33mLossOfHelloWorld() throws IOException {
        GptNeoModel m = GptNeoModel.load(model("TinyStories-33M", 768, 4), DataType.FLOAT);
        try (var off = GradMode.off()) {
            assertEquals(
                    12.203617,
                    m.lmLoss(new int[][] {{50256, 15496, 995, 0}}, null).item(),
                    1e-4);
        }
    }

    @Test
    void gptNeo13bGreedyTheDog() throws IOException {
        GptNeoModel m = GptNeoModel.load(model("gpt-neo-1.3B", 2048, 24), DataType.FLOAT);
        int[] expected = {
            464, 3290, 12, 3380, 4866, 286, 262, 1492, 11, 543, 318, 257, 4947, 286, 27126, 416, 262, 2739, 1772, 11
        };
        int[] out = new Generator(m)
                .generate(new int[][] {{464, 3290}}, GenerationConfig.greedy(18).withEos(50256, 50256))
                .first();
        int[] all = Arrays.copyOf(new int[] {464, 3290}, 2 + out.length);
        System.arraycopy(out, 0, all, 2, out.length);
        assertArrayEquals(expected, all);
    }

    @Test
    void gptNeo13bLeftPaddedBatchGreedy() throws IOException {
        Path dir = model("gpt-neo-1.3B", 2048, 24);
        batchGreedy(
                dir,
                List.of("Hello, my dog is a little", "Today, I am"),
                List.of(
                        "Hello, my dog is a little bit of a kitty. She is a very sweet and loving",
                        "Today, I am going to talk about the best way to get a job in the"));
    }

    @Test
    void gptNeo125mLeftPaddedBatchGreedy() throws IOException {
        Path dir = model("gpt-neo-125M", 768, 12);
        batchGreedy(
                dir,
                List.of("Hello this is a long string", "Hey"),
                List.of(
                        "Hello this is a long string of text.\n\nI'm trying to get the text of the",
                        "Hey, I'm a little late to the party. I'm going to"));
    }

    /** Left-padded batch (pad = EOS), positions from the mask, greedy to a total (padded) length of 20. */
    static void batchGreedy(Path dir, List<String> prompts, List<String> expected) throws IOException {
        GptNeoModel m = GptNeoModel.load(dir, DataType.FLOAT);
        Gpt2Tokenizer tok = tokenizer(dir);
        int[][] ids = prompts.stream().map(tok::encode).toArray(int[][]::new);
        int padded = Stream.of(ids).mapToInt(a -> a.length).max().orElseThrow();
        int eos = m.config().eosTokenId();
        int[][] out = new Generator(m)
                .generate(ids, GenerationConfig.greedy(20 - padded).withEos(eos, eos))
                .newIds();
        for (int i = 0; i < ids.length; i++) {
            int[] all = Arrays.copyOf(ids[i], ids[i].length + out[i].length);
            System.arraycopy(out[i], 0, all, ids[i].length, out[i].length);
            all = Arrays.stream(all).filter(t -> t != eos).toArray(); // skip_special_tokens
            assertEquals(expected.get(i), tok.decode(all), "row " + i);
        }
    }
}
