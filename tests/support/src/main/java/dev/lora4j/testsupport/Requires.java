package dev.lora4j.testsupport;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What a test needs from its machine: the real files of {@code ../shared}, a C compiler, libclang, a tmpfs mount.
 * Where it is missing the test is skipped with the reason, which the run's skip summary lists
 * ({@link SkipSummary}); under CI (the environment variable {@code CI} set and not {@code false}) or with
 * {@code -Dlora4j.strict=true} it fails instead, so that CI never passes by skipping what it exists to run.
 * Tests that need a GPU skip on a CPU build in CI too: they call {@code assumeTrue} themselves.
 */
public final class Requires {
    private Requires() {}

    /** Whether a missing requirement fails the test instead of skipping it. */
    public static boolean strict() {
        String ci = System.getenv("CI");
        return (ci != null && !ci.isEmpty() && !ci.equalsIgnoreCase("false")) || Boolean.getBoolean("lora4j.strict");
    }

    /** Skips the test (fails it under CI) with {@code reason} when {@code ok} is false. */
    public static void that(boolean ok, String reason) {
        if (!ok) {
            if (strict()) {
                fail(reason + " (required: CI is set or -Dlora4j.strict=true, so this fails instead of skipping)");
            }
            assumeTrue(false, reason);
        }
    }
}
