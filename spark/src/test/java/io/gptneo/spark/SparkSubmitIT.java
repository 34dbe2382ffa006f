package io.gptneo.spark;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spark-submit path: {@code org.apache.spark.deploy.SparkSubmit} (what the spark-submit script runs) in a child
 * JVM whose class path is Spark's alone, given the application jar; its costs equal ./gptneo classify row for row.
 * Runs in {@code mvn -Pspark-app verify} (after the jar is built).
 */
class SparkSubmitIT {
    @TempDir
    Path dir;

    static String prop(String k) {
        String v = System.getProperty(k);
        if (v == null) throw new IllegalStateException("-D" + k + " is not set (run with mvn -Pspark-app verify)");
        return v;
    }

    @Test
    void sparkSubmitScoresAsClassify() throws Exception {
        Path jar = Path.of(prop("gptneo.spark.app"));
        assertTrue(Files.isRegularFile(jar), "application jar " + jar);
        // A Spark distribution's class path: Spark's provided jars, plus the libraries it shares with us that Maven
        // files
        // under our compile scope (Jackson, SLF4J, commons-*). Our code, ND4J and picocli come only from the
        // application jar.
        String cp = Files.readString(Path.of(prop("gptneo.spark.classpath"))).trim();
        for (String e :
                Files.readString(Path.of(prop("gptneo.app.classpath"))).trim().split(java.io.File.pathSeparator)) {
            boolean ours = !e.endsWith(".jar")
                    || e.contains("/target/")
                    || e.contains("/io/gptneo/")
                    || e.contains("/org/nd4j/")
                    || e.contains("/org/bytedeco/")
                    || e.contains("/info/picocli/");
            if (!ours) cp += java.io.File.pathSeparator + e;
        }
        List<ObjectNode> rows = SparkScoringTest.beaverTails(200);
        Path input = dir.resolve("rows.jsonl"), output = dir.resolve("scored.jsonl");
        List<String> lines = new ArrayList<>();
        for (ObjectNode o : rows) lines.add(SparkScoringTest.JSON.writeValueAsString(o));
        Files.write(input, lines);
        SparkScoringTest t = new SparkScoringTest();
        t.dir = dir;
        Map<Integer, Double> expected = t.classify(rows);

        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx2g",
                "--add-modules",
                "jdk.incubator.vector",
                "-Dorg.bytedeco.javacpp.maxphysicalbytes=0"));
        cmd.addAll(Arrays.asList(prop("gptneo.spark.opens").trim().split("\\s+")));
        cmd.addAll(List.of(
                "-cp",
                cp,
                "org.apache.spark.deploy.SparkSubmit",
                "--master",
                "local[2]",
                "--conf",
                "spark.driver.host=127.0.0.1",
                "--conf",
                "spark.driver.bindAddress=127.0.0.1",
                "--conf",
                "spark.ui.enabled=false",
                "--class",
                "io.gptneo.spark.SparkMain",
                jar.toString(),
                "score",
                "--model",
                SparkTestSession.tiny().toString(),
                "--adapter",
                SparkTestSession.adapter().toString(),
                "--input",
                input.toString(),
                "--output",
                output.toString(),
                "--single-file",
                "--partitions",
                "2"));
        Path log = dir.resolve("spark-submit.log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        pb.environment().put("OMP_NUM_THREADS", "1");
        Process p = pb.start();
        boolean done = p.waitFor(8, TimeUnit.MINUTES);
        if (!done) p.destroyForcibly();
        String text = Files.readString(log);
        assertTrue(
                done && p.exitValue() == 0,
                "spark-submit failed:\n" + text.substring(Math.max(0, text.length() - 4000)));

        List<String> out = Files.readAllLines(output);
        assertEquals(rows.size(), out.size());
        double worst = 0;
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (String line : out) { // --partitions shuffles the order: rows are matched by their "row" field
            JsonNode o = SparkScoringTest.JSON.readTree(line);
            int i = o.get("row").intValue();
            assertTrue(seen.add(i), "row " + i + " twice");
            double c = o.get("cost").doubleValue(), e = expected.get(i);
            worst = Math.max(worst, Math.abs(c - e));
            assertEquals(e, c, 1e-5, "row " + i);
        }
        assertEquals(expected.keySet(), seen);
        System.out.printf(
                "SparkSubmit + application jar vs classify: %d rows, max |cost difference| %.3g; %s%n",
                out.size(),
                worst,
                text.lines().filter(l -> l.contains("rows scored")).findFirst().orElse(""));
    }
}
