package io.gptneo.cli;

import io.gptneo.model.GenerationConfig;
import io.gptneo.model.Generator;
import io.gptneo.model.GptNeoModel;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./gptneo generate --model DIR (--ids "..." | --text "...") [--max-new-tokens N] [--temperature T --top-k K
 * --top-p P --seed S] [--tokenizer DIR]}: new ids on the first line, decoded text on the second when a tokenizer is
 * available.
 */
@Command(
        name = "generate",
        mixinStandardHelpOptions = true,
        description = {
            "Generates tokens after a prompt with a KV cache (float32).",
            "Greedy by default; any of --temperature, --top-k, --top-p, --seed switches to seeded sampling (temperature, then top-k, then top-p, as HF).",
            "Stops at the config's eos_token_id or after --max-new-tokens.",
            "Prints the new ids (space-separated) and, when the model folder or --tokenizer has a tokenizer, the decoded new text."
        })
public final class GenerateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(
                names = "--ids",
                required = true,
                paramLabel = "\"i1 i2 ...\"",
                description = "The prompt as token ids, separated by spaces or commas.")
        String ids;

        @Option(
                names = "--text",
                required = true,
                paramLabel = "TEXT",
                description = "The prompt as text (needs a tokenizer).")
        String text;
    }

    @Option(
            names = "--max-new-tokens",
            defaultValue = "20",
            paramLabel = "N",
            description = "Generate at most N new tokens (default ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", description = "Divide the logits by T (> 0) before sampling.")
    Double temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample among the K most likely tokens only (0 = all).")
    Integer topK;

    @Option(
            names = "--top-p",
            paramLabel = "P",
            description =
                    "Sample among the smallest set of tokens whose probability mass reaches P (nucleus sampling).")
    Double topP;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the sampling draws (default 0).")
    Long seed;

    @Option(
            names = "--tokenizer",
            paramLabel = "DIR",
            description =
                    "Tokenizer folder (tokenizer.json or vocab.json + merges.txt); default: the model folder if it has one.")
    Path tokenizerDir;

    @Override
    public Integer call() throws Exception {
        Path dir = model.resolve();
        Gpt2Tokenizer tok = tokenizer(tokenizerDir != null ? tokenizerDir : dir, tokenizerDir != null);
        int[] ids;
        if (prompt.ids != null) {
            ids = ForwardCommand.parseIds(prompt.ids);
        } else {
            if (tok == null)
                throw new IllegalArgumentException(
                        "--text needs a tokenizer: " + dir + " has none; pass --tokenizer DIR");
            ids = tok.encode(prompt.text);
            if (ids.length == 0) throw new IllegalArgumentException("--text encodes to no tokens");
        }
        GptNeoModel m = GptNeoModel.load(dir, DataType.FLOAT);
        int eos = m.config().eosTokenId();
        GenerationConfig cfg = GenerationConfig.greedy(maxNewTokens).withEos(eos, eos);
        if (temperature != null || topK != null || topP != null || seed != null) {
            cfg = cfg.sampling(
                    temperature == null ? 1.0 : temperature,
                    topK == null ? 0 : topK,
                    topP == null ? 1.0 : topP,
                    seed == null ? 0 : seed);
        }
        int[] out = new Generator(m).generate(new int[][] {ids}, cfg).first();
        PrintWriter pw = spec.commandLine().getOut();
        pw.println(IntStream.of(out).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        if (tok != null) pw.println(tok.decode(out));
        pw.flush();
        return 0;
    }

    /** The tokenizer of a folder, or null when it has none (an explicit --tokenizer must have one). */
    private static Gpt2Tokenizer tokenizer(Path dir, boolean required) {
        boolean present = Files.isRegularFile(dir.resolve("tokenizer.json"))
                || (Files.isRegularFile(dir.resolve("vocab.json")) && Files.isRegularFile(dir.resolve("merges.txt")));
        if (!present) {
            if (required)
                throw new IllegalArgumentException(
                        "--tokenizer " + dir + ": no tokenizer.json or vocab.json + merges.txt");
            return null;
        }
        return Gpt2Tokenizer.load(dir);
    }
}
