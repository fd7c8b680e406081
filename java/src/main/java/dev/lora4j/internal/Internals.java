package dev.lora4j.internal;

import java.lang.foreign.MemorySegment;

/**
 * Lets lora4j's own packages (training, merging) reach the native pointers that the public API hides, without
 * making them public: {@code dev.lora4j} installs the implementation when its classes initialise (the JDK's
 * "shared secrets" pattern). Not for users.
 */
public final class Internals {
    /** What dev.lora4j exposes to its sibling packages. */
    public interface Access {
        MemorySegment model(Object model);

        /** Begins exclusive use of a context (as its own methods do); pair with {@link #exitContext}. */
        MemorySegment enterContext(Object context);

        void exitContext(Object context);

        MemorySegment adapter(Object adapter);
    }

    private static volatile Access access;

    private Internals() {}

    public static void install(Access a) {
        access = a;
    }

    public static Access access() {
        Access a = access;
        if (a == null) {
            try {
                Class.forName("dev.lora4j.Context", true, Internals.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
            a = access;
        }
        return a;
    }
}
