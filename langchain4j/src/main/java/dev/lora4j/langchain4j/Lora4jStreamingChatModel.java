package dev.lora4j.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.lora4j.serve.GenerationRequest;
import dev.lora4j.serve.GenerationResult;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A LangChain4j {@link StreamingChatModel} on a lora4j {@link dev.lora4j.serve.BatchEngine}, as
 * {@link Lora4jChatModel}, with the reply streamed: {@link #chat} returns at once; the handler gets the text in whole
 * characters (nothing of a stop sequence) on the engine's thread, so it should be quick. The
 * {@link StreamingHandle} of each partial response cancels the request; after that the handler hears nothing more.
 */
public final class Lora4jStreamingChatModel implements StreamingChatModel {
    private static final System.Logger LOG = System.getLogger("dev.lora4j.langchain4j");
    private final ChatSupport support;
    private final List<ChatModelListener> listeners;

    private Lora4jStreamingChatModel(Builder b) {
        this.support = b.support();
        this.listeners = b.listeners;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Cancel cancel = new Cancel();
        PartialResponseContext context = new PartialResponseContext(cancel);
        CompletableFuture<GenerationResult> future;
        try {
            GenerationRequest r = support.request(request)
                    .withOnText(piece -> handler.onPartialResponse(new PartialResponse(piece), context));
            future = support.engine().submit(r);
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        cancel.set(future);
        future.whenComplete((result, error) -> {
            if (cancel.isCancelled()) {
                return;
            }
            try {
                if (error == null) {
                    handler.onCompleteResponse(support.response(result));
                } else {
                    handler.onError(error instanceof CompletionException && error.getCause() != null ? error.getCause() : error);
                }
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "the streaming handler threw", e);
            }
        });
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return support.defaults();
    }

    @Override
    public List<ChatModelListener> listeners() {
        return listeners;
    }

    /** Cancels the request's future, also when asked before submit returned it. */
    private static final class Cancel implements StreamingHandle {
        private volatile boolean cancelled;
        private volatile CompletableFuture<GenerationResult> future;

        void set(CompletableFuture<GenerationResult> f) {
            future = f;
            if (cancelled) {
                f.cancel(true);
            }
        }

        @Override
        public void cancel() {
            cancelled = true;
            CompletableFuture<GenerationResult> f = future;
            if (f != null) {
                f.cancel(true);
            }
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }
    }

    public static final class Builder extends ChatModelBuilder<Builder> {
        private Builder() {}

        public Lora4jStreamingChatModel build() {
            return new Lora4jStreamingChatModel(this);
        }
    }
}
