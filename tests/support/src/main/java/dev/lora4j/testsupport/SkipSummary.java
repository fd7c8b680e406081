package dev.lora4j.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The skip summary that ends a test run: every test that Surefire reports as skipped, in every module, with its
 * reason, grouped by reason. Reads {@code target/surefire-reports/TEST-*.xml} under the project root, only the
 * reports written after {@code --since FILE}'s modification time (the launcher touches it when a run starts), so a
 * report left from an earlier run is not counted. Run by {@code ./lora4j test}, also as a source file (it needs only
 * the JDK): {@code java SkipSummary.java ROOT [--since FILE]}.
 */
public final class SkipSummary {
    private SkipSummary() {}

    record Skipped(String test, String reason) {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: SkipSummary ROOT [--since FILE]");
            System.exit(2);
        }
        Path root = Path.of(args[0]);
        FileTime since = args.length >= 3 && args[1].equals("--since") && Files.exists(Path.of(args[2]))
                ? Files.getLastModifiedTime(Path.of(args[2])) : FileTime.fromMillis(0);
        List<Skipped> skipped = new ArrayList<>();
        int reports = 0;
        for (Path report : reports(root, since)) {
            reports++;
            skipped.addAll(read(report));
        }
        System.out.println(format(skipped, reports));
    }

    static List<Path> reports(Path root, FileTime since) throws IOException {
        try (Stream<Path> s = Files.walk(root, 6)) {
            return s.filter(p -> p.getFileName().toString().startsWith("TEST-") && p.getFileName().toString().endsWith(".xml"))
                    .filter(p -> p.getParent().getFileName().toString().equals("surefire-reports"))
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

    static List<Skipped> read(Path report) throws Exception {
        var factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        NodeList cases = factory.newDocumentBuilder().parse(report.toFile()).getElementsByTagName("testcase");
        List<Skipped> out = new ArrayList<>();
        for (int i = 0; i < cases.getLength(); i++) {
            Element c = (Element) cases.item(i);
            NodeList skip = c.getElementsByTagName("skipped");
            if (skip.getLength() == 0) {
                continue;
            }
            String cls = c.getAttribute("classname");
            String test = cls.substring(cls.lastIndexOf('.') + 1) + (c.getAttribute("name").isEmpty() ? "" : "." + c.getAttribute("name"));
            out.add(new Skipped(test, reason((Element) skip.item(0))));
        }
        return out;
    }

    /** The skip's message attribute, else the first line of its stack trace, without the exception's class name. */
    static String reason(Element skipped) {
        String m = skipped.getAttribute("message");
        if (m.isBlank()) {
            m = skipped.getTextContent().strip().lines().findFirst().orElse("")
                    .replaceFirst("^[\\w.$]+(Exception|Error): ?", "");
        }
        m = m.replaceFirst("^Assumption failed: ", "").strip();
        return m.isEmpty() ? "(no reason given)" : m;
    }

    static String format(List<Skipped> skipped, int reports) {
        StringBuilder sb = new StringBuilder();
        sb.append("Skipped tests: ").append(skipped.size()).append(" (from ").append(reports).append(" test reports of this run)");
        Map<String, List<String>> byReason = new TreeMap<>();
        for (Skipped s : skipped) {
            byReason.computeIfAbsent(s.reason(), r -> new ArrayList<>()).add(s.test());
        }
        byReason.forEach((reason, tests) -> {
            sb.append("\n- ").append(reason).append("\n    ");
            sb.append(String.join(", ", tests.stream().sorted().toList()));
        });
        return sb.toString();
    }
}
