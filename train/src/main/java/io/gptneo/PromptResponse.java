package io.gptneo;

import java.util.Objects;

/** One conversation turn to score: the user's prompt and the assistant's response. */
public record PromptResponse(String prompt, String response) {
    public PromptResponse {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(response, "response");
    }
}
