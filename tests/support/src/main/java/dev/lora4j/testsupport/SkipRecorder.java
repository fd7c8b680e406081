package dev.lora4j.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

/**
 * Writes down every test or test class that was skipped (an assumption, {@code @Disabled}) with its reason, one
 * {@code TEST<tab>REASON} line each, in {@code target/skipped-tests-<pid>.tsv} of the module being tested. Registered
 * through {@code META-INF/services} in every module that has this jar on its test class path. Unlike Surefire's
 * reports it also sees a class skipped as a whole in {@code @BeforeAll}, whose tests Surefire does not report.
 */
public final class SkipRecorder implements TestExecutionListener {
    private final Path file;

    public SkipRecorder() {
        this(Path.of("target", "skipped-tests-" + ProcessHandle.current().pid() + ".tsv"));
    }

    SkipRecorder(Path file) {
        this.file = file;
    }

    @Override
    public void executionSkipped(TestIdentifier test, String reason) {
        record(test, reason);
    }

    @Override
    public void executionFinished(TestIdentifier test, TestExecutionResult result) {
        if (result.getStatus() == TestExecutionResult.Status.ABORTED) {
            record(test, result.getThrowable().map(Throwable::getMessage).orElse(null));
        }
    }

    private synchronized void record(TestIdentifier test, String reason) {
        String why = reason == null || reason.isBlank() ? "(no reason given)" : reason.replaceFirst("^Assumption failed: ", "");
        String line = name(test) + "\t" + why.replaceAll("\\s+", " ").strip() + "\n";
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.writeString(file, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Class.method, Class (a whole class), or Class.method[invocation] for one case of a parameterised test. */
    static String name(TestIdentifier test) {
        return test.getSource().map(s -> {
            if (s instanceof MethodSource m) {
                String method = simple(m.getClassName()) + "." + m.getMethodName();
                return test.getType().isTest() && !test.getDisplayName().startsWith(m.getMethodName() + "(")
                        ? method + "[" + test.getDisplayName() + "]" : method;
            }
            if (s instanceof ClassSource c) {
                return simple(c.getClassName()) + " (the whole class)";
            }
            return test.getDisplayName();
        }).orElse(test.getDisplayName());
    }

    private static String simple(String className) {
        return className.substring(className.lastIndexOf('.') + 1);
    }
}
