package dev.lora4j.train;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

/**
 * Value semantics for the configurations ({@link TrainConfig}, {@link LoraConfig}, {@link DataOptions}), which keep
 * their values in one holder object each: equal when every field of the holders is, as records are, without
 * listing the fields once more.
 */
final class ConfigFields {
    private ConfigFields() {}

    static boolean equal(Object a, Object b) {
        return a.getClass() == b.getClass() && values(a).equals(values(b));
    }

    static int hash(Object holder) {
        return values(holder).hashCode();
    }

    /** {@code Name[field=value, ...]}, as a record prints. */
    static String string(String name, Object holder) {
        List<String> parts = new ArrayList<>();
        for (Field f : fields(holder)) {
            parts.add(f.getName() + "=" + get(f, holder));
        }
        return name + "[" + String.join(", ", parts) + "]";
    }

    private static List<Object> values(Object holder) {
        List<Object> out = new ArrayList<>();
        for (Field f : fields(holder)) {
            out.add(get(f, holder));
        }
        return out;
    }

    private static List<Field> fields(Object holder) {
        List<Field> out = new ArrayList<>();
        for (Field f : holder.getClass().getDeclaredFields()) {
            if (!Modifier.isStatic(f.getModifiers()) && !f.isSynthetic()) {
                out.add(f);
            }
        }
        return out;
    }

    private static Object get(Field f, Object holder) {
        try {
            f.setAccessible(true); // a private class of this package
            return f.get(holder);
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
    }
}
