import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Model;
import dev.lora4j.gguf.GgmlType;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * llama.cpp's logits through lora4j, for checking another implementation's forward pass against them:
 * writes N token ids (the first N of TEXT, tokenised with BOS) as int32 and their N x n_vocab logits as float32,
 * little-endian, to OUT (tokens first). With a fifth argument R it then times forward passes over the same tokens
 * (after 3 untimed ones; at least R and for at least 2 s) with logits for all of them (what a training step's forward
 * computes) and prints {@code FORWARD <tokens/s>}.
 * Run by tests/bench/train_speed.sh:
 *     java --enable-native-access=ALL-UNNAMED -cp lora4j-all.jar tests/bench/Logits.java MODEL TEXT N OUT [R]
 */
public class Logits {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        String text = Files.readString(Path.of(args[1]));
        int n = Integer.parseInt(args[2]);
        try (Model m = Model.load(model);
             Context c = m.newContext(ContextParams.defaults().withContextSize(n).withBatchSize(n).withThreads(2)
                     .withKvCacheType(GgmlType.F32))) {
            int[] all = m.vocabulary().tokenize(text, true, false);
            if (all.length < n) {
                throw new IllegalArgumentException(args[1] + " has " + all.length + " tokens, fewer than " + n);
            }
            int[] tokens = java.util.Arrays.copyOf(all, n);
            c.decode(tokens, 0, true);
            try (OutputStream out = Files.newOutputStream(Path.of(args[3]))) {
                ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
                for (int t : tokens) {
                    b.putInt(t);
                }
                out.write(b.array());
                for (int i = 0; i < n; i++) {
                    float[] l = c.logits(i);
                    ByteBuffer lb = ByteBuffer.allocate(4 * l.length).order(ByteOrder.LITTLE_ENDIAN);
                    lb.asFloatBuffer().put(l);
                    out.write(lb.array());
                }
            }
            if (args.length > 4) {
                // after 3 warm-up passes, at least R passes and 2 s: a tiny model's pass takes ~2 ms, and its first
                // ones 2-5x that (measured on TinyStories-656K: 23k tokens/s over 5 passes, 57k over 400)
                int reps = Integer.parseInt(args[4]);
                for (int r = 0; r < 3; r++) {
                    c.clear();
                    c.decode(tokens, 0, true);
                }
                long t0 = System.nanoTime();
                int done = 0;
                while (done < reps || System.nanoTime() - t0 < 2_000_000_000L) {
                    c.clear();
                    c.decode(tokens, 0, true);
                    done++;
                }
                System.out.printf(java.util.Locale.ROOT, "FORWARD %.1f%n", (double) n * done / ((System.nanoTime() - t0) / 1e9));
            }
        }
    }
}
