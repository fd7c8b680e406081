package dev.lora4j.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code FILE[:SCALE]}, the one parser of the CLI's --lora (generate and merge). */
class MergeOptionsTest {
    @Test
    void adapterSpecs() {
        assertEquals(new MergeOptions.Adapter(Path.of("a.gguf"), 1f), MergeOptions.Adapter.parse("a.gguf"));
        assertEquals(new MergeOptions.Adapter(Path.of("a.gguf"), 0.5f), MergeOptions.Adapter.parse("a.gguf:0.5"));
        assertEquals(new MergeOptions.Adapter(Path.of("a.gguf"), -2f), MergeOptions.Adapter.parse("a.gguf: -2 "));
        assertEquals(new MergeOptions.Adapter(Path.of("dir:x/a.gguf"), 1f), MergeOptions.Adapter.parse("dir:x/a.gguf"), "a ':' in the name");
        assertEquals(new MergeOptions.Adapter(Path.of("a.gguf:"), 1f), MergeOptions.Adapter.parse("a.gguf:"));
        assertEquals(new MergeOptions.Adapter(Path.of(":2"), 1f), MergeOptions.Adapter.parse(":2"));
        for (String bad : new String[] {"a.gguf:NaN", "a.gguf:Infinity", "a.gguf:1e40"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MergeOptions.Adapter.parse(bad));
            assertTrue(e.getMessage().contains("must be finite"), e.getMessage());
        }
    }
}
