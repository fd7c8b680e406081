package dev.lora4j.langchain4j;

import dev.lora4j.testsupport.Requires;
import java.nio.file.Files;
import java.nio.file.Path;

/** The real models of ../shared beside the checkout, found as the tests module's TestFiles finds them. */
final class SharedModels {
    private SharedModels() {}

    static Path model(String name) {
        Path root = Path.of(System.getProperty("lora4j.root", "..")).toAbsolutePath().normalize();
        Path p = root.resolveSibling("shared").resolve("models").resolve(name);
        Requires.that(Files.isRegularFile(p), "needs " + p + " (../shared/models beside the checkout; CI has it)");
        return p;
    }
}
