package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/** {@link OpProfile}: every recorded forward op and backward function counted once per call, nothing while off. */
class OpProfileTest {
    @AfterEach
    void off() {
        OpProfile.stop();
    }

    private static Map<String, OpProfile.Entry> byName() {
        return OpProfile.entries().stream().collect(Collectors.toMap(OpProfile.Entry::name, e -> e));
    }

    @Test
    void countsEachOperationOfAStepForwardAndBackward() {
        int layers = 3;
        TinyNet net = new TinyNet(layers, 8, DataType.FLOAT, 5);
        Tensor x = Tensor.constant(Rand.normal(DataType.FLOAT, 9, 1.0, 4, 8));
        net.forward(x).backward(); // warm: nothing recorded while off
        assertTrue(OpProfile.entries().isEmpty(), OpProfile.entries().toString());

        OpProfile.start();
        Tensor loss = net.forward(x);
        loss.backward();
        OpProfile.stop();
        Map<String, OpProfile.Entry> e = byName();
        // TinyNet's block: layerNorm -> linear -> gelu -> linear, residual add; two linears per block
        assertEquals(2L * layers, e.get("forward linear").calls(), e.keySet().toString());
        assertEquals(2L * layers, e.get("backward linear").calls());
        assertEquals(layers, e.get("forward gelu").calls());
        assertEquals(layers, e.get("backward gelu").calls());
        assertEquals(layers, e.get("forward layerNorm").calls());
        for (OpProfile.Entry en : e.values()) assertTrue(en.nanos() >= 0, en.toString());
        String table = OpProfile.table(1);
        assertTrue(table.contains("forward linear") && table.contains("total"), table);

        long before = e.get("forward linear").calls();
        net.forward(x).backward(); // stopped: the table stays as it was
        assertEquals(before, byName().get("forward linear").calls());
        OpProfile.start(); // a restart clears it
        assertTrue(OpProfile.entries().isEmpty());
    }
}
