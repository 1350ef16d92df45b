/* How other C code reads the recorder's rows (the RowBuffer of _hook.c) without making
 * a tuple of each: tracer/_wire.c spells them for the events pipe. _hook.Hook's module
 * gives this table as the capsule `rows_api` (named ROWS_API_NAME). */
#ifndef COROSCOPE_ROWS_H
#define COROSCOPE_ROWS_H

#include <Python.h>

#define ROWS_API_NAME "coroscope.tracer._hook.rows_api"
#define ROWS_API_VERSION 1

typedef struct {
    int version;  /* ROWS_API_VERSION */
    /* Move at most `limit` of the oldest rows out of `buffer` (a RowBuffer), as its
     * drain() takes them: a handle on `*n` rows, or NULL with an exception set. With the
     * GIL. */
    void *(*take)(PyObject *buffer, Py_ssize_t limit, Py_ssize_t *n);
    /* Row `i` of a taken handle: 1 and its fields if it is a switch row the hook packed
     * (`*line` -1 for None; `*cause` borrowed, kept alive by the handle), else 0. Reads
     * the row only: needs no GIL. */
    int (*switch_row)(void *taken, Py_ssize_t i, long long *t, int *src, int *dst,
                      int *line, PyObject **cause);
    /* Row `i` as the tuple drain() gives (a new reference). With the GIL. */
    PyObject *(*row)(void *taken, Py_ssize_t i);
    /* Free a taken handle and the rows in it. With the GIL. */
    void (*release)(void *taken);
} RowsAPI;

#endif
