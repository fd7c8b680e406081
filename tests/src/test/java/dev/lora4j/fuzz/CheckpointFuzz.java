package dev.lora4j.fuzz;

import dev.lora4j.Lora4jException;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainingSample;
import java.nio.file.Path;
import java.util.List;

/**
 * Mutated training checkpoints through {@code --resume} ({@link LoraTrainer#resume}) and a training step: the
 * checkpoint's adapter, optimizer moments and position are restored from the file, so every value may be hostile.
 * A typed exception, or training that continues.
 */
public final class CheckpointFuzz {
    /** The configuration the seed checkpoints were made with ({@link FuzzIT#seedCheckpoints}). */
    static final TrainConfig CONFIG = TrainConfig.builder().contextLength(16).maxSteps(4).threads(1).checkpointSteps(0).build();

    private static Path base;
    private static List<FuzzInputs.Seed> seeds;
    private static Path file;
    private static List<TrainingSample> samples;

    public static void fuzzerInitialize() {
        base = Path.of(System.getProperty("lora4j.fuzz.base"));
        seeds = FuzzInputs.seeds("lora4j.fuzz.checkpoints");
        file = FuzzInputs.scratch("checkpoint.gguf");
        int[] tokens = new int[16];
        int[] labels = new int[16];
        for (int i = 0; i < 16; i++) {
            tokens[i] = 1 + (i * 37) % 500;
            labels[i] = 1 + ((i + 1) * 37) % 500;
        }
        samples = List.of(new TrainingSample(tokens, labels, 0));
    }

    public static void fuzzerTearDown() {
        FuzzInputs.flush();
    }

    public static void fuzzerTestOneInput(byte[] input) {
        Choices d = new Choices(input);
        FuzzInputs.write(file, FuzzInputs.mutate(d, d.pickValue(seeds)));
        try (LoraTrainer t = LoraTrainer.resume(file, base, CONFIG)) {
            FuzzInputs.count("resumed");
            t.train(samples, List.of(), null);
            FuzzInputs.count("trained");
        } catch (Lora4jException e) {
            FuzzInputs.rejected(e);
        } catch (IllegalArgumentException e) {
            // a checkpoint made with another configuration or base than the one passed: the caller's mismatch
            if (!e.getMessage().contains("checkpoint")) {
                throw e;
            }
            FuzzInputs.count("rejected: configuration mismatch");
        }
    }
}
