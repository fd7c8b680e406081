package dev.lora4j.cli;

import java.nio.file.Path;

/** {@code FILE[:SCALE]} as the CLI takes adapters (the scale defaults to 1). */
record AdapterSpec(Path path, float scale) {
    static AdapterSpec parse(String spec) {
        int colon = spec.lastIndexOf(':');
        if (colon > 0 && colon < spec.length() - 1) {
            try {
                float scale = Float.parseFloat(spec.substring(colon + 1));
                if (!Float.isFinite(scale)) {
                    throw new IllegalArgumentException("the scale in '" + spec + "' must be finite");
                }
                return new AdapterSpec(Path.of(spec.substring(0, colon)), scale);
            } catch (NumberFormatException notAScale) {
                // a ':' inside the file name
            }
        }
        return new AdapterSpec(Path.of(spec), 1f);
    }
}
