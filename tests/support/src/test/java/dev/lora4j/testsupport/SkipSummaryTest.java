package dev.lora4j.testsupport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SkipSummaryTest {
    @TempDir
    Path tmp;

    @Test
    void listsEverySkipWithItsReasonGroupedByReason() throws Exception {
        Path f = Files.createDirectories(tmp.resolve("m/target")).resolve("skipped-tests-42.tsv");
        Files.writeString(f, """
                XIT.needsShared\tneeds ../shared/models
                XIT.alsoNeedsShared\tneeds ../shared/models
                FuzzIT (the whole class)\tneeds ../shared/models
                XIT.off\tnot on this platform
                """);
        List<SkipSummary.Skipped> skipped = SkipSummary.read(f);
        assertEquals(4, skipped.size());
        assertEquals(new SkipSummary.Skipped("XIT.off", "not on this platform"), skipped.get(3));
        assertEquals("""
                Skipped: 4 tests or classes
                - needs ../shared/models
                    FuzzIT (the whole class), XIT.alsoNeedsShared, XIT.needsShared
                - not on this platform
                    XIT.off""", SkipSummary.format(skipped));
    }

    @Test
    void recordsOfEarlierRunsAreLeftOut() throws Exception {
        Path target = Files.createDirectories(tmp.resolve("m/target"));
        Path old = Files.writeString(target.resolve("skipped-tests-1.tsv"), "A.a\tx\n");
        Files.setLastModifiedTime(old, FileTime.fromMillis(1_000));
        Path fresh = Files.writeString(target.resolve("skipped-tests-2.tsv"), "B.b\ty\n");
        assertEquals(List.of(fresh), SkipSummary.records(tmp, FileTime.fromMillis(2_000)));
        assertEquals(2, SkipSummary.records(tmp, FileTime.fromMillis(0)).size());
    }
}
