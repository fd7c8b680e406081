/**
 * Merging LoRA adapters into a base model: {@link dev.lora4j.merge.LoraMerger#merge} writes a new GGUF model with
 * {@code W' = W + Σ scale·alpha/r·B·A} for every adapted tensor, streaming and atomically, with the numbers of
 * llama.cpp's {@code llama-export-lora} (the same ggml graph), any output type including re-quantisation to each
 * tensor's own type ({@link dev.lora4j.merge.OutputType#KEEP}), and a {@link dev.lora4j.merge.MergeReport} of the
 * error of every merged tensor. The command line is {@code lora4j merge}.
 */
package dev.lora4j.merge;
