package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.data.DataException;
import io.gptneo.train.data.Dataset;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import io.gptneo.weights.SharedData;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZOutputStream;

/** .jsonl.gz and .jsonl.xz read like the plain file, with file:line errors; published Hub schemas read as they are. */
class CompressedDataTest {
    @TempDir
    Path tmp;

    static List<String> head(String shared, int n) throws Exception {
        try (var lines = Files.lines(SharedData.resolve(shared))) {
            return lines.limit(n).toList();
        }
    }

    Path write(String name, List<String> lines) throws Exception {
        Path f = tmp.resolve(name);
        byte[] b = (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8);
        try (OutputStream raw = Files.newOutputStream(f);
                OutputStream o = name.endsWith(".gz")
                        ? new GZIPOutputStream(raw)
                        : name.endsWith(".xz") ? new XZOutputStream(raw, new LZMA2Options()) : raw) {
            o.write(b);
        }
        return f;
    }

    @Test
    void gzipAndXzReadAsThePlainFile() throws Exception {
        List<String> pairs = head("data/pku_saferlhf_pairs.jsonl", 300), qa = head("data/beavertails_qa.jsonl", 300);
        Dataset plainP = DatasetReader.read(write("p.jsonl", pairs), false),
                plainQ = DatasetReader.read(write("q.jsonl", qa), false);
        assertEquals(300, plainP.pairs().size());
        assertEquals(300, plainQ.qa().size());
        for (String ext : List.of(".gz", ".xz")) {
            Dataset p = DatasetReader.read(write("p.jsonl" + ext, pairs), false),
                    q = DatasetReader.read(write("q.jsonl" + ext, qa), false);
            assertEquals(strip(plainP.pairs()), strip(p.pairs()), ext);
            assertEquals(
                    plainQ.qa().stream().map(QaExample::response).toList(),
                    q.qa().stream().map(QaExample::response).toList(),
                    ext);
            assertTrue(
                    p.pairs().get(299).source().endsWith("p.jsonl" + ext + ":300"),
                    p.pairs().get(299).source());
        }
    }

    static List<String> strip(List<PairExample> ps) {
        return ps.stream()
                .map(p -> p.prompt() + "|" + p.response0() + "|" + p.response1() + "|" + p.saferId())
                .toList();
    }

    @Test
    void errorsInsideCompressedFilesNameFileAndLine() throws Exception {
        List<String> lines = new ArrayList<>(head("data/pku_saferlhf_pairs.jsonl", 10));
        lines.set(6, lines.get(6).replace("\"is_response_0_safe\": true", "\"is_response_0_safe\": \"yes\""));
        for (String ext : List.of(".gz", ".xz")) {
            Path f = write("bad.jsonl" + ext, lines);
            DataException e = assertThrows(DataException.class, () -> DatasetReader.read(f, false));
            assertTrue(e.getMessage().startsWith(f + ":7: field 'is_response_0_safe'"), e.getMessage());
            // a truncated stream: the lines before the cut are read, then the error names the file and the last good
            // line
            byte[] all = Files.readAllBytes(write("ok.jsonl" + ext, head("data/pku_saferlhf_pairs.jsonl", 200)));
            Path cut = tmp.resolve("cut.jsonl" + ext);
            Files.write(cut, java.util.Arrays.copyOf(all, all.length / 2));
            var t = assertThrows(IllegalArgumentException.class, () -> DatasetReader.read(cut, false));
            assertTrue(
                    t.getMessage().contains(cut.toString())
                            && t.getMessage().contains("corrupt or truncated compressed data after line"),
                    t.getMessage());
            Path notGz = tmp.resolve("plain.jsonl" + ext);
            Files.write(notGz, lines.get(0).getBytes(StandardCharsets.UTF_8));
            var n = assertThrows(IllegalArgumentException.class, () -> DatasetReader.read(notGz, false));
            assertTrue(
                    n.getMessage().contains(notGz.toString()) && n.getMessage().contains("not a valid"),
                    n.getMessage());
        }
    }

    /** Rows as PKU-SafeRLHF and BeaverTails publish them (extra fields, better_response_id) read as they are. */
    @Test
    void publishedSchemasReadAsTheyAre() throws Exception {
        String pku = "{\"prompt\":\"p\",\"response_0\":\"a\",\"response_1\":\"b\",\"prompt_source\":\"Alpaca-7B\","
                + "\"response_0_source\":\"Alpaca-7B\",\"response_1_source\":\"Alpaca-7B\",\"is_response_0_safe\":false,"
                + "\"is_response_1_safe\":true,\"response_0_harm_category\":{\"Violence\":true,\"Cybercrime\":false},"
                + "\"response_1_harm_category\":{\"Violence\":false,\"Cybercrime\":false},\"response_0_severity_level\":2,"
                + "\"response_1_severity_level\":0,\"better_response_id\":0,\"safer_response_id\":1,"
                + "\"response_0_sha256\":\"ab\",\"response_1_sha256\":\"cd\"}";
        Dataset p = DatasetReader.read(write("pku.jsonl.xz", List.of(pku)), false);
        PairExample e = p.pairs().get(0);
        assertEquals(0, e.betterId());
        assertEquals(1, e.saferId());
        assertFalse(e.safe0());
        String bt =
                "{\"prompt\":\"q\",\"response\":\"r\",\"category\":{\"animal_abuse\":false,\"violence,aiding_and_abetting,incitement\":true},\"is_safe\":false}";
        Dataset q = DatasetReader.read(write("bt.jsonl.gz", List.of(bt)), false);
        assertFalse(q.qa().get(0).safe());
        assertTrue(q.qa().get(0).categories().get("violence,aiding_and_abetting,incitement"));
    }
}
