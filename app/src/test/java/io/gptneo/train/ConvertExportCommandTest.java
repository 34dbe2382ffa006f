package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.cli.GptNeoCli;
import io.gptneo.model.CostModel;
import io.gptneo.weights.GptNeoWeights;
import io.gptneo.weights.ModelResolver;
import io.gptneo.weights.SafeTensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine;

/** {@code convert}, {@code export} and the {@code --revision} option every --model command gets. */
class ConvertExportCommandTest {
    @TempDir
    Path dir;

    @Test
    void convertTurnsPytorchBinIntoSafetensors() throws Exception {
        Path bin = Path.of("..", "weights", "src", "test", "resources", "torch", "tiny-bf16-bin");
        Path out = dir.resolve("converted");
        var r = EvalClassifyCommandTest.cli("convert", "--model", bin.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors"))
                && Files.isRegularFile(out.resolve("config.json")));
        assertEquals(
                GptNeoWeights.load(bin).get("h.3.mlp.c_proj.weight"),
                GptNeoWeights.load(out).get("h.3.mlp.c_proj.weight"));
    }

    @Test
    void exportWritesAMergedFolderThatScoresLikeBasePlusAdapter() throws Exception {
        Path out = dir.resolve("merged");
        var r = EvalClassifyCommandTest.cli(
                "export",
                "--model",
                EvalClassifyCommandTest.model(),
                "--adapter",
                EvalClassifyCommandTest.adapter(),
                "--out",
                out.toString(),
                "--dtype",
                "bf16");
        assertEquals(0, r.code(), r.err());
        try (SafeTensorsFile st = SafeTensorsFile.open(out.resolve("model.safetensors"))) {
            assertEquals(io.gptneo.weights.Dtype.BF16, st.info("score.weight").dtype());
        }
        assertEquals(1, CostModel.load(out, DataType.FLOAT).head().numLabels());
        var again = EvalClassifyCommandTest.cli(
                "export",
                "--model",
                EvalClassifyCommandTest.model(),
                "--adapter",
                EvalClassifyCommandTest.adapter(),
                "--out",
                out.toString());
        assertNotEquals(0, again.code());
        assertTrue(again.err().contains("not empty"), again.err());
        var bad = EvalClassifyCommandTest.cli(
                "export",
                "--model",
                EvalClassifyCommandTest.model(),
                "--adapter",
                EvalClassifyCommandTest.adapter(),
                "--out",
                dir.resolve("x").toString(),
                "--dtype",
                "int8");
        assertTrue(bad.code() != 0 && bad.err().contains("--dtype int8"), bad.err());
    }

    @Test
    void everyCommandWithModelTakesRevision() {
        CommandLine cl = GptNeoCli.commandLine();
        int n = 0;
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getCommandSpec().findOption("--model") == null) continue;
            assertNotNull(sub.getCommandSpec().findOption("--revision"), sub.getCommandName());
            n++;
        }
        assertTrue(n >= 8, "commands with --model: " + n);
        try {
            cl.parseArgs("inspect", "--model", "some/model", "--revision", "v1.0");
            assertEquals("v1.0", System.getProperty(ModelResolver.REVISION_PROPERTY));
        } finally {
            System.clearProperty(ModelResolver.REVISION_PROPERTY);
        }
    }
}
