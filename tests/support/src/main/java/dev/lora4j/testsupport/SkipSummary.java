package dev.lora4j.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The skip summary that ends a test run: every test or class that was skipped, in every module, with its reason,
 * grouped by reason. Reads what {@link SkipRecorder} wrote ({@code target/skipped-tests-*.tsv} in each module
 * under the project root), only the files written after {@code --since FILE}'s modification time (the launcher
 * touches it when a run starts), so an earlier run's skips are not counted. Run by {@code ./lora4j test} as a source
 * file (it needs only the JDK): {@code java SkipSummary.java ROOT [--since FILE]}.
 */
public final class SkipSummary {
    private SkipSummary() {}

    record Skipped(String test, String reason) {}

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: SkipSummary ROOT [--since FILE]");
            System.exit(2);
        }
        FileTime since = args.length >= 3 && args[1].equals("--since") && Files.exists(Path.of(args[2]))
                ? Files.getLastModifiedTime(Path.of(args[2])) : FileTime.fromMillis(0);
        List<Skipped> skipped = new ArrayList<>();
        for (Path f : records(Path.of(args[0]), since)) {
            skipped.addAll(read(f));
        }
        System.out.println(format(skipped));
    }

    /** The SkipRecorder files under root written at or after {@code since}. */
    static List<Path> records(Path root, FileTime since) throws IOException {
        try (Stream<Path> s = Files.walk(root, 5)) {
            return s.filter(p -> p.getFileName().toString().matches("skipped-tests-[0-9]+\\.tsv"))
                    .filter(p -> p.getParent().getFileName().toString().equals("target"))
                    .filter(p -> {
                        try {
                            return Files.getLastModifiedTime(p).compareTo(since) >= 0;
                        } catch (IOException e) {
                            return false;
                        }
                    })
                    .sorted().toList();
        }
    }

    static List<Skipped> read(Path records) throws IOException {
        List<Skipped> out = new ArrayList<>();
        for (String line : Files.readAllLines(records, StandardCharsets.UTF_8)) {
            int tab = line.indexOf('\t');
            if (tab > 0) {
                out.add(new Skipped(line.substring(0, tab), line.substring(tab + 1)));
            }
        }
        return out;
    }

    static String format(List<Skipped> skipped) {
        Map<String, TreeSet<String>> byReason = new TreeMap<>();
        for (Skipped s : skipped) {
            byReason.computeIfAbsent(s.reason(), r -> new TreeSet<>()).add(s.test());
        }
        StringBuilder sb = new StringBuilder("Skipped: ").append(skipped.size()).append(skipped.size() == 1 ? " test or class" : " tests or classes");
        byReason.forEach((reason, tests) -> sb.append("\n- ").append(reason).append("\n    ").append(String.join(", ", tests)));
        return sb.toString();
    }
}
