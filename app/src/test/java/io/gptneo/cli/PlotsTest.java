package io.gptneo.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.eval.BinaryMetrics;
import io.gptneo.train.eval.Evaluation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotsTest {
    @TempDir
    Path dir;

    @Test
    void plotsAreReadablePngs() throws IOException {
        java.util.Random r = new java.util.Random(1);
        double[] c = new double[400];
        boolean[] u = new boolean[400];
        for (int i = 0; i < c.length; i++) {
            u[i] = i % 2 == 0;
            c[i] = r.nextGaussian() + (u[i] ? 1 : -1);
        }
        Path h = dir.resolve("cost_histogram.png"), roc = dir.resolve("roc.png");
        Plots.costHistogram(c, u, 30, h);
        Plots.roc(c, u, BinaryMetrics.auroc(c, u), roc);
        for (Path p : List.of(h, roc)) {
            var img = javax.imageio.ImageIO.read(p.toFile());
            assertNotNull(img, p + " is not a readable PNG");
            assertTrue(img.getWidth() >= 600 && img.getHeight() >= 500);
        }
    }

    @Test
    void writeAddsBothPlotsToTheReport() throws IOException {
        List<PairExample> rows = List.of(
                new PairExample("p", "fine", "kkkkk", true, false, 0, -1, "x:1"),
                new PairExample("q", "kk", "no", false, true, 1, -1, "x:2"));
        Evaluation.Result r = Evaluation.pairs(
                rows,
                b -> {
                    float[] c = new float[b.size()];
                    for (int i = 0; i < c.length; i++)
                        c[i] = b.get(i).response().length() - 3;
                    return c;
                },
                4,
                null);
        Plots.write(dir, r);
        assertEquals(
                r.report(),
                new ObjectMapper().readTree(dir.resolve("report.json").toFile()));
        assertTrue(Files.size(dir.resolve("cost_histogram.png")) > 5000);
        assertTrue(Files.size(dir.resolve("roc.png")) > 5000);
    }
}
