package dev.lora4j.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@link TrainingData#load} made of the data, so that nothing is dropped silently: documents read and
 * skipped (by reason), samples, tokens, masked and padded positions, documents longer than the context.
 * Counts cover the training file and the validation file (when there is one) together.
 *
 * @param format           the format the data was read as (AUTO resolved)
 * @param contextLength    tokens per sample
 * @param packing          whether documents were packed into one stream
 * @param documentsRead    documents read, including skipped ones (blank JSONL lines are not documents)
 * @param skipped          documents skipped, by reason ({@link #EMPTY}, {@link #UNENCODABLE})
 * @param blankLines       blank lines in JSON-lines files, ignored
 * @param trainDocuments   documents in the training set
 * @param validationDocuments documents in the validation set
 * @param trainSamples     training samples (windows of {@code contextLength} tokens)
 * @param validationSamples validation samples
 * @param tokens           positions holding document tokens (all samples; padding not included)
 * @param lossTokens       positions whose prediction counts in the loss (labels that are not masked)
 * @param paddingTokens    padded positions (EOS, masked)
 * @param splitDocuments   documents longer than one window: split into several samples (packing off) or spanning
 *                         several windows (packing on); never truncated
 * @param longestDocument  tokens of the longest document, BOS and EOS included
 * @param capped           reading stopped at {@code maxDocuments} with more data left in a file
 */
public record DataStats(DataFormat format, int contextLength, boolean packing, int documentsRead,
                        Map<String, Integer> skipped, int blankLines, int trainDocuments, int validationDocuments,
                        int trainSamples, int validationSamples, long tokens, long lossTokens, long paddingTokens,
                        int splitDocuments, int longestDocument, boolean capped) {

    /** Skip reason: the document's text is empty after formatting, or tokenizes to nothing (with skipEmpty). */
    public static final String EMPTY = "empty text";
    /** Skip reason: the vocabulary cannot encode the document (with skipUnencodable). */
    public static final String UNENCODABLE = "cannot be encoded by the vocabulary";

    public DataStats {
        skipped = Collections.unmodifiableMap(new LinkedHashMap<>(skipped));
    }

    public int samples() {
        return trainSamples + validationSamples;
    }

    public int skippedDocuments() {
        return skipped.values().stream().mapToInt(Integer::intValue).sum();
    }

    /** The things a user should be told: skipped documents, split documents, blank lines, the cap. */
    public List<String> notes() {
        List<String> notes = new ArrayList<>();
        skipped.forEach((reason, n) -> notes.add(String.format(Locale.ROOT, "skipped %,d document%s: %s", n, n == 1 ? "" : "s", reason)));
        if (blankLines > 0) {
            notes.add(String.format(Locale.ROOT, "ignored %,d blank line%s", blankLines, blankLines == 1 ? "" : "s"));
        }
        if (splitDocuments > 0) {
            notes.add(String.format(Locale.ROOT, packing
                    ? "%,d document%s longer than the context of %,d tokens span several windows (longest: %,d tokens)"
                    : "%,d document%s longer than the context of %,d tokens were split into several samples, not truncated (longest: %,d tokens)",
                    splitDocuments, splitDocuments == 1 ? "" : "s", contextLength, longestDocument));
        }
        if (capped) {
            notes.add("stopped reading at maxDocuments: the file has more documents");
        }
        return notes;
    }

    /** A few lines for people: documents, samples, tokens, and the {@link #notes()}. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%,d documents (%s): %,d train, %,d validation%n", documentsRead, format,
                trainDocuments, validationDocuments));
        sb.append(String.format(Locale.ROOT, "%,d samples of %,d tokens (%s): %,d train, %,d validation%n", samples(),
                contextLength, packing ? "packed" : "one document each, padded", trainSamples, validationSamples));
        long positions = tokens + paddingTokens;
        sb.append(String.format(Locale.ROOT, "%,d tokens, %,d counted in the loss (%.1f%%), %,d padding (%.1f%%)%n", tokens,
                lossTokens, positions == 0 ? 0.0 : 100.0 * lossTokens / positions, paddingTokens,
                positions == 0 ? 0.0 : 100.0 * paddingTokens / positions));
        for (String n : notes()) {
            sb.append(n).append(System.lineSeparator());
        }
        return sb.toString().stripTrailing();
    }
}
