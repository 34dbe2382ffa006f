package io.gptneo.cli;

import io.gptneo.weights.ModelResolver;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * {@code --revision REV} (branch, tag or commit of a Hub id), added to every subcommand that has {@code --model}.
 * The value goes to {@link ModelResolver#REVISION_PROPERTY}, which {@link ModelResolver#resolveModel(String)} reads.
 */
final class RevisionOption {
    private RevisionOption() {}

    static void addTo(CommandLine cl) {
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getCommandSpec().findOption("--model") == null
                    || sub.getCommandSpec().findOption("--revision") != null) continue;
            sub.getCommandSpec()
                    .addOption(OptionSpec.builder("--revision")
                            .paramLabel("REV")
                            .type(String.class)
                            .description(
                                    "Revision of a Hub --model: branch, tag or commit (default main, or the id's @REV).")
                            .setter(new CommandLine.Model.ISetter() {
                                @Override
                                public <T> T set(T value) {
                                    if (value != null)
                                        System.setProperty(ModelResolver.REVISION_PROPERTY, value.toString());
                                    return null;
                                }
                            })
                            .build());
        }
    }
}
