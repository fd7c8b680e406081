package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Lora4jException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossPlotTest {
    @TempDir
    Path tmp;

    /** A noisy decaying training curve, validation every 50 steps. */
    static List<LossLog.Row> synthetic(int steps) {
        Random r = new Random(7);
        List<LossLog.Row> rows = new ArrayList<>();
        for (int s = 1; s <= steps; s++) {
            double clean = 2.0 + 4.2 * Math.exp(-s / 120.0);
            double train = clean + r.nextGaussian() * 0.12 + (s == 3 ? 4 : 0); // one early spike
            Double val = s % 50 == 0 ? clean + 0.08 + 0.0004 * s : null;
            rows.add(new LossLog.Row(s, s / 250.0, s * 2048L, train, val, 3e-4 * Math.min(1, s / 20.0),
                    10_000 + r.nextDouble() * 500, s * 0.21));
        }
        return rows;
    }

    @Test
    void writesAReadablePngOfTheCurve() throws IOException {
        List<LossLog.Row> rows = synthetic(600);
        Path png = tmp.resolve("plots/loss.png");
        LossPlot.write(rows, png, "LoRA training: stories260K on tinystories (synthetic)");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(LossPlot.WIDTH, img.getWidth());
        assertEquals(LossPlot.HEIGHT, img.getHeight());
        int white = 0;
        int blue = 0;
        int orange = 0;
        int dark = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y);
                int r = rgb >> 16 & 0xff;
                int g = rgb >> 8 & 0xff;
                int b = rgb & 0xff;
                if (r > 250 && g > 250 && b > 250) {
                    white++;
                } else if (b > 150 && r < 80) {
                    blue++;
                } else if (r > 200 && g > 80 && g < 140 && b < 60) {
                    orange++;
                } else if (r < 90 && g < 90 && b < 90) {
                    dark++;
                }
            }
        }
        int total = img.getWidth() * img.getHeight();
        assertTrue(white > total / 2 && white < total, "background: " + white + " of " + total);
        assertTrue(blue > 1000, "train curve pixels: " + blue);
        assertTrue(orange > 200, "validation pixels: " + orange);
        assertTrue(dark > 300, "text pixels: " + dark);
        try (Stream<Path> s = Files.list(png.getParent())) {
            assertEquals(List.of(png), s.toList(), "no temporary file left");
        }
        Path keep = Path.of("target", "loss-plot-test.png");
        Files.createDirectories(keep.getParent());
        Files.copy(png, keep, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    @Test
    void edgeCasesStillDraw() throws IOException {
        LossPlot.write(List.of(), tmp.resolve("empty.png"), "nothing yet");
        LossPlot.write(List.of(new LossLog.Row(1, 0, 10, 3.5, null, 1e-3, 100, 1)), tmp.resolve("one.png"), "one");
        List<LossLog.Row> flat = new ArrayList<>();
        for (int i = 1; i <= 30; i++) {
            flat.add(new LossLog.Row(i, 0, i, 2.0, i == 30 ? 2.0 : null, 1e-3, 100, i));
        }
        flat.add(new LossLog.Row(31, 0, 31, Double.NaN, Double.NaN, 1e-3, 100, 31)); // diverged: not drawn
        LossPlot.write(flat, tmp.resolve("flat.png"), null);
        for (String n : List.of("empty.png", "one.png", "flat.png")) {
            BufferedImage img = ImageIO.read(tmp.resolve(n).toFile());
            assertEquals(LossPlot.WIDTH, img.getWidth(), n);
        }
        Files.copy(tmp.resolve("flat.png"), Path.of("target", "loss-plot-flat.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    @Test
    void csvRoundTrips() {
        Path csv = tmp.resolve("loss.csv");
        List<LossLog.Row> rows = synthetic(120);
        rows.add(new LossLog.Row(121, 0.5, 1, Double.NaN, Double.POSITIVE_INFINITY, 1e-4, 0, 0));
        try (LossLog log = LossLog.create(csv)) {
            rows.forEach(log::append);
            assertEquals(rows.size(), log.rows().size());
        }
        List<LossLog.Row> back = LossLog.read(csv);
        assertEquals(rows.size(), back.size());
        for (int i = 0; i < rows.size(); i++) {
            LossLog.Row a = rows.get(i);
            LossLog.Row b = back.get(i);
            assertEquals(a.step(), b.step());
            assertEquals(a.tokens(), b.tokens());
            assertEquals(a.epoch(), b.epoch(), 1e-6 * Math.max(1, a.epoch()));
            close(a.trainLoss(), b.trainLoss());
            close(a.learningRate(), b.learningRate());
            close(a.tokensPerSecond(), b.tokensPerSecond());
            close(a.elapsedSeconds(), b.elapsedSeconds());
            assertEquals(a.hasValidationLoss(), b.hasValidationLoss(), "row " + i);
            if (a.hasValidationLoss()) {
                close(a.validationLoss(), b.validationLoss());
            }
        }
        assertTrue(Double.isNaN(back.get(120).trainLoss()));
        assertEquals(Double.POSITIVE_INFINITY, back.get(120).validationLoss());
    }

    private static void close(double a, double b) {
        if (Double.isNaN(a)) {
            assertTrue(Double.isNaN(b));
        } else {
            assertEquals(a, b, Math.abs(a) * 1e-6);
        }
    }

    @Test
    void csvIsPlainAndFlushedRowByRow() throws IOException {
        Path csv = tmp.resolve("loss.csv");
        LossLog log = LossLog.create(csv);
        log.append(new LossLog.Row(10, 0.05, 20480, 4.8123456789, null, 3e-4, 10234.56, 2.0));
        // not closed: the row is already on disk
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        assertEquals(List.of(LossLog.HEADER, "10,0.05,20480,4.812346,,0.0003,10234.56,2"), lines);
        log.close();
        log.close();
        assertThrows(IllegalStateException.class, () -> log.append(new LossLog.Row(11, 0, 0, 1, null, 0, 0, 0)));
    }

    @Test
    void resumeDropsLaterRowsAndAPartialLineThenAppends() throws IOException {
        Path csv = tmp.resolve("run/loss.csv");
        try (LossLog log = LossLog.create(csv)) {
            synthetic(40).forEach(log::append);
        }
        Files.writeString(csv, "41,0.1,83968,2.9", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND); // crash mid-row
        assertEquals(40, LossLog.read(csv).size(), "an incomplete last line is ignored");
        try (LossLog log = LossLog.resume(csv, 30)) {
            assertEquals(30, log.rows().size());
            log.append(new LossLog.Row(31, 0.12, 63488, 2.5, 2.6, 3e-4, 9000, 7));
            assertEquals(31, log.rows().size());
        }
        List<LossLog.Row> back = LossLog.read(csv);
        assertEquals(31, back.size());
        assertEquals(31, back.get(30).step());
        assertEquals(2.6, back.get(30).validationLoss(), 1e-9);
        assertFalse(Files.readString(csv).contains("83968"));
        try (LossLog log = LossLog.resume(tmp.resolve("new.csv"), 5)) {
            assertEquals(0, log.rows().size());
        }
        assertEquals(List.of(LossLog.HEADER), Files.readAllLines(tmp.resolve("new.csv")));
    }

    @Test
    void malformedLogsAreErrorsWithTheLine() throws IOException {
        Path csv = tmp.resolve("bad.csv");
        Files.writeString(csv, "step,loss\n1,2\n");
        Lora4jException e = assertThrows(Lora4jException.class, () -> LossLog.read(csv));
        assertTrue(e.getMessage().contains("not a lora4j loss log"), e.getMessage());
        Files.writeString(csv, LossLog.HEADER + "\n1,0,10,2.5,,0.001,5,1\n2,0,x,2.5,,0.001,5,1\n3,0,30,2.4,,0.001,5,1\n");
        e = assertThrows(Lora4jException.class, () -> LossLog.read(csv));
        assertTrue(e.getMessage().contains("line 3"), e.getMessage());
        Files.writeString(csv, LossLog.HEADER + "\n1,0,10,2.5,,0.001,5,1\n");
        LossLog.Row r = LossLog.read(csv).get(0);
        assertNull(r.validationLoss());
    }

    @Test
    void niceSteps() {
        assertEquals(0.5, LossPlot.niceStep(3, 6), 1e-12);
        assertEquals(100, LossPlot.niceStep(600, 8), 1e-9);
        assertEquals(0.025, LossPlot.niceStep(0.14, 6), 1e-12);
        assertEquals(3, LossPlot.decimals(0.025));
        assertEquals(1, LossPlot.decimals(0.5));
        assertEquals(0, LossPlot.decimals(500));
        double[] ma = LossPlot.movingAverage(new double[] {1, 2, 3, 4, 5}, 1);
        assertEquals(1.5, ma[0], 1e-12);
        assertEquals(3, ma[2], 1e-12);
        assertEquals(4.5, ma[4], 1e-12);
    }
}
