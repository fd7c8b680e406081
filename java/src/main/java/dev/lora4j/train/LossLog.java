package dev.lora4j.train;

import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.Lora4jException;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The training loss log: a CSV file with a header and one row per logged step, each row flushed as it is written
 * so that a crash keeps what was logged. {@link #read} parses it back; {@link #resume} continues the same file.
 *
 * <pre>
 * step,epoch,tokens,train_loss,val_loss,learning_rate,tokens_per_s,elapsed_s
 * 10,0.05,20480,4.812345,,0.0003,10234.5,2.01
 * 20,0.1,40960,4.213,4.30125,0.0003,10411.2,3.97
 * </pre>
 * Numbers are written with up to 7 significant digits, plain (no exponent); an empty {@code val_loss} means no
 * validation at that step; a loss that diverged is {@code NaN}. Not thread-safe beyond its own methods, which are
 * synchronized.
 */
public final class LossLog implements AutoCloseable {
    public static final String HEADER = "step,epoch,tokens,train_loss,val_loss,learning_rate,tokens_per_s,elapsed_s";
    private static final int COLUMNS = 8;

    /**
     * One logged step.
     *
     * @param step            optimizer step (1-based as the trainer counts)
     * @param epoch           epochs done, fractional (e.g. 1.25)
     * @param tokens          training tokens seen so far
     * @param trainLoss       training loss (mean over the step or since the last row)
     * @param validationLoss  validation loss, or null when not evaluated at this step
     * @param learningRate    learning rate at this step
     * @param tokensPerSecond training throughput
     * @param elapsedSeconds  wall-clock seconds since training started
     */
    public record Row(long step, double epoch, long tokens, double trainLoss, Double validationLoss, double learningRate,
                      double tokensPerSecond, double elapsedSeconds) {
        public Row {
            if (step < 0 || tokens < 0) {
                throw new IllegalArgumentException("step and tokens must be >= 0, got " + step + ", " + tokens);
            }
        }

        public boolean hasValidationLoss() {
            return validationLoss != null;
        }

        /** The row with a validation loss. */
        public Row withValidationLoss(double loss) {
            return new Row(step, epoch, tokens, trainLoss, loss, learningRate, tokensPerSecond, elapsedSeconds);
        }
    }

    private final Path path;
    private final BufferedWriter out;
    private final List<Row> rows;
    private boolean closed;

    private LossLog(Path path, BufferedWriter out, List<Row> rows) {
        this.path = path;
        this.out = out;
        this.rows = rows;
    }

    /** A new log (an existing file is replaced), with the header written. */
    public static LossLog create(Path csv) {
        try {
            createParent(csv);
            BufferedWriter w = Files.newBufferedWriter(csv, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            w.write(HEADER);
            w.write('\n');
            w.flush();
            return new LossLog(csv, w, new ArrayList<>());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the loss log " + csv + ": " + e.getMessage(), e);
        }
    }

    /** {@link #create} a new log, or with {@code append} continue an existing one keeping all its rows. */
    public static LossLog open(Path csv, boolean append) {
        return append ? resume(csv, Long.MAX_VALUE) : create(csv);
    }

    /**
     * Continues a log after a resume from the checkpoint of {@code lastStep}: rows of later steps (logged after that
     * checkpoint, before the interruption) and an incomplete last line are dropped (the file is rewritten
     * atomically), and new rows are appended. A missing file is created.
     */
    public static LossLog resume(Path csv, long lastStep) {
        try {
            if (!Files.exists(csv) || Files.size(csv) == 0) {
                return create(csv);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the loss log " + csv + ": " + e.getMessage(), e);
        }
        Parsed parsed = parse(csv);
        List<Row> kept = new ArrayList<>();
        for (Row r : parsed.rows) {
            if (r.step() <= lastStep) {
                kept.add(r);
            }
        }
        try {
            if (kept.size() != parsed.rows.size() || parsed.partialLastLine) {
                StringBuilder sb = new StringBuilder(HEADER).append('\n');
                for (Row r : kept) {
                    sb.append(format(r)).append('\n');
                }
                Path tmp = GgufWriter.temporaryFileFor(csv);
                try {
                    Files.writeString(tmp, sb, StandardCharsets.UTF_8);
                    move(tmp, csv);
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
            BufferedWriter w = Files.newBufferedWriter(csv, StandardCharsets.UTF_8, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND);
            return new LossLog(csv, w, kept);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot continue the loss log " + csv + ": " + e.getMessage(), e);
        }
    }

    /** Appends a row and flushes it. */
    public synchronized void append(Row row) {
        Objects.requireNonNull(row, "row");
        if (closed) {
            throw new IllegalStateException("the loss log " + path + " is closed");
        }
        try {
            out.write(format(row));
            out.write('\n');
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the loss log " + path + ": " + e.getMessage(), e);
        }
        rows.add(row);
    }

    /** Every row of the log, including those kept from before a {@link #resume}. */
    public synchronized List<Row> rows() {
        return List.copyOf(rows);
    }

    public Path path() {
        return path;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the loss log " + path + ": " + e.getMessage(), e);
        }
    }

    /**
     * The rows of a loss log. An incomplete last line (a crash in the middle of a write) is ignored.
     *
     * @throws Lora4jException when the file is not a loss log or a complete row is malformed (with its line)
     */
    public static List<Row> read(Path csv) {
        return parse(csv).rows;
    }

    private record Parsed(List<Row> rows, boolean partialLastLine) {}

    private static Parsed parse(Path csv) {
        String text;
        try {
            text = Files.readString(csv, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the loss log " + csv + ": " + e.getMessage(), e);
        }
        boolean endsWithNewline = text.endsWith("\n");
        String[] lines = text.split("\n", -1);
        int n = endsWithNewline ? lines.length - 1 : lines.length;
        if (n == 0 || !lines[0].strip().equals(HEADER)) {
            throw new Lora4jException(csv + ": not a lora4j loss log (the first line must be '" + HEADER + "')");
        }
        List<Row> rows = new ArrayList<>();
        boolean partial = false;
        for (int i = 1; i < n; i++) {
            String line = lines[i].strip();
            boolean last = i == n - 1 && !endsWithNewline;
            if (line.isEmpty()) {
                continue;
            }
            try {
                rows.add(parseRow(line));
            } catch (RuntimeException e) {
                if (last) {
                    partial = true;
                    break;
                }
                throw new Lora4jException(csv + ", line " + (i + 1) + ": malformed loss log row '" + line + "': "
                        + e.getMessage(), e);
            }
        }
        if (!endsWithNewline && n > 1 && !partial) {
            partial = true; // a complete-looking last row without its newline: rewritten on resume
        }
        return new Parsed(rows, partial);
    }

    private static Row parseRow(String line) {
        String[] f = line.split(",", -1);
        if (f.length != COLUMNS) {
            throw new IllegalArgumentException(f.length + " columns, expected " + COLUMNS);
        }
        return new Row(Long.parseLong(f[0].strip()), num(f[1]), Long.parseLong(f[2].strip()), num(f[3]),
                f[4].isBlank() ? null : num(f[4]), num(f[5]), num(f[6]), num(f[7]));
    }

    private static double num(String s) {
        return Double.parseDouble(s.strip());
    }

    static String format(Row r) {
        return r.step() + "," + num(r.epoch()) + "," + r.tokens() + "," + num(r.trainLoss()) + ","
                + (r.validationLoss() == null ? "" : num(r.validationLoss())) + "," + num(r.learningRate()) + ","
                + num(r.tokensPerSecond()) + "," + num(r.elapsedSeconds());
    }

    /**
     * Up to 7 significant digits, plain, rounded from the shortest decimal that reads back as {@code x}; NaN and
     * Infinity as Java writes them. (Rounding {@code new BigDecimal(x)}, x's exact binary value of up to ~50 digits,
     * took ~7 us a number: 34 us of each training step's row.)
     */
    static String num(double x) {
        if (!Double.isFinite(x)) {
            return Double.toString(x);
        }
        if (x == 0) {
            return "0";
        }
        return BigDecimal.valueOf(x).round(SEVEN_DIGITS).stripTrailingZeros().toPlainString();
    }

    private static final MathContext SEVEN_DIGITS = new MathContext(7);

    private static void createParent(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
    }

    static void move(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
