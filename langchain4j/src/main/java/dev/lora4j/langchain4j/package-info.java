/**
 * LangChain4j on lora4j: {@link dev.lora4j.langchain4j.Lora4jChatModel} and
 * {@link dev.lora4j.langchain4j.Lora4jStreamingChatModel} run chat requests on a shared
 * {@link dev.lora4j.serve.BatchEngine}, each with its own LoRA adapter (a builder default, overridden per request with
 * {@link dev.lora4j.langchain4j.Lora4jChatRequestParameters}); {@link dev.lora4j.langchain4j.Lora4jEmbeddingModel}
 * embeds text.
 */
package dev.lora4j.langchain4j;
