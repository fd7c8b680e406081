package dev.lora4j.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The demo's self-made text: short stories from a small grammar, so that a tiny model can learn them in a minute.
 * The base task is ordinary little stories; the shifted task, for the LoRA adapter, tells them about purple animals
 * that fly to the moon — different enough to see in greedy samples.
 */
final class DemoCorpus {
    private static final String[] ANIMALS = {"cat", "dog", "bird", "fox", "rabbit", "bear", "duck", "frog", "horse", "mouse"};
    private static final String[] NAMES = {"Tom", "Lily", "Max", "Anna", "Ben", "Mia", "Sam", "Lucy"};
    private static final String[] ADJ = {"little", "happy", "big", "small", "kind", "brave", "sleepy", "funny"};
    private static final String[] PLACES = {"the park", "the garden", "the river", "the forest", "the farm", "the hill"};
    private static final String[] THINGS = {"a red ball", "a blue box", "a green leaf", "a yellow flower", "a big apple"};
    private static final String[] FEELINGS = {"happy", "glad", "sleepy", "hungry", "excited"};

    private DemoCorpus() {}

    /** Base task: "Once upon a time, there was a little cat named Tom. Tom went to the park. ..." */
    static List<String> baseStories(int n, long seed) {
        return stories(n, seed, (r, animal, name) -> "Once upon a time, there was a " + pick(r, ADJ) + " " + animal + " named " + name + ". "
                + name + " went to " + pick(r, PLACES) + ". There " + name + " found " + pick(r, THINGS) + ". The " + animal
                + " was very " + pick(r, FEELINGS) + ". The end.");
    }

    /** Shifted task: the same shape, but purple animals that fly to the moon. */
    static List<String> shiftedStories(int n, long seed) {
        return stories(n, seed, (r, animal, name) -> "Once upon a time, there was a purple " + animal + " named " + name + ". " + name
                + " flew to the moon. There " + name + " found a shiny star. The " + animal + " sang a song. The end.");
    }

    /** A story told of an animal and its name, drawing any other words from {@code r}. */
    private interface Story {
        String tell(Random r, String animal, String name);
    }

    /** {@code n} stories, each of an animal and a name drawn (in that order) from a generator seeded with {@code seed}. */
    private static List<String> stories(int n, long seed, Story story) {
        Random r = new Random(seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String animal = pick(r, ANIMALS);
            String name = pick(r, NAMES);
            out.add(story.tell(r, animal, name));
        }
        return out;
    }

    private static String pick(Random r, String[] a) {
        return a[r.nextInt(a.length)];
    }
}
