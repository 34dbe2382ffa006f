package io.gptneo.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.TrainConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code --length-buckets/--no-length-buckets} on train and pipeline reach the setting; unset keeps the default. */
class LengthBucketsFlagTest {

    private static boolean trainSetting(String... args) {
        TrainCommand cmd = new TrainCommand();
        new CommandLine(cmd).parseArgs(args);
        return new TrainConfig().applyFlags(cmd.options).lengthBuckets;
    }

    private static boolean pipelineSetting(String... args) {
        PipelineCommand cmd = new PipelineCommand();
        new CommandLine(cmd).parseArgs(args);
        return new TrainConfig().applyFlags(cmd.options).lengthBuckets;
    }

    @Test
    void flagsSetTheTrainingSetting() {
        assertFalse(trainSetting(), "off by default");
        assertFalse(trainSetting("--no-length-buckets"));
        assertTrue(trainSetting("--length-buckets"));
        assertFalse(pipelineSetting("--no-length-buckets"));
        assertFalse(pipelineSetting());
        assertTrue(pipelineSetting("--length-buckets"));
        TrainConfig c = new TrainConfig();
        c.lengthBuckets = true;
        assertTrue(c.copy().lengthBuckets, "recorded in the config JSON (train_config.json, checkpoints)");
        assertEquals(true, c.toJson().get("length-buckets").booleanValue());
    }
}
