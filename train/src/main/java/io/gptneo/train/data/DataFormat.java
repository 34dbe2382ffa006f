package io.gptneo.train.data;

/** The two JSONL layouts the cost model reads. */
public enum DataFormat {
    /** PKU-SafeRLHF: prompt, response_0, response_1, is_response_0_safe, is_response_1_safe, safer_response_id. */
    PAIRS,
    /** BeaverTails: prompt, response, category, is_safe. */
    QA
}
