/**
 * The FFM bindings generated from the pinned llama.cpp headers and the lora4j shim header, for lora4j's internal
 * layer only, and the loader of the natives ({@code dev.lora4j.loader}).
 */
module dev.lora4j.bindings {
    exports dev.lora4j.bindings to dev.lora4j;
}
