package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.lora4j.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI: results on stdout only, errors as messages and exit codes. */
class CliIT {
    @TempDir
    Path tmp;

    record Run(int exit, String out, String err) {}

    static synchronized Run cli(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = Main.run(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void generatePrintsOnlyTheGeneratedText() {
        Path model = TestFiles.sharedModel("tinystories-656k-q8_0.gguf");
        Run r = cli("generate", "--model", model.toString(), "--prompt", "Once upon a time", "--max-tokens", "32", "--temperature", "0");
        assertEquals(0, r.exit(), r.err());
        assertEquals(", a little girl named Lily lived in a small house. She loved to eat yummy food. One day, she saw a small bird on the ground. The bird was sad because it could not eat it.\nLily wanted to help the bird. She tried to eat the food and \n", r.out());
    }

    @Test
    void statsReportTheBuffersLlamaCppLogged() {
        Path model = TestFiles.sharedModel("stories260K.gguf");
        Run r = cli("generate", "--model", model.toString(), "--prompt", "Once", "--max-tokens", "4", "--temperature", "0", "--stats");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("memory: model: CPU") && l.contains("; KV: CPU")), r.err());
    }

    @Test
    void inspectTextAndJson() {
        Path model = TestFiles.sharedModel("stories260K.gguf");
        Run text = cli("inspect", model.toString());
        assertEquals(0, text.exit(), text.err());
        assertTrue(text.out().contains("general.architecture") && text.out().contains("blk.0.attn_q.weight"), text.out());
        Run json = cli("inspect", "--json", model.toString());
        assertEquals(0, json.exit(), json.err());
        JsonObject o = JsonParser.parseString(json.out()).getAsJsonObject();
        assertEquals("llama", o.getAsJsonObject("metadata").get("general.architecture").getAsString());
        assertEquals(3, o.get("version").getAsInt());
        assertTrue(o.getAsJsonArray("tensors").size() > 10);
    }

    @Test
    void userErrorsAreMessagesWithExitCodes() throws Exception {
        Run missing = cli("generate", "--model", tmp.resolve("missing.gguf").toString(), "--prompt", "x");
        assertEquals(2, missing.exit());
        assertTrue(missing.err().contains("no such file") && !missing.err().contains("\tat "), missing.err());
        Path junk = tmp.resolve("junk.gguf");
        Files.writeString(junk, "junk");
        Run bad = cli("inspect", junk.toString());
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains("junk.gguf"), bad.err());
        Run usage = cli("generate", "--prompt", "x");
        assertEquals(2, usage.exit());
        assertTrue(usage.err().contains("--model"), usage.err());
    }

    @Test
    void demoRunsEndToEnd() {
        // the whole story, shortened (the default demo pre-trains for 250 steps and trains the adapter for 200)
        Run r = cli("demo", "--threads", "2", "--pretrain-steps", "40", "--lora-steps", "20");
        assertEquals(0, r.exit(), r.err());
        for (String step : List.of("pre-training", "quantising it to Q8_0", "training a LoRA adapter", "merging", "base + adapter:", "merged:", "decode speed")) {
            assertTrue(r.out().contains(step), step + " missing from:\n" + r.out());
        }
    }

    @Test
    void buildModelAndQuantize() {
        Path out = tmp.resolve("m.gguf");
        Run b = cli("build-model", "--n-embd", "64", "--n-layer", "1", "--n-head", "2", "--n-ff", "128", "--type", "q4_k_m", "-o", out.toString());
        assertEquals(0, b.exit(), b.err());
        assertTrue(Files.exists(out));
        Run g = cli("generate", "-m", out.toString(), "-p", "Hello", "-n", "4", "--temperature", "0");
        assertEquals(0, g.exit(), g.err());
    }
}
