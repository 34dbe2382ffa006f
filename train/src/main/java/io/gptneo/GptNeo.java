package io.gptneo;

import io.gptneo.model.GenerationConfig;
import io.gptneo.model.Generator;
import io.gptneo.model.GptNeoModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.TrainSetup;
import io.gptneo.weights.GptNeoConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Properties;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A GPT-Neo causal language model with its tokenizer: next-token logits and text generation, string or token ids in
 * and out.
 *
 * <pre>{@code
 * try (GptNeo lm = GptNeo.load("EleutherAI/gpt-neo-125M")) {     // or a model folder: GptNeo.load(Path.of(...))
 *     String text = lm.generate("The capital of France is", 20);   // greedy, stops at <|endoftext|>
 * }
 * }</pre>
 *
 * <p>Weights are float32. <b>Thread safety:</b> every method may be called from any number of threads; the forward
 * passes of concurrent calls run one at a time (an internal lock), each using all cores through OpenBLAS, and every
 * call records no autodiff tape. {@link #model()} exposes the low-level model, which is not guarded by that lock.
 */
public final class GptNeo implements AutoCloseable {
    private final GptNeoModel model;
    private final Gpt2Tokenizer tokenizer;
    private final Object lock = new Object();
    private volatile boolean closed;

    private GptNeo(GptNeoModel model, Gpt2Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /**
     * Loads a model folder ({@code config.json}, {@code model.safetensors} or shards, a tokenizer) or a Hugging Face
     * Hub id ({@code org/name[@revision]}, from the local cache or downloaded; see {@code ModelResolver}).
     *
     * @throws IOException when a file cannot be read or is malformed, or the Hub id cannot be resolved
     */
    public static GptNeo load(String folderOrHubId) throws IOException {
        return load(TrainSetup.resolveModel(folderOrHubId));
    }

    /**
     * Loads a model folder. Its tokenizer ({@code tokenizer.json}, or {@code vocab.json} + {@code merges.txt}) is
     * used when present, else the GPT-2 tokenizer of the shared data folder (GPT-Neo uses exactly that one).
     *
     * @throws IOException when a file cannot be read or is malformed
     */
    public static GptNeo load(Path folder) throws IOException {
        return new GptNeo(GptNeoModel.load(folder, DataType.FLOAT), TrainSetup.tokenizer(folder));
    }

    /** Wraps a model built in code (e.g. {@link GptNeoModel#random}) and a tokenizer. */
    public static GptNeo of(GptNeoModel model, Gpt2Tokenizer tokenizer) {
        return new GptNeo(model, tokenizer);
    }

    /** The version of the gptneo artifacts, e.g. {@code 0.1.0}. */
    public static String version() {
        try (InputStream in = GptNeo.class.getResourceAsStream("version.properties")) {
            Properties p = new Properties();
            if (in != null) p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Token ids of a text (no special tokens added). */
    public int[] encode(String text) {
        return tokenizer.encode(text);
    }

    /** The text of token ids. */
    public String decode(int[] ids) {
        return tokenizer.decode(ids);
    }

    /** Logits over the vocabulary for the token after {@code text}; {@code [vocab_size]}. */
    public float[] nextTokenLogits(String text) {
        return nextTokenLogits(encode(text));
    }

    /**
     * Logits over the vocabulary for the token after {@code ids}; {@code [vocab_size]}.
     *
     * @throws GptNeoException when {@code ids} is empty, longer than {@code max_position_embeddings}, or holds an id
     *                         outside the vocabulary
     */
    public float[] nextTokenLogits(int[] ids) {
        checkIds(ids, 0);
        synchronized (lock) {
            ensureOpen();
            try (var off = GradMode.off()) {
                return model.lastLogits(model.forward(new int[][] {ids}, null, null))
                        .data()
                        .castTo(DataType.FLOAT)
                        .toFloatVector();
            }
        }
    }

    /** Greedy generation of at most {@code maxNewTokens} after {@code prompt}, stopping at the end-of-text token. */
    public String generate(String prompt, int maxNewTokens) {
        int eos = model.config().eosTokenId();
        return generate(prompt, GenerationConfig.greedy(maxNewTokens).withEos(eos, eos));
    }

    /**
     * The text generated after {@code prompt} with {@code config} (greedy or seeded sampling; see
     * {@link GenerationConfig}); a final end-of-text token is not part of the returned text.
     */
    public String generate(String prompt, GenerationConfig config) {
        int[] out = generate(encode(prompt), config);
        if (out.length > 0 && out[out.length - 1] == config.eosTokenId()) out = Arrays.copyOf(out, out.length - 1);
        return decode(out);
    }

    /**
     * The new token ids generated after {@code ids} (up to and including the EOS token when a row stops there).
     *
     * @throws GptNeoException when {@code ids} is empty, holds an id outside the vocabulary, or prompt plus new tokens
     *                         would need more positions than {@code max_position_embeddings}
     */
    public int[] generate(int[] ids, GenerationConfig config) {
        checkIds(ids, Math.max(0, config.maxNewTokens() - 1)); // the last new token is never fed back
        synchronized (lock) {
            ensureOpen();
            return new Generator(model).generate(new int[][] {ids}, config).first();
        }
    }

    /** The model's settings ({@code config.json}). */
    public GptNeoConfig config() {
        return model.config();
    }

    /** The tokenizer. Thread-safe. */
    public Gpt2Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The low-level model (autodiff forward, LoRA injection, training); not guarded by this object's lock. */
    public GptNeoModel model() {
        return model;
    }

    /** Marks this model closed; later calls throw {@link IllegalStateException}. Memory goes with the garbage collector. */
    @Override
    public void close() {
        closed = true;
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("this GptNeo is closed");
    }

    private void checkIds(int[] ids, int extraPositions) {
        GptNeoConfig c = model.config();
        if (ids.length == 0) throw new GptNeoException("the prompt has no tokens");
        if (ids.length + extraPositions > c.maxPositionEmbeddings()) {
            throw new GptNeoException("the prompt's " + ids.length + " tokens"
                    + (extraPositions > 0 ? " + " + extraPositions + " generated tokens fed back" : "")
                    + " exceed the model's max_position_embeddings " + c.maxPositionEmbeddings());
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= c.vocabSize()) {
                throw new GptNeoException("token id " + ids[i] + " at index " + i + " is outside the vocabulary [0, "
                        + c.vocabSize() + ") (vocab_size)");
            }
        }
    }
}
