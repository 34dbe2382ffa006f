package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.cli.ServeCommand;
import io.gptneo.weights.SharedData;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Issue 17 item 10: bad serve options name the option and the value, before any model is loaded. */
class ServeOptionsTest {
    static String startError(String... extra) {
        ServeCommand cmd = new ServeCommand();
        String[] args = new String[extra.length + 2];
        args[0] = "--model";
        args[1] = SharedData.resolve("fixtures/gptneo-tiny").toString();
        System.arraycopy(extra, 0, args, 2, extra.length);
        new CommandLine(cmd).parseArgs(args);
        return assertThrows(IllegalArgumentException.class, cmd::start).getMessage();
    }

    @Test
    void badNumbersNameTheirOption() {
        assertEquals("--threads must be >= 1, got 0", startError("--threads", "0"));
        assertEquals("--max-body-bytes must be positive, got -1", startError("--max-body-bytes", "-1"));
        assertEquals("--queue-capacity must be positive, got 0", startError("--queue-capacity", "0"));
        assertEquals("--port must be in 0..65535, got 70000", startError("--port", "70000"));
        assertTrue(startError("--token-file", "/nonexistent/token").contains("--token-file: not found"));
    }
}
