package dev.lora4j.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code lora4j inspect FILE [--json]}: metadata and tensors of a GGUF file, read in Java (no native code). */
@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Print a GGUF file's metadata and tensors.")
final class InspectCommand implements Callable<Integer> {
    private static final int MAX_ARRAY_SHOWN = 8;

    @Mixin
    CommonOptions common;

    @Parameters(index = "0", description = "GGUF file.")
    Path file;

    @Option(names = "--json", description = "Print JSON (arrays in full).")
    boolean json;

    @Option(names = "--no-tensors", description = "Leave out the tensor list.")
    boolean noTensors;

    @Override
    public Integer call() {
        common.apply();
        PrintStream out = CommonOptions.stdout();
        try (GgufFile f = GgufFile.open(file)) {
            if (json) {
                out.println(new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().serializeSpecialFloatingPointValues().create().toJson(toJson(f)));
            } else {
                printText(f, out);
            }
        }
        return 0;
    }

    private JsonObject toJson(GgufFile f) {
        JsonObject o = new JsonObject();
        o.addProperty("file", f.path().toString());
        o.addProperty("size", f.fileSize());
        o.addProperty("version", f.version());
        o.addProperty("alignment", f.alignment());
        JsonObject meta = new JsonObject();
        for (Map.Entry<String, GgufValue> e : f.metadata().entrySet()) {
            meta.add(e.getKey(), new GsonBuilder().serializeSpecialFloatingPointValues().create().toJsonTree(e.getValue().value()));
        }
        o.add("metadata", meta);
        if (!noTensors) {
            JsonArray tensors = new JsonArray();
            for (GgufTensorInfo t : f.tensors()) {
                JsonObject to = new JsonObject();
                to.addProperty("name", t.name());
                JsonArray shape = new JsonArray();
                for (long d : t.shape()) {
                    shape.add(new JsonPrimitive(d));
                }
                to.add("shape", shape);
                to.addProperty("type", t.type().name());
                to.addProperty("offset", t.offset());
                to.addProperty("bytes", t.byteSize());
                tensors.add(to);
            }
            o.add("tensors", tensors);
        }
        return o;
    }

    private void printText(GgufFile f, PrintStream out) {
        out.printf("%s: GGUF v%d, %,d bytes, alignment %d, %d metadata keys, %d tensors%n", f.path(), f.version(), f.fileSize(),
                f.alignment(), f.metadata().size(), f.tensors().size());
        out.println("metadata:");
        for (Map.Entry<String, GgufValue> e : f.metadata().entrySet()) {
            out.printf("  %-40s %-16s %s%n", e.getKey(), e.getValue().describeType(), render(e.getValue()));
        }
        if (!noTensors) {
            out.println("tensors:");
            long params = 0;
            for (GgufTensorInfo t : f.tensors()) {
                out.printf("  %-36s %-8s %-24s %,14d bytes%n", t.name(), t.type(), Arrays.toString(t.shape()), t.byteSize());
                params += t.elementCount();
            }
            out.printf("%,d parameters%n", params);
        }
    }

    private static String render(GgufValue v) {
        if (!v.isArray()) {
            String s = String.valueOf(v.value());
            s = s.replace("\n", "\\n");
            return s.length() > 120 ? s.substring(0, 117) + "..." : s;
        }
        if (v.length() <= MAX_ARRAY_SHOWN) {
            return String.valueOf(v.value());
        }
        return "[" + v.length() + " elements]";
    }
}
