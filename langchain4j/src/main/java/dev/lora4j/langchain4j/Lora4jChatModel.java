package dev.lora4j.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import java.util.List;

/**
 * A LangChain4j {@link ChatModel} on a lora4j {@link dev.lora4j.serve.BatchEngine}: the messages go through the chat
 * template, the reply is generated with the request's adapter ({@link Lora4jChatRequestParameters}) in the engine's
 * shared batches. Thread-safe; {@link #chat} blocks its caller until the reply is complete. Reports token usage and
 * the finish reason (STOP: end of generation or a stop sequence; LENGTH: maxOutputTokens or the end of the sequence).
 * Tools and JSON output are refused ({@link dev.langchain4j.exception.UnsupportedFeatureException}).
 *
 * <pre>{@code
 * ChatModel chat = Lora4jChatModel.builder().engine(engine).adapter(adapter).maxOutputTokens(256).build();
 * }</pre>
 */
public final class Lora4jChatModel implements ChatModel {
    private final ChatSupport support;
    private final List<ChatModelListener> listeners;

    private Lora4jChatModel(Builder b) {
        this.support = b.support();
        this.listeners = b.listeners;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        return support.response(support.engine().generate(support.request(request)));
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return support.defaults();
    }

    @Override
    public List<ChatModelListener> listeners() {
        return listeners;
    }

    public static final class Builder extends ChatModelBuilder<Builder> {
        private Builder() {}

        public Lora4jChatModel build() {
            return new Lora4jChatModel(this);
        }
    }
}
