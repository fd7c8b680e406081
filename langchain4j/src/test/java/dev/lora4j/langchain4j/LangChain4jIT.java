package dev.lora4j.langchain4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.TokenStream;
import dev.langchain4j.store.embedding.CosineSimilarity;
import dev.lora4j.ChatMessage;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.serve.BatchEngine;
import dev.lora4j.serve.EngineParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LangChain4j's AI services answer through lora4j (TinyStories-656K Q8_0, which has no chat template of its own: chatml), two
 * adapters at once on one engine, streaming, and embeddings.
 */
class LangChain4jIT {
    static final String TEMPLATE = "chatml";
    static final int MAX_TOKENS = 24;
    static final String[] QUESTIONS = {"Tell me a story.", "Who is Lily?", "What did the dog see?", "Where is the ball?"};

    interface Assistant {
        String chat(String message);
    }

    interface AssistantWithParameters {
        String chat(@dev.langchain4j.service.UserMessage String message, ChatRequestParameters parameters);
    }

    interface StreamingAssistant {
        TokenStream chat(String message);
    }

    @TempDir
    static Path tmp;
    static Model model;
    static LoraAdapter a;
    static LoraAdapter b;
    static BatchEngine engine;
    static Context reference;

    @BeforeAll
    static void load() {
        // Q8_0: batch-invariant in llama.cpp (on F32 weights a sequence's logits depend on the batch at the 1e-4 level)
        Path base = SharedModels.model("tinystories-656k-q8_0.gguf");
        model = Model.load(base);
        try (GgufFile f = GgufFile.open(base)) {
            LoraAdapterWriter.random(f, List.of("q", "v", "o"), 4, 8f, 0.2f, 0.06f, 1).write(tmp.resolve("a.gguf"));
            LoraAdapterWriter.random(f, List.of("all-linear"), 8, 16f, 0.2f, 0.06f, 2).write(tmp.resolve("b.gguf"));
        }
        a = LoraAdapter.load(model, tmp.resolve("a.gguf"));
        b = LoraAdapter.load(model, tmp.resolve("b.gguf"));
        engine = new BatchEngine(model, EngineParams.defaults().withSequences(8).withSequenceSize(256)
                .withContext(ContextParams.defaults().withThreads(1)));
        reference = model.newContext(ContextParams.defaults().withContextSize(256).withThreads(1));
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
        if (model != null) {
            model.close();
        }
    }

    /** The reply to one user message run alone: chat template, Context.setAdapter, greedy Context.generate. */
    static synchronized String alone(String question, LoraAdapter adapter) {
        if (adapter == null) {
            reference.clearAdapters();
        } else {
            reference.setAdapter(adapter, 1f);
        }
        String prompt = model.applyChatTemplate(List.of(ChatMessage.user(question)), true, TEMPLATE);
        return reference.generate(prompt, MAX_TOKENS, SamplerParams.greedy(), null).text();
    }

    static Lora4jChatModel.Builder chat(LoraAdapter adapter) {
        return Lora4jChatModel.builder().engine(engine).chatTemplate(TEMPLATE).adapter(adapter).temperature(0.0).maxOutputTokens(MAX_TOKENS);
    }

    @Test
    void anAiServiceAnswersThroughLora4j() {
        ChatModel chat = chat(null).build();
        Assistant assistant = AiServices.builder(Assistant.class).chatModel(chat).build();
        assertEquals(alone(QUESTIONS[0], null), assistant.chat(QUESTIONS[0]));

        ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from(QUESTIONS[1])).build());
        assertEquals(alone(QUESTIONS[1], null), r.aiMessage().text());
        int promptTokens = model.vocabulary().tokenize(model.applyChatTemplate(List.of(ChatMessage.user(QUESTIONS[1])), true, TEMPLATE), true, true).length;
        assertEquals(promptTokens, r.tokenUsage().inputTokenCount());
        assertTrue(r.tokenUsage().outputTokenCount() <= MAX_TOKENS);
        assertEquals(r.tokenUsage().outputTokenCount() == MAX_TOKENS ? FinishReason.LENGTH : FinishReason.STOP, r.finishReason());
        assertEquals("tinystories-656k-q8_0.gguf", r.modelName());
    }

    @Test
    void twoAdaptersAnswerAtTheSameTime() throws Exception {
        Assistant withA = AiServices.builder(Assistant.class).chatModel(chat(a).build()).build();
        Assistant withB = AiServices.builder(Assistant.class).chatModel(chat(b).build()).build();
        ExecutorService pool = Executors.newFixedThreadPool(2 * QUESTIONS.length);
        try {
            for (int round = 0; round < 3; round++) {
                List<Future<String>> answersA = new ArrayList<>();
                List<Future<String>> answersB = new ArrayList<>();
                for (String q : QUESTIONS) {
                    answersA.add(pool.submit(() -> withA.chat(q)));
                    answersB.add(pool.submit(() -> withB.chat(q)));
                }
                for (int i = 0; i < QUESTIONS.length; i++) {
                    String fromA = answersA.get(i).get(60, TimeUnit.SECONDS);
                    String fromB = answersB.get(i).get(60, TimeUnit.SECONDS);
                    assertEquals(alone(QUESTIONS[i], a), fromA, "adapter a, " + QUESTIONS[i]);
                    assertEquals(alone(QUESTIONS[i], b), fromB, "adapter b, " + QUESTIONS[i]);
                    assertNotEquals(fromA, fromB, QUESTIONS[i]);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRequestChoosesItsAdapter() {
        AssistantWithParameters assistant = AiServices.builder(AssistantWithParameters.class).chatModel(chat(a).build()).build();
        assertEquals(alone(QUESTIONS[2], a), assistant.chat(QUESTIONS[2], ChatRequestParameters.builder().build()), "the default adapter");
        assertEquals(alone(QUESTIONS[2], b), assistant.chat(QUESTIONS[2], Lora4jChatRequestParameters.builder().adapter(b).build()));
        assertEquals(alone(QUESTIONS[2], null), assistant.chat(QUESTIONS[2], Lora4jChatRequestParameters.builder().adapterScale(0.0).build()),
                "scale 0: the base model");
    }

    @Test
    void parametersReachTheSampler() {
        ChatModel chat = chat(null).build();
        String full = alone(QUESTIONS[0], null);
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from(QUESTIONS[0]))
                .parameters(ChatRequestParameters.builder().stopSequences(stop).build()).build());
        assertEquals(full.substring(0, full.indexOf(stop)), r.aiMessage().text());
        assertEquals(FinishReason.STOP, r.finishReason());
        r = chat.chat(ChatRequest.builder().messages(UserMessage.from(QUESTIONS[0]))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(5).build()).build());
        assertEquals(5, r.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, r.finishReason());
        // sampling: the same seed gives the same text
        ChatRequestParameters sampled = Lora4jChatRequestParameters.builder().temperature(1.0).topK(40).topP(0.9).seed(7L).build();
        ChatRequest request = ChatRequest.builder().messages(UserMessage.from(QUESTIONS[0])).parameters(sampled).build();
        assertEquals(chat.chat(request).aiMessage().text(), chat.chat(request).aiMessage().text());
        ChatRequest withTools = ChatRequest.builder().messages(UserMessage.from(QUESTIONS[0])).parameters(ChatRequestParameters.builder()
                .toolSpecifications(ToolSpecification.builder().name("clock").description("the time").build()).build()).build();
        assertThrows(UnsupportedFeatureException.class, () -> chat.chat(withTools));
    }

    @Test
    void aTokenStreamStreamsTheReply() throws Exception {
        StreamingAssistant assistant = AiServices.builder(StreamingAssistant.class)
                .streamingChatModel(Lora4jStreamingChatModel.builder().engine(engine).chatTemplate(TEMPLATE).adapter(a)
                        .temperature(0.0).maxOutputTokens(MAX_TOKENS).build())
                .build();
        StringBuilder pieces = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        assistant.chat(QUESTIONS[3])
                .onPartialResponse(pieces::append)
                .onCompleteResponse(done::complete)
                .onError(done::completeExceptionally)
                .start();
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertEquals(alone(QUESTIONS[3], a), pieces.toString());
        assertEquals(pieces.toString(), r.aiMessage().text());
        assertTrue(r.tokenUsage().outputTokenCount() > 0);
    }

    @Test
    void embeddings() {
        try (Lora4jEmbeddingModel embedder = Lora4jEmbeddingModel.builder().model(model).contextSize(128).threads(1).build()) {
            assertEquals(model.embeddingLength(), embedder.dimension());
            Embedding one = embedder.embed("The little dog ran to the park.").content();
            Embedding again = embedder.embed("The little dog ran to the park.").content();
            Embedding other = embedder.embed("Mom baked a cake for Lily.").content();
            assertEquals(embedder.dimension(), one.dimension());
            assertArrayEquals(one.vector(), again.vector(), "the same text, the same vector");
            assertEquals(1.0, CosineSimilarity.between(one, again), 1e-6);
            assertTrue(CosineSimilarity.between(one, other) < 0.9999, "another text, another direction");
            Response<List<Embedding>> all = embedder.embedAll(List.of(TextSegment.from("a"), TextSegment.from("The little dog ran to the park.")));
            assertEquals(2, all.content().size());
            assertArrayEquals(one.vector(), all.content().get(1).vector());
            assertTrue(all.tokenUsage().inputTokenCount() > 0);
        }
    }
}
