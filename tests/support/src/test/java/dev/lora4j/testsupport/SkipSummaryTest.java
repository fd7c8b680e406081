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

    /** Surefire 3.5's report of JUnit 5 skips: an assumption's reason only in the stack trace, @Disabled's in message. */
    private static final String REPORT = """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuite name="dev.lora4j.it.XIT" tests="4" skipped="3">
              <testcase name="runs" classname="dev.lora4j.it.XIT" time="0.1"/>
              <testcase name="needsShared" classname="dev.lora4j.it.XIT" time="0.0">
                <skipped type="org.opentest4j.TestAbortedException"><![CDATA[org.opentest4j.TestAbortedException: Assumption failed: needs ../shared/models
            \tat org.junit.jupiter.api.Assumptions.throwAssumptionFailed(Assumptions.java:321)
            ]]></skipped>
              </testcase>
              <testcase name="alsoNeedsShared" classname="dev.lora4j.it.XIT" time="0.0">
                <skipped type="org.opentest4j.TestAbortedException"><![CDATA[org.opentest4j.TestAbortedException: Assumption failed: needs ../shared/models]]></skipped>
              </testcase>
              <testcase name="off" classname="dev.lora4j.it.XIT" time="0.0"><skipped message="not on this platform"/></testcase>
            </testsuite>
            """;

    @Test
    void listsEverySkipWithItsReasonGroupedByReason() throws Exception {
        Path reports = Files.createDirectories(tmp.resolve("m/target/surefire-reports"));
        Files.writeString(reports.resolve("TEST-dev.lora4j.it.XIT.xml"), REPORT);
        List<SkipSummary.Skipped> skipped = SkipSummary.read(reports.resolve("TEST-dev.lora4j.it.XIT.xml"));
        assertEquals(List.of(new SkipSummary.Skipped("XIT.needsShared", "needs ../shared/models"),
                new SkipSummary.Skipped("XIT.alsoNeedsShared", "needs ../shared/models"),
                new SkipSummary.Skipped("XIT.off", "not on this platform")), skipped);
        assertEquals("""
                Skipped tests: 3 (from 1 test reports of this run)
                - needs ../shared/models
                    XIT.alsoNeedsShared, XIT.needsShared
                - not on this platform
                    XIT.off""", SkipSummary.format(skipped, 1));
    }

    @Test
    void reportsOfEarlierRunsAreLeftOut() throws Exception {
        Path reports = Files.createDirectories(tmp.resolve("m/target/surefire-reports"));
        Path old = Files.writeString(reports.resolve("TEST-a.xml"), REPORT);
        Files.setLastModifiedTime(old, FileTime.fromMillis(1_000));
        Path fresh = Files.writeString(reports.resolve("TEST-b.xml"), REPORT);
        assertEquals(List.of(fresh), SkipSummary.reports(tmp, FileTime.fromMillis(2_000)));
        assertEquals(2, SkipSummary.reports(tmp, FileTime.fromMillis(0)).size());
    }
}
