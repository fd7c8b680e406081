package dev.lora4j.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A LangChain4j {@link EmbeddingModel} on a lora4j {@link Model}: the mean-pooled embedding of each text
 * ({@link Context#embed}), of {@link Model#embeddingLength()} dimensions, not normalised. It holds one context with
 * embeddings on (texts of up to {@code contextSize} tokens, in one batch), used by one request at a time; close it to
 * free the context.
 */
public final class Lora4jEmbeddingModel implements EmbeddingModel, AutoCloseable {
    private final Model model;
    private final Context context;

    private Lora4jEmbeddingModel(Builder b) {
        this.model = Objects.requireNonNull(b.model, "model");
        ContextParams p = ContextParams.defaults().withEmbeddings(true).withContextSize(b.contextSize)
                .withBatchSize(b.contextSize).withUbatchSize(b.contextSize).withThreads(b.threads);
        this.context = model.newContext(p);
        if (b.adapter != null) {
            try {
                context.setAdapter(b.adapter, b.adapterScale);
            } catch (RuntimeException e) {
                context.close();
                throw e;
            }
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public synchronized Response<List<Embedding>> embedAll(List<TextSegment> segments) {
        List<Embedding> out = new ArrayList<>(segments.size());
        int tokens = 0;
        for (TextSegment s : segments) {
            tokens += model.vocabulary().tokenize(s.text(), true, false).length;
            out.add(Embedding.from(context.embed(s.text())));
        }
        return Response.from(out, new TokenUsage(tokens));
    }

    @Override
    public int dimension() {
        return model.embeddingLength();
    }

    @Override
    public String modelName() {
        return model.path().getFileName().toString();
    }

    @Override
    public void close() {
        context.close();
    }

    public static final class Builder {
        private Model model;
        private int contextSize = 512;
        private int threads;
        private LoraAdapter adapter;
        private float adapterScale = 1f;

        private Builder() {}

        public Builder model(Model model) {
            this.model = model;
            return this;
        }

        /** Longest text in tokens (default 512). */
        public Builder contextSize(int n) {
            this.contextSize = n;
            return this;
        }

        /** CPU threads (0 = all processors, the default). */
        public Builder threads(int n) {
            this.threads = n;
            return this;
        }

        /** An adapter to embed with (default none). */
        public Builder adapter(LoraAdapter adapter, float scale) {
            this.adapter = adapter;
            this.adapterScale = scale;
            return this;
        }

        public Lora4jEmbeddingModel build() {
            return new Lora4jEmbeddingModel(this);
        }
    }
}
