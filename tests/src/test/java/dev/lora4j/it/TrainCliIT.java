package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.train.LossLog;
import dev.lora4j.train.LoraTrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lora4j train} as a user runs it: progress, loss CSV and plot, Ctrl-C writes a checkpoint, --resume continues. */
class TrainCliIT {
    @TempDir
    Path tmp;

    private List<String> train(Path base, Path data, Path out, Path dir, int maxSteps, boolean resume) {
        List<String> cmd = new ArrayList<>(TestFiles.cli("train",
                "--base", base.toString(), "--data", data.toString(), "--field", "quote", "--max-seq-length", "64",
                "--target-modules", "q,v", "--max-steps", String.valueOf(maxSteps), "--eval-steps", "5", "--threads", "2",
                "--out", out.toString(), "--output-dir", dir.toString(), "--learning-rate", "2e-3"));
        if (resume) {
            cmd.add("--resume");
        }
        return cmd;
    }

    @Test
    void interruptWritesACheckpointAndResumeContinues() throws Exception {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        Path data = TestFiles.shared().resolve("data/english_quotes.jsonl");
        Path out = tmp.resolve("adapter.gguf");
        Path dir = tmp.resolve("run");
        Process p = new ProcessBuilder(train(base, data, out, dir, 100_000, false)).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("first.log").toFile()).start();
        Path csv = dir.resolve("loss.csv");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline && (!Files.exists(csv) || Files.readAllLines(csv).size() < 6)) {
            Thread.sleep(200);
        }
        assertTrue(p.isAlive(), Files.readString(tmp.resolve("first.log")));
        new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the trainer did not stop on SIGINT");
        String log1 = Files.readString(tmp.resolve("first.log"));
        assertEquals(130, p.exitValue(), log1);
        assertTrue(log1.contains("writing a checkpoint"), log1);
        Path ckpt = LoraTrainer.latestCheckpoint(dir).orElseThrow(() -> new AssertionError("no checkpoint after Ctrl-C:\n" + log1));
        assertTrue(Files.exists(out), "the adapter was written too");
        List<LossLog.Row> before = LossLog.read(csv);
        long stepsBefore = before.get(before.size() - 1).step();
        String name = ckpt.getFileName().toString();
        assertEquals(stepsBefore, Long.parseLong(name.substring("checkpoint-".length(), name.length() - ".gguf".length())));

        Process q = new ProcessBuilder(train(base, data, out, dir, (int) stepsBefore + 4, true)).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("second.log").toFile()).start();
        assertTrue(q.waitFor(180, TimeUnit.SECONDS));
        String log2 = Files.readString(tmp.resolve("second.log"));
        assertEquals(0, q.exitValue(), log2);
        assertTrue(log2.contains("resuming from"), log2);
        List<LossLog.Row> after = LossLog.read(csv);
        List<Long> steps = after.stream().filter(r -> !r.hasValidationLoss()).map(LossLog.Row::step).toList();
        for (int i = 1; i < steps.size(); i++) {
            assertEquals(steps.get(i - 1) + 1, steps.get(i), "the loss log continues step by step: " + steps);
        }
        assertEquals(stepsBefore + 4, steps.get(steps.size() - 1));
        assertTrue(Files.size(dir.resolve("loss.png")) > 1000);
        assertTrue(log2.contains("trainable parameters"), log2);
    }
}
