/**
 * GGUF files in pure Java: reading, validating, writing and generating them, with no native code.
 *
 * <ul>
 *   <li>{@link dev.lora4j.gguf.GgufFile} maps a GGUF v2/v3 file and validates all of it on open (counts and
 *       lengths against the file size before anything is allocated, UTF-8, types, dims, alignment, tensor
 *       bounds and overlaps), so a malformed file fails with a {@link dev.lora4j.gguf.GgufFormatException}
 *       naming the file and byte offset before it can reach llama.cpp. Metadata comes as ordered
 *       {@link dev.lora4j.gguf.GgufValue}s that keep their declared {@link dev.lora4j.gguf.GgufValueType};
 *       tensor data as read-only {@link java.lang.foreign.MemorySegment} slices of the mapping.</li>
 *   <li>{@link dev.lora4j.gguf.GgufWriter} streams a GGUF v3 file in ggml's canonical layout and replaces
 *       the target atomically; {@code GgufWriter.copyOf(file).write(path)} reproduces a canonical file
 *       byte for byte.</li>
 *   <li>{@link dev.lora4j.gguf.GgmlType} lists every ggml tensor type with its block geometry;
 *       {@link dev.lora4j.gguf.GgmlQuant} converts F32/F16/BF16/Q8_0/Q4_0 bit-exactly like ggml's reference
 *       code (and dequantises a few more types).</li>
 *   <li>{@link dev.lora4j.gguf.ModelBuilder} writes random-weight models of a given
 *       {@link dev.lora4j.gguf.ModelSpec} (presets by parameter count) in the layout of one of the architectures
 *       people fine-tune ({@link dev.lora4j.gguf.ModelSpec.Arch}: llama, Llama 3, Qwen2, Qwen3, Qwen3-MoE,
 *       Mistral 3, Phi-3, Gemma 3) with a real tokenizer copied from a vocabulary GGUF, for tests and
 *       benchmarks.</li>
 * </ul>
 *
 * <p>Errors: malformed files throw {@link dev.lora4j.gguf.GgufFormatException} (a
 * {@link dev.lora4j.Lora4jException}); I/O failures, including a missing file
 * ({@link java.nio.file.NoSuchFileException} as the cause), throw {@link java.io.UncheckedIOException};
 * misuse throws {@link IllegalArgumentException} or {@link IllegalStateException} (e.g. use after close).
 */
package dev.lora4j.gguf;
