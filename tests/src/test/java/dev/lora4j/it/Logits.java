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

    /** max |reference - other| / max |reference|: the largest difference relative to the logits' scale. */
    static double relativeError(float[] reference, float[] other) {
        double diff = 0, scale = 0;
        for (int i = 0; i < reference.length; i++) {
            diff = Math.max(diff, Math.abs((double) reference[i] - other[i]));
            scale = Math.max(scale, Math.abs(reference[i]));
        }
        return diff / scale;
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
