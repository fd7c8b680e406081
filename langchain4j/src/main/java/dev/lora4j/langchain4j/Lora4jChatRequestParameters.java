package dev.lora4j.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import dev.lora4j.LoraAdapter;
import java.util.Objects;

/**
 * LangChain4j's request parameters plus lora4j's: the LoRA adapter, its scale and the sampler's seed. A chat model's
 * builder sets the defaults; a request overrides them by passing these as its parameters, as LangChain4j's providers
 * take their own parameters ({@code ChatRequest.builder().parameters(...)}, or an AI service method's
 * {@code ChatRequestParameters} argument):
 *
 * <pre>{@code
 * interface Assistant {
 *     String chat(@UserMessage String message, ChatRequestParameters parameters);
 * }
 * assistant.chat("Hi", Lora4jChatRequestParameters.builder().adapter(french).build());
 * }</pre>
 *
 * A value left null keeps the default. An adapter scale of 0 runs the base model whatever the adapter.
 */
public class Lora4jChatRequestParameters extends DefaultChatRequestParameters {
    private final LoraAdapter adapter;
    private final Double adapterScale;
    private final Long seed;

    protected Lora4jChatRequestParameters(Builder builder) {
        super(builder);
        this.adapter = builder.adapter;
        this.adapterScale = builder.adapterScale;
        this.seed = builder.seed;
    }

    /** The adapter (null = the default's, or none). */
    public LoraAdapter adapter() {
        return adapter;
    }

    /** The adapter's scale (null = the default's, or 1). */
    public Double adapterScale() {
        return adapterScale;
    }

    /** The seed of the sampler's draw (null = the default's, or 0). */
    public Long seed() {
        return seed;
    }

    @Override
    public Lora4jChatRequestParameters overrideWith(ChatRequestParameters that) {
        if (that == null) {
            return this;
        }
        return builder().overrideWith(this).overrideWith(that).build();
    }

    @Override
    public Lora4jChatRequestParameters defaultedBy(ChatRequestParameters that) {
        if (that == null) {
            return this;
        }
        return builder().overrideWith(that).overrideWith(this).build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Lora4jChatRequestParameters that && super.equals(that) && Objects.equals(adapter, that.adapter)
                && Objects.equals(adapterScale, that.adapterScale) && Objects.equals(seed, that.seed);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), adapter, adapterScale, seed);
    }

    @Override
    public String toString() {
        return "Lora4jChatRequestParameters{" + super.toString() + ", adapter=" + adapter + ", adapterScale=" + adapterScale
                + ", seed=" + seed + "}";
    }

    public static Builder builder() {
        return new Builder();
    }

    public static class Builder extends DefaultChatRequestParameters.Builder<Builder> {
        private LoraAdapter adapter;
        private Double adapterScale;
        private Long seed;

        /** Takes the values {@code parameters} sets, lora4j's too when it has them. */
        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof Lora4jChatRequestParameters p) {
                adapter = p.adapter != null ? p.adapter : adapter;
                adapterScale = p.adapterScale != null ? p.adapterScale : adapterScale;
                seed = p.seed != null ? p.seed : seed;
            }
            return this;
        }

        public Builder adapter(LoraAdapter adapter) {
            this.adapter = adapter;
            return this;
        }

        /** 1 = as trained; 0 = the base model. */
        public Builder adapterScale(Double scale) {
            this.adapterScale = scale;
            return this;
        }

        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        @Override
        public Lora4jChatRequestParameters build() {
            return new Lora4jChatRequestParameters(this);
        }
    }
}
