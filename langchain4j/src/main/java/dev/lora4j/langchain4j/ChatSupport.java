package dev.lora4j.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.lora4j.ChatMessage;
import dev.lora4j.LoraAdapter;
import dev.lora4j.SamplerParams;
import dev.lora4j.serve.BatchEngine;
import dev.lora4j.serve.GenerationRequest;
import dev.lora4j.serve.GenerationResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** What the chat models share: their settings, and the translation of LangChain4j requests to lora4j's and back. */
record ChatSupport(BatchEngine engine, String chatTemplate, Lora4jChatRequestParameters defaults) {
    ChatSupport {
        Objects.requireNonNull(engine, "engine (a BatchEngine: Lora4jChatModel.builder().engine(...))");
    }

    String modelName() {
        return engine.model().path().getFileName().toString();
    }

    /** The prompt (the chat template applied), sampler, adapter, token limit and stop strings of a merged request. */
    GenerationRequest request(ChatRequest request) {
        ChatRequestParameters p = request.parameters();
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("lora4j's chat models do not call tools");
        }
        if (p.responseFormat() != null && p.responseFormat().type() == ResponseFormatType.JSON) {
            throw new UnsupportedFeatureException("lora4j's chat models do not constrain the output to JSON");
        }
        String prompt = engine.model().applyChatTemplate(messages(request.messages()), true, chatTemplate);
        SamplerParams sampler = SamplerParams.defaults();
        if (p.temperature() != null) sampler = sampler.withTemperature(p.temperature().floatValue());
        if (p.topP() != null) sampler = sampler.withTopP(p.topP().floatValue());
        if (p.topK() != null) sampler = sampler.withTopK(p.topK());
        if (p.frequencyPenalty() != null) sampler = sampler.withFrequencyPenalty(p.frequencyPenalty().floatValue());
        if (p.presencePenalty() != null) sampler = sampler.withPresencePenalty(p.presencePenalty().floatValue());
        LoraAdapter adapter = null;
        float scale = 1f;
        if (p instanceof Lora4jChatRequestParameters l) {
            adapter = l.adapter();
            scale = l.adapterScale() != null ? l.adapterScale().floatValue() : 1f;
            if (l.seed() != null) sampler = sampler.withSeed(l.seed());
        }
        if (scale == 0f) {
            adapter = null;
        }
        int maxTokens = p.maxOutputTokens() != null ? p.maxOutputTokens() : engine.sequenceSize();
        List<String> stop = p.stopSequences() != null ? p.stopSequences() : List.of();
        return GenerationRequest.of(prompt, maxTokens).withSampler(sampler).withAdapter(adapter, adapter == null ? 1f : scale).withStop(stop);
    }

    static List<ChatMessage> messages(List<dev.langchain4j.data.message.ChatMessage> messages) {
        List<ChatMessage> out = new ArrayList<>();
        for (dev.langchain4j.data.message.ChatMessage m : messages) {
            out.add(switch (m) {
                case SystemMessage s -> ChatMessage.system(s.text());
                case UserMessage u -> ChatMessage.user(text(u));
                case AiMessage a when !a.hasToolExecutionRequests() -> ChatMessage.assistant(a.text() != null ? a.text() : "");
                default -> throw new UnsupportedFeatureException("lora4j's chat models take system, user and assistant text, not " + m.type());
            });
        }
        return out;
    }

    private static String text(UserMessage u) {
        if (u.hasSingleText()) {
            return u.singleText();
        }
        StringBuilder sb = new StringBuilder();
        for (Content c : u.contents()) {
            if (!(c instanceof TextContent t)) {
                throw new UnsupportedFeatureException("lora4j's chat models take text only, not " + c.type());
            }
            sb.append(sb.isEmpty() ? "" : "\n").append(t.text());
        }
        return sb.toString();
    }

    ChatResponse response(GenerationResult r) {
        FinishReason finish = switch (r.stopReason()) {
            case END_OF_GENERATION, STOP_STRING -> FinishReason.STOP;
            case MAX_TOKENS, CONTEXT_FULL -> FinishReason.LENGTH;
        };
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(r.text()))
                .modelName(modelName())
                .tokenUsage(new TokenUsage(r.promptTokens(), r.tokens().length))
                .finishReason(finish)
                .build();
    }
}
