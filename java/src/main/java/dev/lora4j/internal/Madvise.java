package dev.lora4j.internal;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/** Drops mapped pages we are done with from this process (Linux madvise MADV_DONTNEED; the page cache keeps them). */
public final class Madvise {
    private static final MethodHandle MADVISE;
    private static final long PAGE = 4096;

    static {
        MethodHandle h = null;
        if (System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            Linker l = Linker.nativeLinker();
            h = l.defaultLookup().find("madvise")
                    .map(a -> l.downcallHandle(a, FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT)))
                    .orElse(null);
        }
        MADVISE = h;
    }

    private Madvise() {
    }

    /** Best effort: nothing happens off Linux or for a heap segment. */
    public static void dontNeed(MemorySegment mapped) {
        if (MADVISE == null || !mapped.isNative()) {
            return;
        }
        long start = (mapped.address() + PAGE - 1) & -PAGE;
        long end = (mapped.address() + mapped.byteSize()) & -PAGE;
        if (end > start) {
            try {
                int ignored = (int) MADVISE.invokeExact(start, end - start, 4 /* MADV_DONTNEED */);
            } catch (Throwable ignored) {
                // best effort
            }
        }
    }
}
