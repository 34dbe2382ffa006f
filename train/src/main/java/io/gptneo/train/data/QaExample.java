package io.gptneo.train.data;

import java.util.Map;

/**
 * One BeaverTails QA row: a response with its safety label and harm categories.
 *
 * @param categories category name to flag, in file order
 * @param source     {@code file:line} for messages
 */
public record QaExample(String prompt, String response, Map<String, Boolean> categories, boolean safe, String source) {}
