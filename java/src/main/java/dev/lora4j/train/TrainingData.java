package dev.lora4j.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import dev.lora4j.ChatMessage;
import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.TokenizationException;
import dev.lora4j.Vocabulary;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;

/**
 * Training data, tokenized and cut into {@link TrainingSample}s of exactly {@link DataOptions#contextLength()} tokens:
 * {@link #train()}, {@link #validation()} and what was made of the file, {@link #stats()}. Deterministic for a given
 * file, options and vocabulary.
 *
 * <h2>Documents</h2>
 * <ul>
 * <li>{@link DataFormat#TEXT}: UTF-8 text; a line equal to the separator (default {@code <|endoftext|>}, surrounding
 *     white space ignored) ends a document; with the separator {@code ""}, runs of blank lines separate documents
 *     (paragraphs). A file without separator lines is one document. Leading and trailing blank lines of a document are
 *     dropped; white space after the last separator is not a document; an empty document between two separators is
 *     an empty document (below). Special-token text in the document (e.g. {@code <s>}) stays plain text.</li>
 * <li>{@link DataFormat#JSONL_TEXT}: one JSON object per line; the document is the object's {@code field} (default
 *     {@code text}) or the {@code template} with each {@code {key}} replaced by that value, trimmed.</li>
 * <li>{@link DataFormat#PROMPT_COMPLETION}: the document is {@code prompt + completion} (concatenated as they are:
 *     put the separator, e.g. a space or newline, in the data); the loss counts only the completion's tokens and the
 *     EOS. The boundary is the longest common token prefix of the prompt alone and the whole text, so a token that
 *     straddles the boundary is learned.</li>
 * <li>{@link DataFormat#CHAT}: {@code messages: [{role, content}, ...]} formatted with the chat template (the
 *     option's, else the model's), special tokens parsed; the loss counts every assistant reply with the
 *     template's end-of-turn text after it. Each reply is located by rendering the conversation up to it with and
 *     without the assistant prompt; when a template does not render turn by turn (a prefix of the conversation is
 *     not a prefix of its rendering), only the final message, which must then be the assistant's, is learned.
 *     A conversation without an assistant message is an error.</li>
 * </ul>
 * Blank lines in JSON-lines files are ignored and counted. Every document becomes {@code BOS} (when the vocabulary
 * adds one and the text does not start with it) + its tokens + {@code EOS}; the EOS is learned (the model learns
 * to stop), the BOS never is.
 *
 * <h2>Samples</h2>
 * Documents are shuffled with the seed, then the first {@code round(n × validationFraction)} (at least one) go to
 * validation, the rest to training (a separate validation file is used whole, in file order).
 * <ul>
 * <li>Packing on: each set's documents are concatenated into one stream and cut into windows of
 *     {@code contextLength + 1} tokens overlapping by one ({@code tokens = stream[s, s+C)},
 *     {@code labels = stream[s+1, s+C+1)}, {@code s = 0, C, 2C, ...}); attention is not masked at document
 *     boundaries; the prediction of a document's BOS (after the previous EOS) is masked; the last window is padded.</li>
 * <li>Packing off: each document is its own sample, padded with EOS (padding labelled {@link TrainingSample#IGNORE});
 *     a document longer than the context is split into several windows the same way, never truncated (counted in
 *     {@link DataStats#splitDocuments()}).</li>
 * </ul>
 *
 * <h2>Errors</h2>
 * A {@link TrainingDataException} with the file and line: an empty file, invalid UTF-8 (with its byte offset),
 * malformed JSON, a line that is not an object, a missing or non-text field, an empty document (unless
 * {@link DataOptions#skipEmpty()}), a document the vocabulary cannot encode (unless
 * {@link DataOptions#skipUnencodable()}), a sample with nothing to learn (a prompt that fills the context), a file
 * that yields no document, a validation split that leaves no training or no validation document.
 */
public final class TrainingData {
    private final Path file;
    private final DataOptions options;
    private final DataFormat format;
    private final List<TrainingSample> train;
    private final List<TrainingSample> validation;
    private final DataStats stats;

    private TrainingData(Path file, DataOptions options, DataFormat format, List<TrainingSample> train,
                         List<TrainingSample> validation, DataStats stats) {
        this.file = file;
        this.options = options;
        this.format = format;
        this.train = train;
        this.validation = validation;
        this.stats = stats;
    }

    /**
     * Reads, tokenizes and cuts the data. CHAT data needs {@link #load(Path, DataOptions, Model)} (the template is
     * applied by the model).
     *
     * @throws TrainingDataException for unusable data (see the class documentation)
     * @throws UncheckedIOException  when the file cannot be read
     */
    public static TrainingData load(Path file, DataOptions options, Vocabulary vocabulary) {
        return load(file, options, Objects.requireNonNull(vocabulary, "vocabulary"), null);
    }

    /** As {@link #load(Path, DataOptions, Vocabulary)} with the model's vocabulary and chat template. */
    public static TrainingData load(Path file, DataOptions options, Model model) {
        Objects.requireNonNull(model, "model");
        return load(file, options, model.vocabulary(), model);
    }

    private static TrainingData load(Path file, DataOptions options, Vocabulary vocab, Model model) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(options, "options");
        Counts counts = new Counts();
        List<Line> lines = readLines(file);
        DataFormat format = resolveFormat(file, options, lines);
        List<Document> docs = new Reader(file, options, format, vocab, model, counts).documents(lines);
        if (docs.isEmpty()) {
            throw new TrainingDataException(file, 0, "no training documents: " + counts.describeSkips());
        }
        List<Document> trainDocs;
        List<Document> valDocs;
        List<Document> shuffled = new ArrayList<>(docs);
        Collections.shuffle(shuffled, new Random(options.seed()));
        if (options.validationFile() != null) {
            Path vf = options.validationFile();
            List<Line> vlines = readLines(vf);
            valDocs = new Reader(vf, options, format, vocab, model, counts).documents(vlines);
            if (valDocs.isEmpty()) {
                throw new TrainingDataException(vf, 0, "no validation documents: " + counts.describeSkips());
            }
            trainDocs = shuffled;
        } else if (options.validationFraction() > 0) {
            int n = shuffled.size();
            int nVal = (int) Math.max(1, Math.round(n * options.validationFraction()));
            if (nVal >= n) {
                throw new TrainingDataException(file, 0, String.format(Locale.ROOT,
                        "validationFraction %s leaves no training document: the file has only %d document%s; "
                                + "add data or give a separate validation file", options.validationFraction(), n, n == 1 ? "" : "s"));
            }
            valDocs = List.copyOf(shuffled.subList(0, nVal));
            trainDocs = List.copyOf(shuffled.subList(nVal, n));
        } else {
            valDocs = List.of();
            trainDocs = shuffled;
        }
        Windows windows = new Windows(options, format, vocab);
        List<TrainingSample> train = windows.cut(file, trainDocs);
        List<TrainingSample> val = windows.cut(options.validationFile() != null ? options.validationFile() : file, valDocs);
        if (train.isEmpty()) {
            throw new TrainingDataException(file, 0, "no training samples");
        }
        if (!valDocs.isEmpty() && val.isEmpty()) {
            throw new TrainingDataException(file, 0, "no validation samples");
        }
        int longest = 0;
        for (Document d : docs) {
            longest = Math.max(longest, d.tokens.length);
        }
        for (Document d : valDocs) {
            longest = Math.max(longest, d.tokens.length);
        }
        DataStats stats = new DataStats(format, options.contextLength(), options.packing(), counts.read, counts.skipped,
                counts.blankLines, trainDocs.size(), valDocs.size(), train.size(), val.size(), windows.tokens,
                windows.lossTokens, windows.padding, windows.split, longest, counts.capped);
        return new TrainingData(file, options, format, List.copyOf(train), List.copyOf(val), stats);
    }

    /** Training samples, in the (seeded) shuffled order of their documents. */
    public List<TrainingSample> train() {
        return train;
    }

    /** Validation samples (empty without a validation fraction or file). */
    public List<TrainingSample> validation() {
        return validation;
    }

    public DataStats stats() {
        return stats;
    }

    /** The format the file was read as ({@link DataFormat#AUTO} resolved). */
    public DataFormat format() {
        return format;
    }

    public Path file() {
        return file;
    }

    public DataOptions options() {
        return options;
    }

    @Override
    public String toString() {
        return "TrainingData[" + file + ", " + format + ", " + train.size() + " train + " + validation.size()
                + " validation samples of " + options.contextLength() + " tokens]";
    }

    // ---------------------------------------------------------------------------------------------------------
    // Reading

    private record Line(long number, String text) {
        boolean blank() {
            return text.isBlank();
        }
    }

    /** A tokenized document: {@code learn[j]} says whether predicting {@code tokens[j]} counts in the loss. */
    private record Document(int index, long line, int[] tokens, boolean[] learn) {}

    private static final class Counts {
        final Map<String, Integer> skipped = new LinkedHashMap<>();
        int read;
        int blankLines;
        boolean capped;

        void skip(String reason) {
            skipped.merge(reason, 1, Integer::sum);
        }

        String describeSkips() {
            if (read == 0) {
                return "the file has no documents";
            }
            StringBuilder sb = new StringBuilder(read + " read");
            skipped.forEach((r, n) -> sb.append(", ").append(n).append(" skipped (").append(r).append(')'));
            return sb.toString();
        }
    }

    /** The file's lines, strictly decoded as UTF-8 (a BOM is dropped, CR before LF too). */
    private static List<Line> readLines(Path file) {
        byte[] bytes;
        try {
            if (Files.isDirectory(file)) {
                throw new TrainingDataException(file, 0, "is a directory, not a data file");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TrainingDataException(file, 0, "no such file");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        List<Line> lines = new ArrayList<>();
        int start = bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF ? 3 : 0;
        long number = 1;
        while (start < bytes.length) {
            int end = start;
            while (end < bytes.length && bytes[end] != '\n') {
                end++;
            }
            int stop = end > start && bytes[end - 1] == '\r' ? end - 1 : end;
            ByteBuffer in = ByteBuffer.wrap(bytes, start, stop - start);
            CharBuffer out = CharBuffer.allocate(stop - start);
            decoder.reset();
            CoderResult r = decoder.decode(in, out, true);
            if (!r.isError()) {
                r = decoder.flush(out);
            }
            if (r.isError()) {
                throw new TrainingDataException(file, number, String.format(Locale.ROOT,
                        "invalid UTF-8 at byte offset %d (column %d): the file must be UTF-8 text", in.position(),
                        in.position() - start + 1));
            }
            out.flip();
            lines.add(new Line(number, out.toString()));
            start = end + 1;
            number++;
        }
        if (lines.stream().allMatch(Line::blank)) {
            throw new TrainingDataException(file, 0, "has no training text (the file is empty"
                    + (bytes.length > 0 ? " but for white space)" : ")"));
        }
        return lines;
    }

    private static DataFormat resolveFormat(Path file, DataOptions o, List<Line> lines) {
        if (o.format() != DataFormat.AUTO) {
            return o.format();
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        String ext = name.contains(".") ? name.substring(name.lastIndexOf('.') + 1) : "";
        Line first = lines.stream().filter(l -> !l.blank()).findFirst().orElseThrow();
        boolean json = switch (ext) {
            case "jsonl", "ndjson", "json" -> true;
            case "txt", "text", "md" -> false;
            default -> first.text.strip().startsWith("{") && looksLikeJsonObject(first.text);
        };
        boolean customPc = !o.promptField().equals(DataOptions.DEFAULT_PROMPT_FIELD)
                || !o.completionField().equals(DataOptions.DEFAULT_COMPLETION_FIELD);
        if (!json) {
            String jsonOption = o.field() != null ? "field '" + o.field() + "'" : o.template() != null ? "template '" + o.template() + "'"
                    : customPc ? "promptField/completionField" : o.chatTemplate() != null ? "chatTemplate" : null;
            if (jsonOption != null) {
                throw new TrainingDataException(file, 0, jsonOption + " is an option for JSON lines, but the file is read as plain text"
                        + " (by its name and first line); set the format explicitly");
            }
            return DataFormat.TEXT;
        }
        if (!o.documentSeparator().equals(DataOptions.DEFAULT_SEPARATOR)) {
            throw new TrainingDataException(file, 0, "documentSeparator is an option for plain text, but the file is read as JSON lines"
                    + "; set the format explicitly");
        }
        if (o.field() != null || o.template() != null) {
            return DataFormat.JSONL_TEXT;
        }
        if (customPc) {
            return DataFormat.PROMPT_COMPLETION;
        }
        if (o.chatTemplate() != null) {
            return DataFormat.CHAT;
        }
        JsonObject obj = parseObject(file, first);
        if (obj.has(o.promptField()) && obj.has(o.completionField())) {
            return DataFormat.PROMPT_COMPLETION;
        }
        if (obj.has("messages")) {
            return DataFormat.CHAT;
        }
        if (obj.has("text")) {
            return DataFormat.JSONL_TEXT;
        }
        throw new TrainingDataException(file, first.number, "cannot tell the data format from the keys " + obj.keySet()
                + ": name the text field (field, e.g. '" + obj.keySet().stream().findFirst().orElse("text")
                + "') or a template, or use 'prompt' + 'completion', 'messages' or 'text'");
    }

    private static boolean looksLikeJsonObject(String text) {
        try {
            return parseElement(text).isJsonObject();
        } catch (JsonParseException | IOException | IllegalStateException e) {
            return false;
        }
    }

    /** Strict JSON of one line: the whole line, one value. */
    private static JsonElement parseElement(String text) throws IOException {
        JsonReader reader = new JsonReader(new StringReader(text));
        reader.setStrictness(Strictness.STRICT);
        JsonElement e = JsonParser.parseReader(reader);
        boolean trailing;
        try {
            trailing = reader.peek() != JsonToken.END_DOCUMENT;
        } catch (IOException ex) {
            trailing = true;
        }
        if (trailing) {
            throw new JsonParseException("unexpected text after the JSON value (one object per line)");
        }
        return e;
    }

    private static JsonObject parseObject(Path file, Line line) {
        JsonElement e;
        try {
            e = parseElement(line.text);
        } catch (JsonParseException | IOException | IllegalStateException ex) {
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            msg = msg.replaceAll("(?s)\\s*See https?://\\S+.*$", "")
                    .replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "not valid JSON")
                    .replaceAll("^com\\.google\\.gson\\.stream\\.MalformedJsonException: ", "")
                    .replaceAll("at line 1 column (\\d+)", "at column $1");
            throw new TrainingDataException(file, line.number, "malformed JSON: " + msg, ex);
        }
        if (!e.isJsonObject()) {
            throw new TrainingDataException(file, line.number, "expected a JSON object per line, found "
                    + (e.isJsonArray() ? "an array" : e.isJsonNull() ? "null" : "the value " + abbreviate(e.toString(), 40)));
        }
        return e.getAsJsonObject();
    }

    private static String abbreviate(String s, int max) {
        return s.length() > max ? s.substring(0, max - 3) + "..." : s;
    }

    /** Turns lines into tokenized documents, skipping (and counting) what the options allow. */
    private static final class Reader {
        private final Path file;
        private final DataOptions o;
        private final DataFormat format;
        private final Vocabulary vocab;
        private final Model model;
        private final Counts counts;
        private final String chatTemplate;
        private final List<Document> docs = new ArrayList<>();

        Reader(Path file, DataOptions o, DataFormat format, Vocabulary vocab, Model model, Counts counts) {
            this.file = file;
            this.o = o;
            this.format = format;
            this.vocab = vocab;
            this.model = model;
            this.counts = counts;
            if (format == DataFormat.CHAT) {
                if (model == null) {
                    throw new TrainingDataException(file, 0, "chat data needs the model for its chat template: "
                            + "load it with TrainingData.load(file, options, model)");
                }
                String t = o.chatTemplate() != null ? o.chatTemplate() : model.chatTemplate().orElse(null);
                if (t == null) {
                    throw new TrainingDataException(file, 0, "chat data, but the model has no chat template "
                            + "(tokenizer.chat_template): give one (chatTemplate, e.g. 'chatml')");
                }
                this.chatTemplate = t;
            } else {
                this.chatTemplate = null;
            }
        }

        private boolean full() {
            return o.maxDocuments() > 0 && docs.size() >= o.maxDocuments();
        }

        List<Document> documents(List<Line> lines) {
            if (format == DataFormat.TEXT) {
                List<List<Line>> chunks = textChunks(lines);
                for (int i = 0; i < chunks.size(); i++) {
                    if (full()) {
                        counts.capped = true;
                        break;
                    }
                    textDocument(chunks.get(i));
                }
            } else {
                for (int i = 0; i < lines.size(); i++) {
                    Line line = lines.get(i);
                    if (line.blank()) {
                        counts.blankLines++;
                        continue;
                    }
                    if (full()) {
                        counts.capped = true;
                        break;
                    }
                    JsonObject obj = parseObject(file, line);
                    switch (format) {
                        case JSONL_TEXT -> jsonTextDocument(line, obj);
                        case PROMPT_COMPLETION -> promptCompletionDocument(line, obj);
                        case CHAT -> chatDocument(line, obj);
                        default -> throw new IllegalStateException(format.toString());
                    }
                }
            }
            return docs;
        }

        // ---- TEXT

        /** Documents as runs of lines; an empty run stands for an empty document between two separators. */
        private List<List<Line>> textChunks(List<Line> lines) {
            List<List<Line>> chunks = new ArrayList<>();
            String sep = o.documentSeparator();
            List<Line> current = new ArrayList<>();
            for (Line l : lines) {
                boolean isSep = sep.isEmpty() ? l.blank() : l.text.strip().equals(sep);
                if (!isSep) {
                    current.add(l);
                    continue;
                }
                if (sep.isEmpty()) {
                    if (current.stream().anyMatch(x -> !x.blank())) {
                        chunks.add(current);
                    }
                } else {
                    if (current.isEmpty() || current.stream().allMatch(Line::blank)) {
                        current = new ArrayList<>(current);
                        current.add(new Line(l.number, "")); // where the empty document ends: its line
                    }
                    chunks.add(current);
                }
                current = new ArrayList<>();
            }
            if (current.stream().anyMatch(x -> !x.blank())) {
                chunks.add(current);
            }
            return chunks;
        }

        private void textDocument(List<Line> chunk) {
            int from = 0;
            int to = chunk.size();
            while (from < to && chunk.get(from).blank()) {
                from++;
            }
            while (to > from && chunk.get(to - 1).blank()) {
                to--;
            }
            counts.read++;
            if (from == to) {
                empty(chunk.get(chunk.size() - 1).number, "empty document (nothing between two '" + o.documentSeparator() + "' lines)");
                return;
            }
            List<Line> body = chunk.subList(from, to);
            StringBuilder sb = new StringBuilder();
            for (Line l : body) {
                if (!sb.isEmpty()) {
                    sb.append('\n');
                }
                sb.append(l.text);
            }
            long line = body.get(0).number;
            int[] tokens;
            try {
                tokens = vocab.tokenize(sb.toString(), false, false, false);
            } catch (TokenizationException e) {
                // name the first line of the document that fails on its own
                long bad = line;
                String why = e.getMessage();
                for (Line l : body) {
                    try {
                        vocab.tokenize(l.text, false, false, false);
                    } catch (TokenizationException e2) {
                        bad = l.number;
                        why = e2.getMessage();
                        break;
                    }
                }
                unencodable(bad, "the document starting on line " + line, why, e);
                return;
            }
            add(line, tokens, null, true);
        }

        // ---- JSON lines

        private void jsonTextDocument(Line line, JsonObject obj) {
            counts.read++;
            String text;
            if (o.template() != null) {
                text = fillTemplate(line, obj, o.template());
            } else {
                text = string(line, obj, o.field() != null ? o.field() : "text", false).strip();
            }
            if (text.isBlank()) {
                empty(line.number, o.template() != null ? "the template '" + o.template() + "' gives empty text"
                        : "the field '" + (o.field() != null ? o.field() : "text") + "' is empty");
                return;
            }
            int[] tokens = encode(line, text, false, "the text");
            if (tokens != null) {
                add(line.number, tokens, null, true);
            }
        }

        private String fillTemplate(Line line, JsonObject obj, String template) {
            StringBuilder sb = new StringBuilder();
            int i = 0;
            while (i < template.length()) {
                char c = template.charAt(i);
                if ((c == '{' || c == '}') && i + 1 < template.length() && template.charAt(i + 1) == c) {
                    sb.append(c);
                    i += 2;
                } else if (c == '{') {
                    int end = template.indexOf('}', i);
                    String key = template.substring(i + 1, end);
                    sb.append(string(line, obj, key, true).strip());
                    i = end + 1;
                } else {
                    sb.append(c);
                    i++;
                }
            }
            return sb.toString().strip();
        }

        /** A text value of the object; numbers and booleans too when {@code lenient}. */
        private String string(Line line, JsonObject obj, String key, boolean lenient) {
            JsonElement e = obj.get(key);
            if (e == null) {
                throw new TrainingDataException(file, line.number, "no field '" + key + "' (the object has "
                        + (obj.keySet().isEmpty() ? "no keys" : "the keys " + String.join(", ", obj.keySet())) + ")");
            }
            if (e.isJsonPrimitive()) {
                JsonPrimitive p = e.getAsJsonPrimitive();
                if (p.isString() || lenient) {
                    return p.getAsString();
                }
            }
            String what = e.isJsonNull() ? "null" : e.isJsonArray() ? "an array" : e.isJsonObject() ? "an object"
                    : e.getAsJsonPrimitive().isNumber() ? "a number" : "a boolean";
            throw new TrainingDataException(file, line.number, "the field '" + key + "' is " + what + ", not a string");
        }

        private void promptCompletionDocument(Line line, JsonObject obj) {
            counts.read++;
            String prompt = string(line, obj, o.promptField(), false);
            String completion = string(line, obj, o.completionField(), false);
            if (completion.isBlank()) {
                empty(line.number, "the completion ('" + o.completionField() + "') is empty: nothing to learn");
                return;
            }
            int[] all = encode(line, prompt + completion, false, "the prompt + completion");
            if (all == null) {
                return;
            }
            int boundary = 0;
            if (!prompt.isEmpty()) {
                int[] p = encode(line, prompt, false, "the prompt");
                if (p == null) {
                    return;
                }
                boundary = commonPrefix(p, all);
            }
            boolean[] learn = new boolean[all.length];
            Arrays.fill(learn, boundary, all.length, true);
            add(line.number, all, learn, true);
        }

        private void chatDocument(Line line, JsonObject obj) {
            counts.read++;
            JsonElement m = obj.get("messages");
            if (m == null || !m.isJsonArray()) {
                throw new TrainingDataException(file, line.number, m == null ? "no field 'messages' (the object has the keys "
                        + String.join(", ", obj.keySet()) + ")" : "the field 'messages' is not an array of {role, content}");
            }
            JsonArray arr = m.getAsJsonArray();
            List<ChatMessage> messages = new ArrayList<>();
            for (int i = 0; i < arr.size(); i++) {
                JsonElement e = arr.get(i);
                if (!e.isJsonObject()) {
                    throw new TrainingDataException(file, line.number, "messages[" + i + "] is not an object {role, content}");
                }
                JsonObject mo = e.getAsJsonObject();
                String role = messageField(line, mo, i, "role");
                String content = messageField(line, mo, i, "content");
                messages.add(new ChatMessage(role, content));
            }
            if (messages.isEmpty()) {
                empty(line.number, "the conversation has no messages");
                return;
            }
            if (messages.stream().noneMatch(x -> x.role().equals("assistant"))) {
                throw new TrainingDataException(file, line.number, "the conversation has no 'assistant' message: nothing to learn");
            }
            String full = render(line, messages, messages.size(), false);
            // character spans of the assistant replies, each [start, end)
            List<int[]> spans = new ArrayList<>();
            List<String[]> prefixes = new ArrayList<>(); // {before the reply, through the reply}
            boolean turnByTurn = true;
            for (int i = 0; i < messages.size() && turnByTurn; i++) {
                if (!messages.get(i).role().equals("assistant")) {
                    continue;
                }
                String pre = render(line, messages, i, true);
                String post = render(line, messages, i + 1, false);
                if (!post.startsWith(pre) || !full.startsWith(post)) {
                    turnByTurn = false;
                } else {
                    prefixes.add(new String[] {pre, post});
                }
            }
            if (!turnByTurn) {
                ChatMessage last = messages.get(messages.size() - 1);
                if (!last.role().equals("assistant")) {
                    throw new TrainingDataException(file, line.number, "the chat template does not render the conversation turn by "
                            + "turn, so only a final assistant message can be learned, and the last message is '" + last.role() + "'");
                }
                String pre = render(line, messages, messages.size() - 1, true);
                if (!full.startsWith(pre)) {
                    throw new TrainingDataException(file, line.number, "cannot locate the final assistant reply in the formatted "
                            + "conversation (the chat template's rendering with the assistant prompt is not a prefix of it)");
                }
                prefixes.clear();
                prefixes.add(new String[] {pre, full});
            }
            int[] tokens = encode(line, full, true, "the formatted conversation");
            if (tokens == null) {
                return;
            }
            boolean[] learn = new boolean[tokens.length];
            for (String[] p : prefixes) {
                int start = commonPrefix(encodeUnchecked(p[0]), tokens);
                int end = p[1].length() == full.length() ? tokens.length : commonPrefix(encodeUnchecked(p[1]), tokens);
                Arrays.fill(learn, start, Math.max(start, end), true);
            }
            boolean lastIsAssistant = messages.get(messages.size() - 1).role().equals("assistant");
            add(line.number, tokens, learn, lastIsAssistant);
        }

        private String messageField(Line line, JsonObject mo, int i, String key) {
            JsonElement e = mo.get(key);
            if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
                throw new TrainingDataException(file, line.number, "messages[" + i + "] has no string '" + key + "'");
            }
            return e.getAsString();
        }

        private String render(Line line, List<ChatMessage> messages, int n, boolean addAssistant) {
            try {
                return model.applyChatTemplate(messages.subList(0, n), addAssistant, chatTemplate);
            } catch (Lora4jException e) {
                throw new TrainingDataException(file, line.number, "cannot apply the chat template: " + e.getMessage(), e);
            }
        }

        /** Tokens of text that was already encoded once as part of a longer text (cannot fail differently). */
        private int[] encodeUnchecked(String text) {
            return text.isEmpty() ? new int[0] : vocab.tokenize(text, false, true, true);
        }

        // ---- common

        /** The text's tokens, or null when it cannot be encoded and such documents are skipped. */
        private int[] encode(Line line, String text, boolean parseSpecial, String what) {
            try {
                return vocab.tokenize(text, false, parseSpecial, false);
            } catch (TokenizationException e) {
                unencodable(line.number, what, e.getMessage(), e);
                return null;
            }
        }

        private void unencodable(long line, String what, String why, TokenizationException e) {
            if (o.skipUnencodable()) {
                counts.skip(DataStats.UNENCODABLE);
                return;
            }
            throw new TrainingDataException(file, line, what + " cannot be encoded: " + why
                    + " (skipUnencodable skips such documents)", e);
        }

        private void empty(long line, String why) {
            if (o.skipEmpty()) {
                counts.skip(DataStats.EMPTY);
                return;
            }
            throw new TrainingDataException(file, line, why + "; nothing to train on (skipEmpty skips such documents)");
        }

        /** BOS (when the vocabulary adds one and the text lacks it) + tokens + EOS. */
        private void add(long line, int[] body, boolean[] bodyLearn, boolean learnEos) {
            if (body.length == 0) {
                empty(line, "the text tokenizes to nothing");
                return;
            }
            int bos = vocab.bos();
            int eos = vocab.eos();
            boolean addBos = vocab.addsBos() && bos >= 0 && body[0] != bos;
            boolean addEos = eos >= 0;
            int n = body.length + (addBos ? 1 : 0) + (addEos ? 1 : 0);
            int[] tokens = new int[n];
            boolean[] learn = new boolean[n];
            int off = addBos ? 1 : 0;
            if (addBos) {
                tokens[0] = bos;
            }
            System.arraycopy(body, 0, tokens, off, body.length);
            for (int j = 0; j < body.length; j++) {
                learn[off + j] = bodyLearn == null || bodyLearn[j];
            }
            if (addEos) {
                tokens[n - 1] = eos;
                learn[n - 1] = learnEos;
            }
            learn[0] = false; // nothing precedes a document's first token within it
            docs.add(new Document(docs.size(), line, tokens, learn));
        }
    }

    private static int commonPrefix(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Windows

    /** Cuts documents into samples of the context length and counts what goes where. */
    private static final class Windows {
        private final int ctx;
        private final boolean packing;
        private final DataFormat format;
        private final int pad;
        long tokens;
        long lossTokens;
        long padding;
        int split;

        Windows(DataOptions o, DataFormat format, Vocabulary vocab) {
            this.ctx = o.contextLength();
            this.packing = o.packing();
            this.format = format;
            this.pad = Math.max(0, vocab.eos());
        }

        List<TrainingSample> cut(Path file, List<Document> docs) {
            List<TrainingSample> out = new ArrayList<>();
            for (Document d : docs) {
                if (d.tokens.length > ctx + 1) {
                    split++;
                }
            }
            if (packing) {
                if (docs.isEmpty()) {
                    return out;
                }
                int total = 0;
                for (Document d : docs) {
                    total = Math.addExact(total, d.tokens.length);
                }
                int[] stream = new int[total];
                boolean[] learn = new boolean[total];
                int[] starts = new int[docs.size()];
                int pos = 0;
                for (int i = 0; i < docs.size(); i++) {
                    Document d = docs.get(i);
                    starts[i] = pos;
                    System.arraycopy(d.tokens, 0, stream, pos, d.tokens.length);
                    System.arraycopy(d.learn, 0, learn, pos, d.learn.length);
                    pos += d.tokens.length;
                }
                window(file, stream, learn, starts, docs, out);
            } else {
                for (Document d : docs) {
                    window(file, d.tokens, d.learn, new int[] {0}, List.of(d), out);
                }
            }
            return out;
        }

        private void window(Path file, int[] stream, boolean[] learn, int[] starts, List<Document> docs, List<TrainingSample> out) {
            int n = stream.length;
            for (int s = 0; s == 0 || s < n - 1; s += ctx) {
                int[] t = new int[ctx];
                int[] l = new int[ctx];
                int counted = 0;
                for (int i = 0; i < ctx; i++) {
                    int p = s + i;
                    if (p < n) {
                        t[i] = stream[p];
                        tokens++;
                    } else {
                        t[i] = pad;
                        padding++;
                    }
                    if (p + 1 < n && learn[p + 1]) {
                        l[i] = stream[p + 1];
                        counted++;
                    } else {
                        l[i] = TrainingSample.IGNORE;
                    }
                }
                if (counted == 0) {
                    Document d = docs.get(docAt(starts, Math.min(s + 1, n - 1)));
                    String msg = switch (format) {
                        case PROMPT_COMPLETION -> "the prompt on line " + d.line + " fills the whole context of " + ctx
                                + " tokens: nothing left to learn (shorten the prompt or raise the context length)";
                        case CHAT -> "the conversation on line " + d.line + " has no assistant reply within a window of " + ctx
                                + " tokens: nothing left to learn (shorten the conversation or raise the context length)";
                        default -> "the document on line " + d.line + " has nothing to learn in a window of " + ctx + " tokens";
                    };
                    throw new TrainingDataException(file, d.line, msg);
                }
                lossTokens += counted;
                out.add(new TrainingSample(t, l, docs.get(docAt(starts, s)).index));
            }
        }

        private static int docAt(int[] starts, int pos) {
            int i = Arrays.binarySearch(starts, pos);
            return i >= 0 ? i : -i - 2;
        }
    }
}
