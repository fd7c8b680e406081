package dev.lora4j.fuzz;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufFormatException;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import java.nio.file.Path;

/**
 * Arbitrary bytes as a GGUF file: {@link GgufFile#open} either reads it (every value and tensor then readable) or
 * throws {@link GgufFormatException}. Seeds: small complete GGUFs written by {@link FuzzIT}.
 */
public final class GgufReaderFuzz {
    private static Path file;

    public static void fuzzerInitialize() {
        file = FuzzInputs.scratch("reader.gguf");
    }

    public static void fuzzerTearDown() {
        FuzzInputs.flush();
    }

    public static void fuzzerTestOneInput(byte[] input) {
        FuzzInputs.write(file, input);
        try (GgufFile f = GgufFile.open(file)) {
            for (var e : f.metadata().entrySet()) {
                GgufValue v = e.getValue();
                v.toString();
                v.describeType();
            }
            long bytes = 0;
            for (GgufTensorInfo t : f.tensors()) {
                bytes += f.tensorData(t.name()).byteSize();
                if (t.byteSize() <= 1 << 16 && dev.lora4j.gguf.GgmlQuant.canDequantize(t.type())) {
                    f.tensorFloats(t.name());
                }
            }
            if (bytes > f.fileSize()) {
                throw new AssertionError("tensor data beyond the end of the file: " + bytes + " > " + f.fileSize());
            }
            FuzzInputs.count("accepted");
        } catch (GgufFormatException e) {
            FuzzInputs.rejected(e);
        }
    }
}
