package io.gptneo.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.model.GptNeoModel;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.CostInputs;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.data.Splits;
import io.gptneo.train.pretrain.LmPretrainer;
import io.gptneo.weights.SafeTensorsWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The pipeline's causal-LM pretraining stage: the training side's distinct prompts and its responses (both files), never
 * validation or test text; the validation side's text is scored before and after as a diagnostic only. Writes the
 * pretrained body to {@code dir} (a plain GPT-Neo folder that {@code --init} accepts) and returns what it did.
 */
final class Pretraining {
    private Pretraining() {}

    static ObjectNode run(
            GptNeoModel model,
            Gpt2Tokenizer tok,
            Splits.Split<QaExample> qa,
            Splits.Split<PairExample> pairs,
            LmPretrainer.Options o,
            Path dir,
            boolean progress,
            PrintStream log)
            throws IOException {
        long t0 = System.nanoTime();
        List<int[]> train = documents(tok, qa.train(), pairs == null ? List.of() : pairs.train());
        List<int[]> held = documents(tok, qa.validation(), pairs == null ? List.of() : pairs.validation());
        LmPretrainer.Result r =
                LmPretrainer.run(model, train, held, CostInputs.EOS, o, Progress.training("pretrain", progress, log));
        Files.createDirectories(dir);
        Map<String, INDArray> w = new LinkedHashMap<>();
        model.parameters().forEach((k, v) -> w.put(k, v.data()));
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), w, Map.of("format", "pt"));
        model.config().save(dir.resolve("config.json"));
        double secs = (System.nanoTime() - t0) / 1e9;
        log.printf(
                "pipeline: pretrained %d steps (%,d tokens in %d-id rows; %d packed rows, softmax over %d ids covering "
                        + "%.1f%% of targets): validation-text LM loss %.3f -> %.3f, %.0f s%n",
                r.steps(),
                r.tokens(),
                o.rowLength(),
                r.rows(),
                r.vocab(),
                100 * r.coverage(),
                r.heldOutBefore(),
                r.heldOutAfter(),
                secs);
        ObjectNode n = new ObjectMapper().createObjectNode();
        n.put(
                "text",
                "training side only: distinct prompts and responses of both files, EOS between, shuffled by seed");
        n.put("steps", r.steps());
        n.put("batch_rows", o.batchRows());
        n.put("row_length", o.rowLength());
        n.put("tokens", r.tokens());
        n.put("packed_rows", r.rows());
        n.put("documents", train.size());
        n.put("softmax_ids", r.vocab());
        n.put("target_coverage", r.coverage());
        n.put("lr", o.lr());
        n.put("warmup_steps", o.warmupSteps());
        n.put("last_loss", r.lastLoss());
        n.put("validation_text_loss_before", r.heldOutBefore());
        n.put("validation_text_loss_after", r.heldOutAfter());
        n.put("seconds", secs);
        n.put("checkpoint", dir.toString());
        return n;
    }

    /** Distinct prompts (first appearance order), then every response, each tokenized alone. */
    static List<int[]> documents(Gpt2Tokenizer tok, List<QaExample> qa, List<PairExample> pairs) {
        Set<String> prompts = new LinkedHashSet<>();
        List<String> responses = new ArrayList<>();
        for (QaExample q : qa) {
            prompts.add(q.prompt());
            responses.add(q.response());
        }
        for (PairExample p : pairs) {
            prompts.add(p.prompt());
            responses.add(p.response(0));
            responses.add(p.response(1));
        }
        List<int[]> docs = new ArrayList<>();
        for (String s : prompts) docs.add(tok.encode(s));
        for (String s : responses) docs.add(tok.encode(s));
        return docs;
    }
}
