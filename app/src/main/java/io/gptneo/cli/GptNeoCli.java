package io.gptneo.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of {@code ./gptneo}. Subcommand names and flags are a public contract: scripts call them.
 * {@code ./gptneo bench ...} is dispatched by the launcher to the bench module.
 */
@Command(
        name = "gptneo",
        mixinStandardHelpOptions = true,
        versionProvider = GptNeoCli.Version.class,
        description =
                "GPT-Neo in pure Java: inspect, tokenize, forward and generate with a model; train, evaluate, classify with and serve a safety cost model.",
        footer = {
            "",
            "Benchmarks: ./gptneo bench (attention | train-step | forward | gemm | tokenizer | serve) [--help]"
        })
public final class GptNeoCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new GptNeoCli());
        // Subcommands are registered here, one line each.
        cl.addSubcommand(new TokenizeCommand());
        cl.addSubcommand(new InspectCommand());
        cl.addSubcommand(new ForwardCommand());
        cl.addSubcommand(new GenerateCommand());
        cl.addSubcommand(new TrainCommand());
        cl.addSubcommand(new EvalCommand());
        cl.addSubcommand(new ClassifyCommand());
        cl.addSubcommand(new PipelineCommand());
        cl.addSubcommand(new ServeCommand());
        cl.addSubcommand(new ConvertCommand());
        cl.addSubcommand(new ExportCommand());
        RevisionOption.addTo(cl);
        cl.setExecutionExceptionHandler((ex, line, parseResult) -> {
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            line.getErr()
                    .println("gptneo "
                            + (parseResult.subcommand() == null
                                    ? ""
                                    : parseResult.subcommand().commandSpec().name()) + ": error: " + msg);
            if (System.getenv("GPTNEO_DEBUG") != null) ex.printStackTrace(line.getErr());
            return 1;
        });
        return cl;
    }

    /** {@code -V}: the version the build wrote into the core jar, so it always matches the artifacts. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws java.io.IOException {
            var p = new java.util.Properties();
            try (var in = GptNeoCli.class.getResourceAsStream("/io/gptneo/version.properties")) {
                if (in == null) throw new java.io.IOException("io/gptneo/version.properties is not on the class path");
                p.load(in);
            }
            return new String[] {"gptneo-java " + p.getProperty("version")};
        }
    }

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        System.exit(code);
    }
}
