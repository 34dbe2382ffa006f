package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.gptneo.tensor.attention.AttentionKernel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The fast kernels give the same bits whichever JIT tier runs them: here, after C2 has compiled them with the Vector
 * API's intrinsics, and in a child JVM limited to C1, where the Vector API runs its Java fallback. A resumed training
 * run replays steps in a fresh JVM, so its bits (SignalResumeTest) depend on this; {@code reduceLanes(ADD)} broke it on
 * Temurin 25, whose C2 sums lanes in another order than the fallback. CI runs this class on Java 17 and on a JDK 22+.
 */
class JitTierAgreementTest {

    @Test
    void kernelsGiveTheSameBitsInterpretedByC1AndCompiledByC2() throws Exception {
        assumeTrue(VectorApi.PRESENT, "needs jdk.incubator.vector");
        Map<String, String> c2 = null;
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
        for (int i = 0; i < 400 && (i < 40 || System.nanoTime() < until); i++) c2 = digests(); // warm up to C2
        Map<String, String> c1 = child();
        assertEquals(c2.keySet(), c1.keySet(), "kernels digested");
        for (String k : c2.keySet()) assertEquals(c2.get(k), c1.get(k), k + ": C2 and C1 give different bits");
    }

    /** SHA-256 of each fast kernel's outputs on fixed inputs, by kernel. */
    static Map<String, String> digests() throws NoSuchAlgorithmException {
        Kernels k = new Kernels(true, true);
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.FLOAT, 24, 768).muli(3).addi(1);
        INDArray g = Nd4j.randn(DataType.FLOAT, 24, 768);
        INDArray gamma = Nd4j.randn(DataType.FLOAT, 768), beta = Nd4j.randn(DataType.FLOAT, 768);
        Map<String, String> d = new LinkedHashMap<>();
        Kernels.LayerNormForward ln = k.layerNorm(x, gamma, beta, 1e-5);
        Kernels.LayerNormGrads lg = ln.backward().apply(g, true, true, true);
        d.put("layerNorm", digest(ln.y(), lg.dx(), lg.dGamma(), lg.dBeta()));
        d.put("gelu", digest(k.gelu(x), k.geluBackward(x, g)));
        d.put("add", digest(k.add(x, g)));
        d.put("bf16", digest(Bf16.of(x).castTo(DataType.FLOAT)));
        INDArray q = Nd4j.randn(DataType.FLOAT, 2, 3, 40, 64),
                kk = Nd4j.randn(DataType.FLOAT, 2, 3, 40, 64),
                v = Nd4j.randn(DataType.FLOAT, 2, 3, 40, 64),
                dOut = Nd4j.randn(DataType.FLOAT, 2, 3, 40, 64);
        AttentionKernel a = k.attention();
        AttentionKernel.Forward f = a.forward(q, kk, v, null, 0, 0.125, true);
        AttentionKernel.Grads ag = a.backward(f, q, kk, v, null, 0, 0.125, dOut);
        d.put("attention " + a.name(), digest(f.out(), ag.dq(), ag.dk(), ag.dv()));
        d.put("linearSplit with fused LoRA side paths and dropout", loraDigest(k));
        return d;
    }

    /** q/k/v as one product with rank-8 side paths on q and v (dropout 0.1): the parts and every gradient. */
    private static String loraDigest(Kernels k) throws NoSuchAlgorithmException {
        long rows = 40, in = 768;
        long[] widths = {768, 768, 768};
        Tensor x = Tensor.parameter(Rand.normal(DataType.FLOAT, 1, 1.0, rows, in));
        Tensor w = Tensor.of(Rand.normal(DataType.FLOAT, 2, 0.03, 2304, in), false);
        LowRank[] sides = new LowRank[3];
        for (int i : new int[] {0, 2})
            sides[i] = new LowRank(
                    Tensor.parameter(Rand.normal(DataType.FLOAT, 3 + i, 0.05, 8, in)),
                    Tensor.parameter(Rand.normal(DataType.FLOAT, 6 + i, 0.05, widths[i], 8)),
                    2.0,
                    0.1,
                    9 + i);
        assertTrue(k.fusedLowRank(x.data(), in, widths[0]), "the fused side paths take these shapes");
        Tensor[] parts = SplitLinearOp.apply(x, w, widths, sides, k);
        Tensor loss = null;
        for (int i = 0; i < parts.length; i++) {
            Tensor t = Ops.sum(Ops.mul(parts[i], Tensor.constant(Rand.normal(DataType.FLOAT, 12 + i, 1.0, rows, 768))));
            loss = loss == null ? t : Ops.add(loss, t);
        }
        loss.backward();
        return digest(
                parts[0].data(),
                parts[1].data(),
                parts[2].data(),
                x.grad(),
                sides[0].a().grad(),
                sides[0].b().grad(),
                sides[2].a().grad(),
                sides[2].b().grad());
    }

    private static String digest(INDArray... arrays) throws NoSuchAlgorithmException {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (INDArray a : arrays) {
            float[] v = a.dup('c').data().asFloat();
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) b.putInt(Float.floatToRawIntBits(f));
            md.update(b.array());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** {@link #digests} in a child JVM that never leaves C1. */
    private static Map<String, String> child() throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = List.of(
                java,
                "-XX:TieredStopAtLevel=1",
                "--add-modules",
                "jdk.incubator.vector",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp",
                System.getProperty("java.class.path"),
                Probe.class.getName());
        // output to a file, so that the timeout below can fire (reading a pipe to its end would wait for the child)
        Path log = Files.createTempFile("jit-tier-probe", ".log");
        String out;
        try {
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .start();
            boolean done = p.waitFor(120, TimeUnit.SECONDS);
            if (!done) p.destroyForcibly();
            out = Files.readString(log, StandardCharsets.UTF_8);
            assertTrue(done, "child JVM did not finish in 120 s:\n" + out);
            assertEquals(0, p.exitValue(), "child JVM failed:\n" + out);
        } finally {
            Files.deleteIfExists(log);
        }
        Map<String, String> d = new LinkedHashMap<>();
        for (String line : out.split("\n"))
            if (line.startsWith("DIGEST ")) {
                String[] kv = line.substring(7).split("=", 2);
                d.put(kv[0], kv[1].trim());
            }
        assertFalse(d.isEmpty(), "no digests from the child JVM:\n" + out);
        return d;
    }

    /** The child's entry point. */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            for (var e : digests().entrySet()) System.out.println("DIGEST " + e.getKey() + "=" + e.getValue());
        }
    }
}
