package dev.ferrymap;

/** The kinds of objects a handle can name, as counted by {@link Library#census}. */
public enum HandleKind {
    MAP(1),
    ITERATOR(2),
    VIEW(3),
    SUBSCRIPTION(4),
    TICKET(5);

    final int code;

    HandleKind(int code) {
        this.code = code;
    }
}
