package dev.lora4j.internal;

import java.util.SplittableRandom;

/** Normal random numbers drawn from a seeded stream by Box-Muller: the same seed gives the same values on every JVM. */
public final class Gaussian {
    private Gaussian() {}

    /** {@code n} values from N(0, std²); all zero when {@code std} is 0 (the stream is not advanced then). */
    public static float[] sample(SplittableRandom r, int n, double std) {
        float[] v = new float[n];
        if (std != 0) {
            for (int i = 0; i < n; i++) {
                double u1 = 1.0 - r.nextDouble();
                double u2 = r.nextDouble();
                v[i] = (float) (std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
            }
        }
        return v;
    }
}
