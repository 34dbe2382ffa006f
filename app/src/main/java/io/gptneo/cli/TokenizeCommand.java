package io.gptneo.cli;

import io.gptneo.tokenizer.Gpt2Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code ./gptneo tokenize --tokenizer DIR (--text T | --file F)... [--allow-special]}: one line of ids per input. */
@Command(
        name = "tokenize",
        mixinStandardHelpOptions = true,
        description = {
            "Prints the GPT-2 BPE token ids of each input, separated by spaces, one line per input "
                    + "(in the order given). A --file is read as UTF-8 and its whole content is one text."
        })
public final class TokenizeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(
            names = "--tokenizer",
            required = true,
            paramLabel = "DIR",
            description = "Folder with tokenizer.json, or vocab.json + merges.txt.")
    Path tokenizerDir;

    @ArgGroup(exclusive = true, multiplicity = "1..*")
    List<Input> inputs;

    static final class Input {
        @Option(names = "--text", required = true, paramLabel = "T", description = "A text to encode.")
        String text;

        @Option(
                names = "--file",
                required = true,
                paramLabel = "F",
                description = "A UTF-8 file whose content is one text.")
        Path file;
    }

    @Option(
            names = "--allow-special",
            description =
                    "Encode special tokens written in the text (<|endoftext|>) as their ids; by default they are plain text.")
    boolean allowSpecial;

    @Override
    public Integer call() throws IOException {
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(tokenizerDir);
        PrintWriter out = spec.commandLine().getOut();
        for (Input in : inputs) {
            int[] ids = tok.encode(in.text != null ? in.text : read(in.file), allowSpecial);
            out.println(IntStream.of(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        }
        out.flush();
        return 0;
    }

    private static String read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("file not found: " + file);
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("file is not valid UTF-8: " + file, e);
        }
    }
}
