package dev.lora4j.it;

import static dev.lora4j.it.TestFiles.cliInProcess;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI: results on stdout only, errors as messages and exit codes. */
class CliIT {
    @TempDir
    Path tmp;

    @Test
    void generatePrintsOnlyTheGeneratedText() {
        Path model = TestFiles.sharedModel("tinystories-656k-q8_0.gguf");
        TestFiles.Result r = cliInProcess("generate", "--model", model.toString(), "--prompt", "Once upon a time", "--max-tokens", "32", "--temperature", "0");
        assertEquals(0, r.exit(), r.stderr());
        assertEquals(", a little girl named Lily lived in a small house. She loved to eat yummy food. One day, she saw a small bird on the ground. The bird was sad because it could not eat it.\nLily wanted to help the bird. She tried to eat the food and \n", r.stdout());
    }

    @Test
    void statsReportTheBuffersLlamaCppLogged() {
        Path model = TestFiles.sharedModel("stories260K.gguf");
        TestFiles.Result r = cliInProcess("generate", "--model", model.toString(), "--prompt", "Once", "--max-tokens", "4", "--temperature", "0", "--stats");
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(r.stderr().lines().anyMatch(l -> l.startsWith("memory: model: CPU") && l.contains("; KV: CPU")), r.stderr());
    }

    @Test
    void inspectTextAndJson() {
        Path model = TestFiles.sharedModel("stories260K.gguf");
        TestFiles.Result text = cliInProcess("inspect", model.toString());
        assertEquals(0, text.exit(), text.stderr());
        assertTrue(text.stdout().contains("general.architecture") && text.stdout().contains("blk.0.attn_q.weight"), text.stdout());
        TestFiles.Result json = cliInProcess("inspect", "--json", model.toString());
        assertEquals(0, json.exit(), json.stderr());
        JsonObject o = JsonParser.parseString(json.stdout()).getAsJsonObject();
        assertEquals("llama", o.getAsJsonObject("metadata").get("general.architecture").getAsString());
        assertEquals(3, o.get("version").getAsInt());
        assertTrue(o.getAsJsonArray("tensors").size() > 10);
    }

    @Test
    void userErrorsAreMessagesWithExitCodes() throws Exception {
        TestFiles.Result missing = cliInProcess("generate", "--model", tmp.resolve("missing.gguf").toString(), "--prompt", "x");
        assertEquals(2, missing.exit());
        assertTrue(missing.stderr().contains("no such file") && !missing.stderr().contains("\tat "), missing.stderr());
        Path junk = tmp.resolve("junk.gguf");
        Files.writeString(junk, "junk");
        TestFiles.Result bad = cliInProcess("inspect", junk.toString());
        assertEquals(2, bad.exit());
        assertTrue(bad.stderr().contains("junk.gguf"), bad.stderr());
        TestFiles.Result usage = cliInProcess("generate", "--prompt", "x");
        assertEquals(2, usage.exit());
        assertTrue(usage.stderr().contains("--model"), usage.stderr());
    }

    @Test
    void demoRunsEndToEnd() {
        // the whole story, shortened (the default demo pre-trains for 250 steps and trains the adapter for 200)
        TestFiles.Result r = cliInProcess("demo", "--threads", "2", "--pretrain-steps", "40", "--lora-steps", "20");
        assertEquals(0, r.exit(), r.stderr());
        for (String step : List.of("pre-training", "quantising it to Q8_0", "training a LoRA adapter", "merging", "base + adapter:", "merged:", "decode speed")) {
            assertTrue(r.stdout().contains(step), step + " missing from:\n" + r.stdout());
        }
    }

    @Test
    void buildModelAndQuantize() {
        Path out = tmp.resolve("m.gguf");
        TestFiles.Result b = cliInProcess("build-model", "--n-embd", "64", "--n-layer", "1", "--n-head", "2", "--n-ff", "128", "--type", "q4_k_m", "-o", out.toString());
        assertEquals(0, b.exit(), b.stderr());
        assertTrue(Files.exists(out));
        TestFiles.Result g = cliInProcess("generate", "-m", out.toString(), "-p", "Hello", "-n", "4", "--temperature", "0");
        assertEquals(0, g.exit(), g.stderr());
    }
}
