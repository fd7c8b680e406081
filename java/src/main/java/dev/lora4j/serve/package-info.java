/**
 * Serving many requests on one model: {@link dev.lora4j.serve.BatchEngine} decodes concurrent generation requests
 * together, one llama batch per step (continuous batching), each request on a sequence of one context with its own
 * adapter, sampler and stop strings.
 */
package dev.lora4j.serve;
