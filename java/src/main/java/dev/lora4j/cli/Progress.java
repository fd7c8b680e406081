package dev.lora4j.cli;

import dev.lora4j.gguf.ProgressListener;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar on stderr (me.tongfei:progressbar) fed by a {@link ProgressListener}. */
final class Progress implements ProgressListener, AutoCloseable {
    private final ProgressBar bar;

    Progress(String task, String unit, long unitSize) {
        bar = new ProgressBarBuilder().setTaskName(task).setStyle(ProgressBarStyle.ASCII)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).setUnit(unit, unitSize)
                .setUpdateIntervalMillis(250).showSpeed().build();
    }

    static Progress bytes(String task) {
        return new Progress(task, " MiB", 1 << 20);
    }

    @Override
    public void progress(long done, long total) {
        bar.maxHint(total);
        bar.stepTo(done);
    }

    @Override
    public void close() {
        bar.close();
    }
}
