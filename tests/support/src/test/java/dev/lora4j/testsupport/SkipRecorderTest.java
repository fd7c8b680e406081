package dev.lora4j.testsupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/** Runs sample classes through the JUnit launcher with a SkipRecorder, as Surefire runs every module's tests. */
class SkipRecorderTest {
    @TempDir
    Path tmp;

    static class Sample {
        @Test
        void runs() {}

        @Test
        void assumption() {
            assumeTrue(false, "needs ../shared/models");
        }

        @Disabled("not on this platform")
        @Test
        void disabled() {}

        @ParameterizedTest
        @ValueSource(ints = {1, 2})
        void cases(int i) {
            assumeTrue(i == 1, "only one");
        }
    }

    /** Skipped in {@code @BeforeAll}: Surefire's reports leave such a class out altogether. */
    static class WholeClass {
        @BeforeAll
        static void prepare() {
            assumeTrue(false, "needs a tmpfs");
        }

        @Test
        void a() {}
    }

    @Test
    void recordsEverySkipWithItsReason() throws Exception {
        Path file = tmp.resolve("target/skipped-tests-1.tsv");
        var launcher = LauncherFactory.create(LauncherConfig.builder().enableTestExecutionListenerAutoRegistration(false).build());
        launcher.execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(Sample.class), selectClass(WholeClass.class)).build(),
                new SkipRecorder(file));
        assertEquals(List.of(
                "SkipRecorderTest$Sample.assumption\tneeds ../shared/models",
                "SkipRecorderTest$Sample.cases[[2] 2]\tonly one",
                "SkipRecorderTest$Sample.disabled\tnot on this platform",
                "SkipRecorderTest$WholeClass (the whole class)\tneeds a tmpfs"), Files.readAllLines(file).stream().sorted().toList());
    }
}
