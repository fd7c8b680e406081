/**
 * lora4j: GGUF models, inference, LoRA adapters, training and merging on llama.cpp, and the {@code lora4j} CLI.
 * Exports the API packages only; {@code dev.lora4j.internal} (the handles that own every native call) is not
 * part of the API.
 */
module dev.lora4j {
    requires dev.lora4j.bindings;
    requires info.picocli;
    requires com.google.gson;
    requires me.tongfei.progressbar;
    requires java.desktop; // loss charts (java.awt, javax.imageio)
    requires java.logging; // the CLI's log format

    exports dev.lora4j;
    exports dev.lora4j.gguf;
    exports dev.lora4j.merge;
    exports dev.lora4j.serve;
    exports dev.lora4j.train;

    opens dev.lora4j.cli to info.picocli; // picocli builds the commands and sets their options by reflection
}
