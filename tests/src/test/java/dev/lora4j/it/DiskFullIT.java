package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.testsupport.Requires;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.LoraTargets;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.merge.LoraMerger;
import dev.lora4j.merge.MergeOptions;
import dev.lora4j.train.DataOptions;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainResult;
import dev.lora4j.train.TrainingData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A full disk (a small tmpfs mounted for the test) during a merge and during checkpointing: a clear exception
 * naming the file and the cause, the previous file at the output path and the previous checkpoints intact, no
 * temporary files left, and training resumable from the last checkpoint.
 */
class DiskFullIT {
    @TempDir
    Path tmp;

    private Path mounted;

    /** Mounts a tmpfs of {@code bytes} (needs root, as in CI; skipped otherwise). */
    private Path smallDisk(long bytes) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("disk"));
        TestFiles.Result r = TestFiles.run(TestFiles.cmd("mount", "-t", "tmpfs", "-o", "size=" + bytes, "lora4j-full", dir), 30);
        Requires.that(r.exit() == 0, "needs a small tmpfs mount (root; CI runs as root): " + r.stderr().strip());
        mounted = dir;
        return dir;
    }

    @AfterEach
    void unmount() {
        if (mounted != null) {
            TestFiles.run(TestFiles.cmd("umount", mounted), 30);
        }
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void mergeOntoAFullDiskKeepsThePreviousOutput() throws Exception {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        Path adapter = tmp.resolve("a.gguf");
        try (GgufFile b = GgufFile.open(base)) {
            LoraAdapterWriter.random(b, List.of(LoraTargets.ALL_LINEAR), 4, 8, 0.1f, 0.1f, 1).write(adapter);
        }
        Path disk = smallDisk(600 * 1024); // the merged F32 model is 1.2 MB
        Path out = disk.resolve("merged.gguf");
        byte[] previous = "the previous merge, which must survive".getBytes();
        Files.write(out, previous);
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> LoraMerger.merge(base, MergeOptions.of(adapter), out));
        assertTrue(e.getMessage().contains("merged.gguf") && e.getMessage().contains("No space left on device"), e.getMessage());
        assertArrayEquals(previous, Files.readAllBytes(out), "the previous file at the output path was damaged");
        assertEquals(List.of("merged.gguf"), names(disk), "temporary files left on the full disk");
    }

    @Test
    void checkpointOntoAFullDiskKeepsThePreviousCheckpoints() throws Exception {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        Path data = TestFiles.shared().resolve("data/english_quotes.jsonl");
        LoraConfig lora = LoraConfig.defaults().withR(4).withTargetModules(List.of("q", "v"));
        // the size of one checkpoint, measured on a normal disk
        Path probe = Files.createDirectory(tmp.resolve("probe"));
        TrainConfig.Builder b = TrainConfig.builder().contextLength(32).threads(1).checkpointSteps(1).keepCheckpoints(100);
        long ckptBytes;
        try (LoraTrainer t = LoraTrainer.create(base, lora, b.maxSteps(1).checkpointDir(probe).build())) {
            t.train(TrainingData.load(data, DataOptions.defaults().withField("quote").withContextLength(32), t.model()), null);
            ckptBytes = Files.size(LoraTrainer.latestCheckpoint(probe).orElseThrow());
        }
        // room for two and a half checkpoints: the third fails
        Path disk = smallDisk(ckptBytes * 5 / 2);
        TrainConfig cfg = b.maxSteps(6).checkpointDir(disk).build();
        RuntimeException e;
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            TrainingData td = TrainingData.load(data, DataOptions.defaults().withField("quote").withContextLength(32), t.model());
            e = assertThrows(RuntimeException.class, () -> t.train(td, null));
        }
        assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
        List<String> left = names(disk);
        assertTrue(left.stream().allMatch(n -> n.matches("checkpoint-\\d+\\.gguf")), "temporary files left: " + left);
        assertTrue(left.size() >= 1, "no checkpoint survived: " + left);
        for (String n : left) {
            try (GgufFile g = GgufFile.open(disk.resolve(n))) {
                assertTrue(g.tensors().size() > 0);
            }
        }
        // training resumes from the newest complete checkpoint (checkpoints now go to a disk with room)
        Optional<Path> latest = LoraTrainer.latestCheckpoint(disk);
        Path roomy = Files.createDirectory(tmp.resolve("roomy"));
        try (LoraTrainer t = LoraTrainer.resume(latest.orElseThrow(), base, b.maxSteps(6).checkpointDir(roomy).build())) {
            long from = t.stepsDone();
            assertTrue(from >= 1, "resumed at step " + from);
            TrainResult r = t.train(TrainingData.load(data, DataOptions.defaults().withField("quote").withContextLength(32), t.model()), null);
            assertEquals(6, t.stepsDone(), "resumed at " + from + ": " + r);
        }
    }
}
