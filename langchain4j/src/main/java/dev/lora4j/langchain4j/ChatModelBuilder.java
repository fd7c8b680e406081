package dev.lora4j.langchain4j;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.lora4j.LoraAdapter;
import dev.lora4j.serve.BatchEngine;
import java.util.List;

/**
 * What {@link Lora4jChatModel} and {@link Lora4jStreamingChatModel} take: the {@link BatchEngine} their requests
 * run on (required; models may share one: requests with different adapters then decode in the same batches), the
 * chat template, and the default request parameters. A parameter left unset keeps lora4j's default
 * ({@link dev.lora4j.SamplerParams#defaults()}, no adapter, no stop strings, generation up to the end of a
 * sequence: {@link BatchEngine#sequenceSize()}). Later calls win.
 */
public abstract class ChatModelBuilder<B extends ChatModelBuilder<B>> {
    BatchEngine engine;
    String chatTemplate;
    final Lora4jChatRequestParameters.Builder parameters = Lora4jChatRequestParameters.builder();
    List<ChatModelListener> listeners = List.of();

    ChatModelBuilder() {}

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    public B engine(BatchEngine engine) {
        this.engine = engine;
        return self();
    }

    /**
     * The chat template: a name llama.cpp knows ({@code chatml}, {@code llama2}, {@code llama3}, {@code mistral-v7},
     * {@code phi3}, {@code gemma}, {@code zephyr}, {@code deepseek3}, …: {@code llama_chat_apply_template}'s list) or a
     * template's text; null (the default) = the model's own ({@code tokenizer.chat_template}).
     */
    public B chatTemplate(String template) {
        this.chatTemplate = template;
        return self();
    }

    /** The default adapter, at scale 1 (null = none). */
    public B adapter(LoraAdapter adapter) {
        parameters.adapter(adapter);
        return self();
    }

    /** The default adapter and its scale. */
    public B adapter(LoraAdapter adapter, double scale) {
        parameters.adapter(adapter).adapterScale(scale);
        return self();
    }

    /** Defaults from LangChain4j's or lora4j's parameters ({@link Lora4jChatRequestParameters}). */
    public B defaultRequestParameters(ChatRequestParameters p) {
        parameters.overrideWith(p);
        return self();
    }

    /** 0 = greedy. */
    public B temperature(Double t) {
        parameters.temperature(t);
        return self();
    }

    public B topP(Double p) {
        parameters.topP(p);
        return self();
    }

    public B topK(Integer k) {
        parameters.topK(k);
        return self();
    }

    public B frequencyPenalty(Double p) {
        parameters.frequencyPenalty(p);
        return self();
    }

    public B presencePenalty(Double p) {
        parameters.presencePenalty(p);
        return self();
    }

    public B maxOutputTokens(Integer n) {
        parameters.maxOutputTokens(n);
        return self();
    }

    public B stopSequences(List<String> stop) {
        parameters.stopSequences(stop);
        return self();
    }

    public B seed(Long seed) {
        parameters.seed(seed);
        return self();
    }

    public B listeners(List<ChatModelListener> listeners) {
        this.listeners = List.copyOf(listeners);
        return self();
    }

    ChatSupport support() {
        return new ChatSupport(engine, chatTemplate, parameters.build());
    }
}
