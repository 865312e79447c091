package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * After each test class: every handle it made is gone (census back to zero). Handles
 * that tests dropped on purpose are freed by Cleaners, so this collects garbage a few
 * times (bounded) before it looks.
 */
public final class LeakCheck implements AfterAllCallback {
    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        assertEquals(0, settledCensus(), "live handles left by " + context.getDisplayName());
    }

    /** The census after giving Cleaners up to ~5 s to run. */
    static long settledCensus() throws InterruptedException {
        for (int i = 0; i < 100 && Library.censusTotal() != 0; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return Library.censusTotal();
    }
}
