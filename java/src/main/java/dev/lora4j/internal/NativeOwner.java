package dev.lora4j.internal;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Reference count of a native object that others depend on (a llama_model, which its contexts and adapters use):
 * it is freed when its own handle and every dependent have been released, in whatever order that happens — an
 * explicit close, or the {@link java.lang.ref.Cleaner} for handles a user forgot, whose actions run in no particular
 * order. Holds only the address, never the Java objects, so it does not keep them reachable.
 */
public final class NativeOwner {
    private final long address;
    private final Consumer<MemorySegment> free;
    private final AtomicInteger refs = new AtomicInteger(1);

    public NativeOwner(MemorySegment ptr, Consumer<MemorySegment> free) {
        this.address = ptr.address();
        this.free = free;
    }

    /** A dependent starts using the object. */
    public void retain() {
        if (refs.getAndIncrement() <= 0) {
            refs.decrementAndGet();
            throw new IllegalStateException("the native object is already freed");
        }
    }

    /** The owner or a dependent is done with the object; the last one frees it. */
    public void release() {
        if (refs.decrementAndGet() == 0) {
            free.accept(MemorySegment.ofAddress(address));
        }
    }
}
