package dev.lora4j.it;

import java.util.Arrays;

/** Comparisons of logit vectors, as the tests make them. */
final class Logits {
    private Logits() {}

    /** How far {@code other} is from {@code reference}: normalised mean squared error and largest absolute difference. */
    record Diff(double nmse, double maxAbs) {}

    static Diff diff(float[] reference, float[] other) {
        double num = 0, den = 0, maxAbs = 0;
        for (int j = 0; j < reference.length; j++) {
            double d = reference[j] - other[j];
            num += d * d;
            den += (double) reference[j] * reference[j];
            maxAbs = Math.max(maxAbs, Math.abs(d));
        }
        return new Diff(num / den, maxAbs);
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The largest value less the second largest: a greedy choice is a near tie where this is small. */
    static double topTwoMargin(float[] v) {
        float[] s = v.clone();
        Arrays.sort(s);
        return s[s.length - 1] - s[s.length - 2];
    }
}
