package io.gptneo.cli;

import io.gptneo.lora.MergedExport;
import io.gptneo.train.TrainSetup;
import io.gptneo.weights.SafetensorsConversion;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code ./gptneo convert --model DIR|HUB_ID --out DIR [--dtype bf16|f16|f32]}: safetensors from pytorch_model.bin (read safely). */
@Command(
        name = "convert",
        mixinStandardHelpOptions = true,
        description = {
            "Writes model.safetensors (plus config and tokenizer files) from a model's weights in any format we read,",
            "e.g. pytorch_model.bin or its shards, read without executing any pickle code. A tied lm_head is left out, as save_pretrained does."
        })
public final class ConvertCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR|HUB_ID", description = "Model directory or Hub id.")
    String model;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
    Path out;

    @Option(
            names = "--dtype",
            paramLabel = "bf16|f16|f32",
            description = "Store floating-point tensors as this type (default: keep each tensor's).")
    String dtype;

    @Override
    public Integer call() throws Exception {
        Path dir = TrainSetup.resolveModel(model);
        List<String> names =
                SafetensorsConversion.convert(dir, out, dtype == null ? null : MergedExport.parseDtype(dtype));
        spec.commandLine().getOut().printf("wrote %d tensors to %s%n", names.size(), out.resolve("model.safetensors"));
        return 0;
    }
}
