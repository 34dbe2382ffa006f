package io.gptneo;

import java.util.Objects;

/**
 * One conversation turn to score: the user's prompt and the assistant's response.
 *
 * @param prompt   the user's message
 * @param response the assistant's answer
 */
public record PromptResponse(String prompt, String response) {
    /** Checks that neither text is null. */
    public PromptResponse {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(response, "response");
    }
}
