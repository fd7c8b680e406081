package dev.lora4j.internal;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The shared mechanics of an owned native pointer: open/closed state, one-thread-at-a-time use, idempotent close,
 * and a {@link Cleaner} safety net that frees (and reports) handles a user forgot to close.
 *
 * <p>{@link #enter()} / {@link #exit()} bracket every native use; a second thread that tries to use the handle
 * while it is in use gets an {@link IllegalStateException} instead of corrupting llama.cpp state, and
 * {@link #close()} waits for the use in progress to end before freeing.
 */
public final class NativeHandle {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final System.Logger LOG = System.getLogger("dev.lora4j");

    private final String what;
    // fair: a thread waiting in lock() (close, enterWaiting, or a use queued behind them) is served in order
    private final ReentrantLock lock = new ReentrantLock(true);
    // threads waiting for or holding a short internal use (enterWaiting): meanwhile enter() queues instead of throwing
    private final AtomicInteger patient = new AtomicInteger();
    private final Cleaner.Cleanable cleanable;
    private final Release release;
    private volatile MemorySegment ptr;

    private static final class Release implements Runnable {
        private final long address;
        private final Consumer<MemorySegment> free;
        private final String what;
        private volatile boolean explicit;

        Release(long address, Consumer<MemorySegment> free, String what) {
            this.address = address;
            this.free = free;
            this.what = what;
        }

        @Override
        public void run() {
            if (!explicit) {
                LOG.log(System.Logger.Level.WARNING, "lora4j: a " + what + " was not closed; freeing it now (close it, e.g. with try-with-resources)");
            }
            free.accept(MemorySegment.ofAddress(address));
        }
    }

    /**
     * @param owner object whose unreachability triggers the safety net (must not be referenced by {@code free})
     * @param ptr   the native pointer (not NULL)
     * @param free  frees the pointer; called exactly once
     */
    public NativeHandle(Object owner, String what, MemorySegment ptr, Consumer<MemorySegment> free) {
        this.what = what;
        this.ptr = ptr;
        this.release = new Release(ptr.address(), free, what);
        this.cleanable = CLEANER.register(owner, release);
    }

    /** Begins a use: returns the pointer, or throws if closed or in use by another thread. Pair with {@link #exit()}. */
    public MemorySegment enter() {
        if (patient.get() > 0) {
            lock.lock(); // a short internal use (an adapter being closed) is due: take turns with it
        } else if (!lock.tryLock()) {
            if (patient.get() == 0) {
                throw new IllegalStateException("this " + what + " is in use by another thread; llama.cpp " + what
                        + "s are not thread-safe: use one per thread");
            }
            lock.lock();
        }
        return checkedPointer();
    }

    /**
     * A short use from a thread that does not own the handle (closing an adapter that a serving thread's context
     * uses): waits for the use in progress instead of throwing, and meanwhile {@link #enter()} on other threads queues
     * behind it instead of throwing. Pair with {@link #exitWaiting()}.
     */
    public MemorySegment enterWaiting() {
        patient.incrementAndGet();
        lock.lock();
        if (ptr == null) {
            exitWaiting();
            throw new IllegalStateException("this " + what + " is closed");
        }
        return ptr;
    }

    public void exitWaiting() {
        lock.unlock();
        patient.decrementAndGet();
    }

    private MemorySegment checkedPointer() {
        MemorySegment p = ptr;
        if (p == null) {
            lock.unlock();
            throw new IllegalStateException("this " + what + " is closed");
        }
        return p;
    }

    public void exit() {
        lock.unlock();
    }

    /** The pointer for a read that needs no exclusive use (the handle must be open). */
    public MemorySegment get() {
        MemorySegment p = ptr;
        if (p == null) {
            throw new IllegalStateException("this " + what + " is closed");
        }
        return p;
    }

    public boolean isOpen() {
        return ptr != null;
    }

    /** Frees the native object once; waits for a use in progress on another thread. */
    public void close() {
        lock.lock();
        try {
            if (ptr == null) {
                return;
            }
            ptr = null;
            release.explicit = true;
            cleanable.clean();
        } finally {
            lock.unlock();
        }
    }
}
