package io.gptneo.spark;

import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;

/** One local Spark session for the tests of a class: 2 task slots, loopback only, no UI, a failed task retried once. */
final class SparkTestSession {
    private SparkTestSession() {}

    static SparkSession start() {
        return SparkSession.builder()
                .appName("gptneo-spark-test")
                .master("local[2,2]")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "2")
                .getOrCreate();
    }

    static Path tiny() {
        return SharedData.resolve("fixtures/gptneo-tiny");
    }

    static Path adapter() {
        return SharedData.resolve("fixtures/lora-tiny/adapter_init");
    }
}
