/**
 * LoRA training. The data side: {@link dev.lora4j.train.TrainingData#load} reads plain text, JSON lines with a
 * text field or template, prompt/completion pairs (loss on the completion only) or chats (loss on the assistant
 * replies), tokenizes them and cuts them into packed or padded {@link dev.lora4j.train.TrainingSample}s with
 * masked labels, a seeded validation split and {@link dev.lora4j.train.DataStats} of everything skipped, padded or
 * split ({@link dev.lora4j.train.DataOptions}, {@link dev.lora4j.train.DataFormat},
 * {@link dev.lora4j.train.TrainingDataException} with file and line). The reporting side:
 * {@link dev.lora4j.train.LossLog}, a flushed, resumable CSV of the loss per step, and
 * {@link dev.lora4j.train.LossPlot}, a PNG chart of the training and validation loss. The trainer itself (the
 * LoRA configuration, the training configuration and the native training step) builds on both.
 */
package dev.lora4j.train;
