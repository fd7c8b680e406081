package dev.lora4j.train;

import dev.lora4j.gguf.GgufWriter;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import javax.imageio.ImageIO;

/**
 * A PNG line chart of the loss log ({@value #WIDTH}×{@value #HEIGHT}), drawn with Java2D, headless: the training
 * loss as a thin light line with its centred moving average over it, the validation loss as points joined by a
 * line, step on x, loss on y, a legend with the last (train) and best (validation) values, and a title. The y range
 * ignores the highest 1% of the raw training losses (one value in 100; early spikes) so that the rest of the curve
 * stays readable: those are clipped at the top edge. Written atomically (a temporary file renamed over the target).
 */
public final class LossPlot {
    public static final int WIDTH = 900;
    public static final int HEIGHT = 500;

    static {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private static final Color TRAIN_RAW = new Color(31, 119, 180, 80);
    private static final Color TRAIN = new Color(31, 119, 180);
    private static final Color VALIDATION = new Color(230, 100, 10);
    private static final Color GRID = new Color(232, 232, 232);
    private static final Color AXIS = new Color(120, 120, 120);
    private static final Color TEXT = new Color(40, 40, 40);
    private static final int LEFT = 76;
    private static final int RIGHT = 28;
    private static final int TOP = 50;
    private static final int BOTTOM = 54;

    private LossPlot() {}

    /** Draws the rows and writes the PNG atomically (parent folders are created). */
    public static void write(List<LossLog.Row> rows, Path png, String title) {
        Objects.requireNonNull(png, "png");
        BufferedImage image = render(rows, title);
        try {
            writePng(image, png);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the loss plot " + png + ": " + e.getMessage(), e);
        }
    }

    /** The chart as an image (what {@link #write} writes). */
    public static BufferedImage render(List<LossLog.Row> rows, String title) {
        Objects.requireNonNull(rows, "rows");
        return canvas(WIDTH, HEIGHT, g -> new Chart(rows, title == null ? "" : title).draw(g));
    }

    /**
     * A white {@code width}×{@code height} image, antialiased (shapes and text), that {@code painter} draws on with
     * headless Java2D: the canvas of this chart, and of the benchmarks' charts.
     */
    public static BufferedImage canvas(int width, int height, Consumer<Graphics2D> painter) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            painter.accept(g);
        } finally {
            g.dispose();
        }
        return image;
    }

    /** Writes {@code image} as a PNG atomically: a temporary file beside it renamed over the target (parent folders are created). */
    public static void writePng(BufferedImage image, Path png) throws IOException {
        Path dir = png.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = GgufWriter.temporaryFileFor(png);
        try {
            if (!ImageIO.write(image, "png", tmp.toFile())) {
                throw new IllegalStateException("this JDK has no PNG writer");
            }
            LossLog.move(tmp, png);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static final class Chart {
        final String title;
        final double[] tx;
        final double[] ty;
        final double[] smooth;
        final int window;
        final double[] vx;
        final double[] vy;
        double x0;
        double x1;
        double y0;
        double y1;
        double xStep;
        double yStep;
        final Rectangle2D.Double area = new Rectangle2D.Double(LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);

        Chart(List<LossLog.Row> rows, String title) {
            this.title = title;
            List<double[]> t = new ArrayList<>();
            List<double[]> v = new ArrayList<>();
            for (LossLog.Row r : rows) {
                if (Double.isFinite(r.trainLoss())) {
                    t.add(new double[] {r.step(), r.trainLoss()});
                }
                if (r.validationLoss() != null && Double.isFinite(r.validationLoss())) {
                    v.add(new double[] {r.step(), r.validationLoss()});
                }
            }
            tx = t.stream().mapToDouble(p -> p[0]).toArray();
            ty = t.stream().mapToDouble(p -> p[1]).toArray();
            vx = v.stream().mapToDouble(p -> p[0]).toArray();
            vy = v.stream().mapToDouble(p -> p[1]).toArray();
            int half = Math.min(100, tx.length / 30);
            window = 2 * half + 1;
            smooth = tx.length >= 10 && half >= 1 ? movingAverage(ty, half) : null;
        }

        boolean empty() {
            return tx.length == 0 && vx.length == 0;
        }

        void draw(Graphics2D g) {
            if (!empty()) {
                scales();
                grid(g);
                series(g);
            }
            try {
                labels(g);
            } catch (RuntimeException | Error e) { // a JDK without fonts (fontconfig): keep the chart, drop the text
                System.getLogger(LossPlot.class.getName()).log(System.Logger.Level.WARNING,
                        "loss plot drawn without text: fonts are not available (" + e + ")");
            }
        }

        private void scales() {
            double xmin = Double.POSITIVE_INFINITY;
            double xmax = Double.NEGATIVE_INFINITY;
            for (double[] xs : List.of(tx, vx)) {
                for (double x : xs) {
                    xmin = Math.min(xmin, x);
                    xmax = Math.max(xmax, x);
                }
            }
            if (xmax - xmin < 1) {
                xmin -= 1;
                xmax += 1;
            }
            double ymin = Double.POSITIVE_INFINITY;
            double ymax = Double.NEGATIVE_INFINITY;
            for (double y : ty) {
                ymin = Math.min(ymin, y);
            }
            for (double y : vy) {
                ymin = Math.min(ymin, y);
                ymax = Math.max(ymax, y);
            }
            if (ty.length > 0) {
                double[] sorted = ty.clone();
                Arrays.sort(sorted);
                ymax = Math.max(ymax, sorted[sorted.length - 1 - sorted.length / 100]); // all of a short run
            }
            if (smooth != null) {
                for (double y : smooth) {
                    ymax = Math.max(ymax, y);
                }
            }
            if (ymax - ymin < 1e-9 * Math.max(1, Math.abs(ymax))) {
                double d = Math.max(0.05, Math.abs(ymax) * 0.05);
                ymin -= d;
                ymax += d;
            }
            double pad = (ymax - ymin) * 0.04;
            ymin = ymin - pad;
            ymax = ymax + pad;
            if (ymin < 0 && Arrays.stream(ty).allMatch(y -> y >= 0) && Arrays.stream(vy).allMatch(y -> y >= 0)) {
                ymin = 0;
            }
            xStep = niceStep(xmax - xmin, 8);
            if (xStep < 1) {
                xStep = 1;
            }
            x0 = Math.floor(xmin / xStep) * xStep;
            x1 = Math.ceil(xmax / xStep) * xStep;
            yStep = niceStep(ymax - ymin, 6);
            y0 = Math.floor(ymin / yStep) * yStep;
            y1 = Math.ceil(ymax / yStep) * yStep;
        }

        private static double[] ticks(double from, double to, double step) {
            int n = (int) Math.round((to - from) / step);
            double[] t = new double[n + 1];
            for (int i = 0; i <= n; i++) {
                t[i] = from + i * step;
            }
            return t;
        }

        double px(double x) {
            return area.x + (x - x0) / (x1 - x0) * area.width;
        }

        double py(double y) {
            return area.y + area.height - (y - y0) / (y1 - y0) * area.height;
        }

        private void grid(Graphics2D g) {
            g.setStroke(new BasicStroke(1f));
            g.setColor(GRID);
            for (double y : ticks(y0, y1, yStep)) {
                g.draw(new Line2D.Double(area.x, py(y), area.x + area.width, py(y)));
            }
            for (double x : ticks(x0, x1, xStep)) {
                g.draw(new Line2D.Double(px(x), area.y, px(x), area.y + area.height));
            }
            g.setColor(AXIS);
            g.draw(new Line2D.Double(area.x, area.y + area.height, area.x + area.width, area.y + area.height));
            g.draw(new Line2D.Double(area.x, area.y, area.x, area.y + area.height));
            for (double y : ticks(y0, y1, yStep)) {
                g.draw(new Line2D.Double(area.x - 5, py(y), area.x, py(y)));
            }
            for (double x : ticks(x0, x1, xStep)) {
                g.draw(new Line2D.Double(px(x), area.y + area.height, px(x), area.y + area.height + 5));
            }
        }

        private void series(Graphics2D g) {
            java.awt.Shape clip = g.getClip();
            g.setClip(new Rectangle2D.Double(area.x - 6, area.y - 1, area.width + 12, area.height + 7)); // spikes: cut at the top
            if (tx.length > 0) {
                g.setColor(smooth != null ? TRAIN_RAW : TRAIN);
                g.setStroke(new BasicStroke(smooth != null ? 1f : 1.8f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                g.draw(polyline(tx, ty));
                if (tx.length == 1) {
                    g.fill(dot(tx[0], ty[0], 3.5));
                }
            }
            if (smooth != null) {
                g.setColor(TRAIN);
                g.setStroke(new BasicStroke(2.2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                g.draw(polyline(tx, smooth));
            }
            if (vx.length > 0) {
                g.setColor(VALIDATION);
                g.setStroke(new BasicStroke(1.8f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                g.draw(polyline(vx, vy));
                if (vx.length <= 200) {
                    for (int i = 0; i < vx.length; i++) {
                        g.setColor(Color.WHITE);
                        g.fill(dot(vx[i], vy[i], 4.2));
                        g.setColor(VALIDATION);
                        g.fill(dot(vx[i], vy[i], 3.2));
                    }
                }
            }
            g.setClip(clip);
        }

        private Path2D polyline(double[] xs, double[] ys) {
            Path2D.Double p = new Path2D.Double();
            for (int i = 0; i < xs.length; i++) {
                if (i == 0) {
                    p.moveTo(px(xs[i]), py(ys[i]));
                } else {
                    p.lineTo(px(xs[i]), py(ys[i]));
                }
            }
            return p;
        }

        private Ellipse2D dot(double x, double y, double r) {
            return new Ellipse2D.Double(px(x) - r, py(y) - r, 2 * r, 2 * r);
        }

        private void labels(Graphics2D g) {
            Font base = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
            g.setColor(TEXT);
            g.setFont(base.deriveFont(Font.BOLD, 16f));
            FontMetrics fm = g.getFontMetrics();
            String t = title.isEmpty() ? "Loss" : title;
            while (fm.stringWidth(t) > WIDTH - 40 && t.length() > 4) {
                t = t.substring(0, t.length() - 4) + "…";
            }
            g.drawString(t, (WIDTH - fm.stringWidth(t)) / 2f, 30);
            g.setFont(base);
            fm = g.getFontMetrics();
            if (empty()) {
                String s = "no loss logged yet";
                g.setColor(AXIS);
                g.drawString(s, (WIDTH - fm.stringWidth(s)) / 2f, HEIGHT / 2f);
                return;
            }
            int yDecimals = decimals(yStep);
            for (double y : ticks(y0, y1, yStep)) {
                String s = String.format(Locale.ROOT, "%." + yDecimals + "f", y);
                g.drawString(s, (float) (area.x - 9 - fm.stringWidth(s)), (float) (py(y) + fm.getAscent() / 2.0 - 2));
            }
            for (double x : ticks(x0, x1, xStep)) {
                String s = String.format(Locale.ROOT, "%,d", Math.round(x));
                g.drawString(s, (float) (px(x) - fm.stringWidth(s) / 2.0), (float) (area.y + area.height + 8 + fm.getAscent()));
            }
            g.setFont(base.deriveFont(13f));
            fm = g.getFontMetrics();
            g.drawString("step", (float) (area.x + area.width / 2 - fm.stringWidth("step") / 2.0), HEIGHT - 12f);
            AffineTransform at = g.getTransform();
            g.rotate(-Math.PI / 2);
            g.drawString("loss", (float) -(area.y + area.height / 2 + fm.stringWidth("loss") / 2.0), 20f);
            g.setTransform(at);
            legend(g);
        }

        private void legend(Graphics2D g) {
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            FontMetrics fm = g.getFontMetrics();
            List<String> names = new ArrayList<>();
            List<Color> colors = new ArrayList<>();
            if (tx.length > 0) {
                names.add(String.format(Locale.ROOT, "train loss (last %.4f)", ty[ty.length - 1]));
                colors.add(smooth != null ? TRAIN_RAW : TRAIN);
            }
            if (smooth != null) {
                names.add(String.format(Locale.ROOT, "train, moving average of %d (last %.4f)", window, smooth[smooth.length - 1]));
                colors.add(TRAIN);
            }
            int best = -1;
            for (int i = 0; i < vy.length; i++) {
                if (best < 0 || vy[i] < vy[best]) {
                    best = i;
                }
            }
            if (best >= 0) {
                names.add(String.format(Locale.ROOT, "validation loss (best %.4f at step %,d)", vy[best], Math.round(vx[best])));
                colors.add(VALIDATION);
            }
            int w = 0;
            for (String n : names) {
                w = Math.max(w, fm.stringWidth(n));
            }
            int lineH = fm.getHeight() + 4;
            int boxW = w + 48;
            int boxH = names.size() * lineH + 10;
            double bx = area.x + area.width - boxW - 10;
            double by = area.y + 10;
            g.setColor(new Color(255, 255, 255, 225));
            g.fill(new Rectangle2D.Double(bx, by, boxW, boxH));
            g.setColor(GRID.darker());
            g.setStroke(new BasicStroke(1f));
            g.draw(new Rectangle2D.Double(bx, by, boxW, boxH));
            for (int i = 0; i < names.size(); i++) {
                double cy = by + 5 + i * lineH + lineH / 2.0;
                Color c = colors.get(i);
                g.setColor(c);
                boolean isVal = c == VALIDATION;
                boolean thin = c == TRAIN_RAW;
                g.setStroke(new BasicStroke(thin ? 1.5f : 2.2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                g.draw(new Line2D.Double(bx + 10, cy, bx + 34, cy));
                if (isVal) {
                    g.fill(new Ellipse2D.Double(bx + 22 - 3.2, cy - 3.2, 6.4, 6.4));
                }
                g.setColor(TEXT);
                g.drawString(names.get(i), (float) (bx + 42), (float) (cy + fm.getAscent() / 2.0 - 2));
            }
        }
    }

    /** Centred moving average of {@code 2 × half + 1} values; at the ends, of the values there are. */
    static double[] movingAverage(double[] y, int half) {
        int n = y.length;
        double[] prefix = new double[n + 1];
        for (int i = 0; i < n; i++) {
            prefix[i + 1] = prefix[i] + y[i];
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            int a = Math.max(0, i - half);
            int b = Math.min(n, i + half + 1);
            out[i] = (prefix[b] - prefix[a]) / (b - a);
        }
        return out;
    }

    /** The decimals that show every multiple of {@code step} exactly (0.25 → 2, 0.5 → 1, 5 → 0). */
    static int decimals(double step) {
        for (int d = 0; d < 8; d++) {
            double scaled = step * Math.pow(10, d);
            if (Math.abs(scaled - Math.rint(scaled)) < 1e-6 * Math.max(1, scaled)) {
                return d;
            }
        }
        return 8;
    }

    /** A tick step of 1, 2, 2.5 or 5 × 10^k, about {@code range / maxTicks}. */
    public static double niceStep(double range, int maxTicks) {
        double raw = range / maxTicks;
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / mag;
        double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
        return nice * mag;
    }
}
