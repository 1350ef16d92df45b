/* The recorder's greenlet.settrace callback, fast path in C.
 *
 * Most switches of a traced program are between two greenlets the recorder already
 * knows, both alive, with the origin paused in the user's own code. For those this
 * callable does what Recorder._slow does in Python -- read the clock, look up both task
 * ids, read the line the origin paused at, append one row -- at a fraction of the cost.
 * Everything else (a new task, a finished greenlet, a throw, a pause inside a library,
 * a busy span to close, Dummy thread names to learn) is handed to the Python slow path
 * with the timestamp already taken, so there is one definition of what gets recorded.
 *
 * Rows and times are exactly those of the Python path: t is CLOCK_MONOTONIC
 * nanoseconds (what time.perf_counter_ns reads on Linux) minus t0.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>
#include <time.h>

#include "_rows.h"

/* Small direct-mapped caches keyed by (code object, instruction offset): the line a
 * paused frame is on (decoding the line table costs ~45 ns a switch), and the cause of a
 * pause inside a library when Python said it depends on nothing else (gevent.sleep(0)
 * pauses on one line: no need to ask Python each time). An entry holds a strong
 * reference to its code object, so an address is never reused while cached. */
/* The row kind this hook writes: events.py's SWITCH (tests/test_event_model.py pins it). */
#define KIND_SWITCH 0
#define CACHE_SIZE 512
typedef struct {
    PyObject *code;   /* NULL: empty slot */
    int key;          /* the instruction offset (times 2, plus to_hub, for causes) */
    int ivalue;       /* the line */
    PyObject *value;  /* the cause (str) */
} CacheEntry;

static inline size_t
cache_slot(PyObject *code, int key)
{
    size_t h = ((size_t)code >> 4) * 31u + (size_t)key * 2654435761u;
    return (h ^ (h >> 9)) & (CACHE_SIZE - 1);
}

static inline CacheEntry *
cache_find(CacheEntry *table, PyObject *code, int key)
{
    CacheEntry *e = &table[cache_slot(code, key)];
    return e->code == code && e->key == key ? e : NULL;
}

static void
cache_put(CacheEntry *table, PyObject *code, int key, PyObject *value, int ivalue)
{
    CacheEntry *e = &table[cache_slot(code, key)];
    Py_INCREF(code);
    Py_XINCREF(value);
    Py_XSETREF(e->code, code);
    Py_XSETREF(e->value, value);
    e->key = key;
    e->ivalue = ivalue;
}

static void
cache_clear(CacheEntry *table)
{
    for (int i = 0; i < CACHE_SIZE; i++) {
        Py_CLEAR(table[i].code);
        Py_CLEAR(table[i].value);
    }
}

/* ---- row buffer ---------------------------------------------------------------------
 *
 * Where the recorder keeps its rows until the flusher drains them. A switch row from the
 * fast path is packed into 32 bytes (no tuple, no int objects, nothing for the garbage
 * collector to count or visit); any other row is kept as the tuple Python appended.
 * Rows become tuples again only when drained, in the flusher's thread, off the traced
 * program's switch path. Storage is in fixed chunks: growing never copies.
 */
#define CHUNK_ROWS 8192
typedef struct {
    long long t;
    PyObject *obj;   /* packed: the cause (str); else the whole row */
    int src, dst;
    int line;        /* packed: -1 for None */
    int packed;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry **chunks;
    Py_ssize_t nchunks, cap_chunks;
    Py_ssize_t n;    /* rows held */
} RowBuffer;

static PyTypeObject RowBufferType;

static Entry *
rb_slot(RowBuffer *self)  /* the next free entry, or NULL (MemoryError set) */
{
    Py_ssize_t chunk = self->n / CHUNK_ROWS;
    if (chunk == self->nchunks) {
        if (self->nchunks == self->cap_chunks) {
            Py_ssize_t cap = self->cap_chunks ? self->cap_chunks * 2 : 16;
            Entry **grown = PyMem_Realloc(self->chunks, cap * sizeof(Entry *));
            if (grown == NULL) {
                PyErr_NoMemory();
                return NULL;
            }
            self->chunks = grown;
            self->cap_chunks = cap;
        }
        Entry *c = PyMem_Malloc(CHUNK_ROWS * sizeof(Entry));
        if (c == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        self->chunks[self->nchunks++] = c;
    }
    return &self->chunks[chunk][self->n % CHUNK_ROWS];
}

static PyObject *
entry_row(Entry *e)  /* the row as a tuple: a new reference */
{
    if (!e->packed) {
        Py_INCREF(e->obj);
        return e->obj;
    }
    PyObject *row = PyTuple_New(6);
    if (row == NULL)
        return NULL;
    PyObject *t = PyLong_FromLongLong(e->t), *src = PyLong_FromLong(e->src),
             *dst = PyLong_FromLong(e->dst), *line;
    if (e->line < 0) {
        Py_INCREF(Py_None);
        line = Py_None;
    }
    else
        line = PyLong_FromLong(e->line);
    Py_INCREF(e->obj);
    PyTuple_SET_ITEM(row, 0, t);
    PyTuple_SET_ITEM(row, 1, PyLong_FromLong(KIND_SWITCH));
    PyTuple_SET_ITEM(row, 2, src);
    PyTuple_SET_ITEM(row, 3, dst);
    PyTuple_SET_ITEM(row, 4, line);
    PyTuple_SET_ITEM(row, 5, e->obj);
    if (t == NULL || src == NULL || dst == NULL || line == NULL) {
        Py_DECREF(row);
        return NULL;
    }
    return row;
}

/* Append a packed switch row (t, SWITCH, src, dst, line or -1, cause); 0, or -1 with
 * MemoryError set. `cause` is borrowed: the buffer takes its own reference. */
static int
rb_push_switch(RowBuffer *self, long long t, int src, int dst, int line, PyObject *cause)
{
    Entry *e = rb_slot(self);
    if (e == NULL)
        return -1;
    Py_INCREF(cause);
    e->t = t;
    e->obj = cause;
    e->src = src;
    e->dst = dst;
    e->line = line;
    e->packed = 1;
    self->n++;
    return 0;
}

static void
rb_release(Entry **chunks, Py_ssize_t nchunks, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        Py_DECREF(chunks[i / CHUNK_ROWS][i % CHUNK_ROWS].obj);
    for (Py_ssize_t c = 0; c < nchunks; c++)
        PyMem_Free(chunks[c]);
    PyMem_Free(chunks);
}

static void
RowBuffer_dealloc(RowBuffer *self)
{
    rb_release(self->chunks, self->nchunks, self->n);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
RowBuffer_append(RowBuffer *self, PyObject *row)
{
    Entry *e = rb_slot(self);
    if (e == NULL)
        return NULL;
    Py_INCREF(row);
    e->obj = row;
    e->packed = 0;
    self->n++;
    Py_RETURN_NONE;
}

/* Move at most `limit` of the oldest rows out (whole chunks, so at least one; all of
 * them when fewer than a chunk are held): the caller owns `*chunks` and frees them with
 * rb_release. 0, or -1 with MemoryError set. */
static int
rb_take(RowBuffer *self, Py_ssize_t limit, Entry ***chunks, Py_ssize_t *nchunks,
        Py_ssize_t *n)
{
    if (self->n <= limit || self->n <= CHUNK_ROWS) {  /* all of it: less than a chunk */
        *chunks = self->chunks;
        *nchunks = self->nchunks;
        *n = self->n;
        self->chunks = NULL;
        self->nchunks = self->cap_chunks = self->n = 0;
        return 0;
    }
    *nchunks = limit / CHUNK_ROWS > 0 ? limit / CHUNK_ROWS : 1;
    *n = *nchunks * CHUNK_ROWS;
    *chunks = PyMem_Malloc(*nchunks * sizeof(Entry *));
    if (*chunks == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*chunks, self->chunks, *nchunks * sizeof(Entry *));
    memmove(self->chunks, self->chunks + *nchunks,
            (self->nchunks - *nchunks) * sizeof(Entry *));
    self->nchunks -= *nchunks;
    self->n -= *n;  /* a multiple of CHUNK_ROWS: every index keeps its chunk */
    return 0;
}

static PyObject *
RowBuffer_drain(RowBuffer *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* drain([limit]): every row, or at most `limit` of the oldest (whole chunks, so at
     * least one): the flusher takes a backlog a slice at a time, and only that slice is
     * ever tuples at once; the rest stays packed (32 bytes a switch). */
    Py_ssize_t limit = PY_SSIZE_T_MAX;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "drain() takes at most one argument");
        return NULL;
    }
    if (nargs == 1) {
        limit = PyLong_AsSsize_t(args[0]);
        if (limit == -1 && PyErr_Occurred())
            return NULL;
        if (limit < 0) {
            PyErr_SetString(PyExc_ValueError, "drain() limit must be >= 0");
            return NULL;
        }
    }
    /* Take the storage first: converting can run the garbage collector, whose
     * finalizers may print (and so append) -- those rows go to the buffer's rest. */
    Entry **chunks;
    Py_ssize_t nchunks, n;
    if (rb_take(self, limit, &chunks, &nchunks, &n) < 0)
        return NULL;
    PyObject *out = PyList_New(n);
    if (out != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *row = entry_row(&chunks[i / CHUNK_ROWS][i % CHUNK_ROWS]);
            if (row == NULL) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, i, row);
        }
    }
    rb_release(chunks, nchunks, n);
    return out;
}

static Py_ssize_t
RowBuffer_len(RowBuffer *self)
{
    return self->n;
}

static PyObject *
RowBuffer_item(RowBuffer *self, Py_ssize_t i)
{
    if (i < 0 || i >= self->n) {
        PyErr_SetString(PyExc_IndexError, "row index out of range");
        return NULL;
    }
    return entry_row(&self->chunks[i / CHUNK_ROWS][i % CHUNK_ROWS]);
}

static PySequenceMethods RowBuffer_as_sequence = {
    .sq_length = (lenfunc)RowBuffer_len,
    .sq_item = (ssizeargfunc)RowBuffer_item,
};

static PyMethodDef RowBuffer_methods[] = {
    {"append", (PyCFunction)RowBuffer_append, METH_O, "keep one row (a tuple)"},
    {"drain", (PyCFunction)(void (*)(void))RowBuffer_drain, METH_FASTCALL,
     "drain([limit]): take the rows held (at most about `limit`, oldest first) as a "
     "list of tuples"},
    {NULL}
};

static PyTypeObject RowBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coroscope.tracer._hook.RowBuffer",
    .tp_basicsize = sizeof(RowBuffer),
    .tp_dealloc = (destructor)RowBuffer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "the recorder's rows, switch rows packed (see Recorder.drain)",
    .tp_as_sequence = &RowBuffer_as_sequence,
    .tp_methods = RowBuffer_methods,
    .tp_new = PyType_GenericNew,
};

/* The rows for other C code (_rows.h): tracer/_wire.c spells them for the events pipe. */
typedef struct {
    Entry **chunks;
    Py_ssize_t nchunks, n;
} Taken;

static void *
api_take(PyObject *buffer, Py_ssize_t limit, Py_ssize_t *n)
{
    if (!PyObject_TypeCheck(buffer, &RowBufferType)) {
        PyErr_SetString(PyExc_TypeError, "not a RowBuffer");
        return NULL;
    }
    Taken *taken = PyMem_Malloc(sizeof(Taken));
    if (taken == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (rb_take((RowBuffer *)buffer, limit, &taken->chunks, &taken->nchunks, &taken->n) < 0) {
        PyMem_Free(taken);
        return NULL;
    }
    *n = taken->n;
    return taken;
}

static int
api_switch_row(void *taken, Py_ssize_t i, long long *t, int *src, int *dst, int *line,
               PyObject **cause)
{
    Entry *e = &((Taken *)taken)->chunks[i / CHUNK_ROWS][i % CHUNK_ROWS];
    if (!e->packed)
        return 0;
    *t = e->t;
    *src = e->src;
    *dst = e->dst;
    *line = e->line;
    *cause = e->obj;
    return 1;
}

static PyObject *
api_row(void *taken, Py_ssize_t i)
{
    return entry_row(&((Taken *)taken)->chunks[i / CHUNK_ROWS][i % CHUNK_ROWS]);
}

static void
api_release(void *taken)
{
    rb_release(((Taken *)taken)->chunks, ((Taken *)taken)->nchunks, ((Taken *)taken)->n);
    PyMem_Free(taken);
}

static RowsAPI rows_api = {ROWS_API_VERSION, api_take, api_switch_row, api_row, api_release};

/* greenlet's own getters for `dead` and `gr_frame`, called directly: a subclass may
 * override `dead` (gevent's Greenlet does, in Cython, at ~100 ns) but the recorder wants
 * the greenlet's own state, and the generic attribute lookup is skipped either way. */
static getter get_dead, get_gr_frame;
static void *closure_dead, *closure_gr_frame;

typedef struct {
    PyObject_HEAD
    RowBuffer *rows;     /* where rows are kept */
    PyObject *attr;      /* name of the task-id attribute on greenlets */
    PyObject *files;     /* frozenset of user file names */
    PyObject *slow;      /* callable(event, args, t): the Python path */
    PyObject *pause_of;  /* callable(frame, to_hub) -> (cause, cacheable): library pauses */
    PyObject *prev;      /* the previous tracer, or None */
    PyObject *running;   /* task id now running (read by BusyWatch) */
    PyObject *current_override;  /* the generator (or driver) task running, or None */
    PyObject *dummy_threads;  /* threading._active once threading is patched, or None */
    PyObject *thread_named;   /* set of task ids whose Dummy thread is already recorded */
    long long switched_at;
    long long t0;
    long long hub_tid;   /* -1 until the Hub is known */
    int force_slow;      /* set by Python while it has state the fast path ignores */
    CacheEntry lines[CACHE_SIZE];
    CacheEntry causes[CACHE_SIZE];
} Hook;

static PyObject *str_switch, *str_wait, *str_switch_cause, *str_wake, *str_send, *str_yield;

/* Hook and Profiler hold bound methods of the Recorder and GeneratorTracer that hold
 * them: they take part in the garbage collector, so a recorder dropped without stop()
 * is still freed. */
static int
Hook_traverse(Hook *self, visitproc visit, void *arg)
{
    Py_VISIT(self->slow);
    Py_VISIT(self->pause_of);
    Py_VISIT(self->prev);
    Py_VISIT(self->running);
    Py_VISIT(self->current_override);
    Py_VISIT(self->dummy_threads);
    Py_VISIT(self->thread_named);
    return 0;
}

static int
Hook_clear(Hook *self)
{
    Py_CLEAR(self->rows);
    Py_CLEAR(self->attr);
    Py_CLEAR(self->files);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->pause_of);
    Py_CLEAR(self->prev);
    Py_CLEAR(self->running);
    Py_CLEAR(self->current_override);
    Py_CLEAR(self->dummy_threads);
    Py_CLEAR(self->thread_named);
    cache_clear(self->lines);
    cache_clear(self->causes);
    return 0;
}

static void
Hook_dealloc(Hook *self)
{
    PyObject_GC_UnTrack(self);
    Hook_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Hook_init(Hook *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"rows", "attr", "files", "slow", "pause_of", "prev", "t0", NULL};
    PyObject *rows, *attr, *files, *slow, *pause_of, *prev;
    long long t0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!UOOOOL", kwlist, &RowBufferType, &rows,
                                     &attr, &files, &slow, &pause_of, &prev, &t0))
        return -1;
    Py_INCREF(pause_of); Py_XSETREF(self->pause_of, pause_of);
    Py_INCREF(rows); Py_XSETREF(self->rows, (RowBuffer *)rows);
    Py_INCREF(attr); Py_XSETREF(self->attr, attr);
    Py_INCREF(files); Py_XSETREF(self->files, files);
    Py_INCREF(slow); Py_XSETREF(self->slow, slow);
    Py_INCREF(prev); Py_XSETREF(self->prev, prev);
    Py_INCREF(Py_None); Py_XSETREF(self->running, Py_None);
    Py_INCREF(Py_None); Py_XSETREF(self->current_override, Py_None);
    Py_INCREF(Py_None); Py_XSETREF(self->dummy_threads, Py_None);
    Py_INCREF(Py_None); Py_XSETREF(self->thread_named, Py_None);
    self->t0 = t0;
    self->hub_tid = -1;
    self->force_slow = 0;
    self->switched_at = 0;
    return 0;
}

static inline long long
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static PyObject *
call_prev(Hook *self, PyObject *event, PyObject *args)
{
    if (self->prev == Py_None)
        Py_RETURN_NONE;
    return PyObject_CallFunctionObjArgs(self->prev, event, args, NULL);
}

static PyObject *
go_slow(Hook *self, PyObject *event, PyObject *args, long long t)
{
    /* The slow path calls the previous tracer itself. */
    PyObject *pt = PyLong_FromLongLong(t);
    if (pt == NULL)
        return NULL;
    PyObject *r = PyObject_CallFunctionObjArgs(self->slow, event, args, pt, NULL);
    Py_DECREF(pt);
    return r;
}

/* The task id stored on a greenlet: straight from its instance dict (a greenlet has
 * one), skipping the generic attribute machinery; a new reference, or NULL. */
static inline PyObject *
task_id(PyObject *g, PyObject *attr)
{
    PyObject **dictptr = _PyObject_GetDictPtr(g);
    if (dictptr == NULL || *dictptr == NULL)
        return NULL;
    PyObject *v = PyDict_GetItemWithError(*dictptr, attr);
    Py_XINCREF(v);
    return v;
}

/* The line a frame is paused on, through the line cache. */
static int
frame_line(Hook *self, PyFrameObject *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    int lasti = PyFrame_GetLasti(frame);
    CacheEntry *e = cache_find(self->lines, (PyObject *)code, lasti);
    int line;
    if (e != NULL) {
        line = e->ivalue;
    }
    else {
        line = PyFrame_GetLineNumber(frame);
        cache_put(self->lines, (PyObject *)code, lasti, NULL, line);
    }
    Py_DECREF(code);
    return line;
}

/* Why `frame` (innermost, in a library) paused, through the cause cache: a new
 * reference to a str, or NULL with no error set (then the slow path decides). */
static PyObject *
library_cause(Hook *self, PyObject *frame, int to_hub)
{
    PyCodeObject *inner = PyFrame_GetCode((PyFrameObject *)frame);
    int key = PyFrame_GetLasti((PyFrameObject *)frame) * 2 + to_hub;
    CacheEntry *e = cache_find(self->causes, (PyObject *)inner, key);
    PyObject *cause = NULL;
    if (e != NULL) {
        cause = e->value;
        Py_INCREF(cause);
    }
    else {
        /* pause_of(frame, to_hub) -> (cause, cacheable) */
        PyObject *r = PyObject_CallFunctionObjArgs(self->pause_of, frame,
                                                   to_hub ? Py_True : Py_False, NULL);
        if (r != NULL && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2
            && PyUnicode_Check(PyTuple_GET_ITEM(r, 0))) {
            cause = PyTuple_GET_ITEM(r, 0);
            Py_INCREF(cause);
            if (PyTuple_GET_ITEM(r, 1) == Py_True)
                cache_put(self->causes, (PyObject *)inner, key, cause, 0);
        }
        Py_XDECREF(r);
        PyErr_Clear();
    }
    Py_DECREF(inner);
    return cause;
}

/* Is this code object from one of the user's files? 1, 0, or -1 (error). */
static inline int
in_user_files(Hook *self, PyCodeObject *code)
{
    return PySet_Contains(self->files, code->co_filename);
}

static PyObject *
Hook_call(Hook *self, PyObject *args_in, PyObject *kwds)
{
    if (!PyTuple_Check(args_in) || PyTuple_GET_SIZE(args_in) != 2) {
        PyErr_SetString(PyExc_TypeError, "hook(event, (origin, target))");
        return NULL;
    }
    if (self->rows == NULL || self->slow == NULL)  /* cleared by the collector */
        Py_RETURN_NONE;
    PyObject *event = PyTuple_GET_ITEM(args_in, 0);
    PyObject *args = PyTuple_GET_ITEM(args_in, 1);
    long long t = now_ns() - self->t0;
    if (self->force_slow || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) != 2
        || (event != str_switch && PyUnicode_Compare(event, str_switch) != 0)) {
        if (PyErr_Occurred())
            PyErr_Clear();
        return go_slow(self, event, args, t);
    }
    PyObject *origin = PyTuple_GET_ITEM(args, 0);
    PyObject *target = PyTuple_GET_ITEM(args, 1);

    /* Both known, origin alive (else a spawn or a finish to record: the slow path). */
    PyObject *src = task_id(origin, self->attr);
    PyObject *dst = src == NULL ? NULL : task_id(target, self->attr);
    PyObject *dead = dst == NULL ? NULL : get_dead(origin, closure_dead);
    long long src_id = -1, dst_id = -1;
    if (dead == Py_False) {
        src_id = PyLong_AsLongLong(src);
        dst_id = PyLong_AsLongLong(dst);
    }
    /* threading patched: a greenlet that has a Dummy thread not yet recorded is named by
     * the slow path (the others, and the already named, stay here). */
    int to_name = 0;
    if (src_id >= 0 && self->dummy_threads != Py_None && PyDict_Check(self->dummy_threads)
        && PyAnySet_Check(self->thread_named)
        && PySet_Contains(self->thread_named, src) == 0) {
        PyObject *key = PyLong_FromVoidPtr(origin);  /* ident == id(greenlet) */
        to_name = key == NULL ? -1 : PyDict_Contains(self->dummy_threads, key);
        Py_XDECREF(key);
    }
    Py_XDECREF(src);
    Py_XDECREF(dead);
    if (src_id < 0 || dst_id < 0 || src_id > INT_MAX || dst_id > INT_MAX || to_name != 0) {
        Py_XDECREF(dst);
        PyErr_Clear();
        return go_slow(self, event, args, t);
    }

    int line = -1;
    PyObject *cause;
    if (src_id == self->hub_tid) {
        Py_INCREF(str_wake);
        cause = str_wake;
    }
    else {
        int to_hub = dst_id == self->hub_tid;
        PyObject *frame = get_gr_frame(origin, closure_gr_frame);
        int in_user = -1;
        if (frame != NULL && PyFrame_Check(frame)) {
            PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
            in_user = in_user_files(self, code);
            Py_DECREF(code);
        }
        if (in_user == 1) {  /* paused right in user code: an explicit switch or wait */
            line = frame_line(self, (PyFrameObject *)frame);
            cause = to_hub ? str_wait : str_switch_cause;
            Py_INCREF(cause);
        }
        else if (in_user == 0) {
            /* Paused inside a library (gevent's sleep, a socket...): the line is that of
             * the innermost user frame below it; why it paused, Python reads from the
             * library's frame, once per (code, instruction) when the answer depends on
             * nothing else (see _library_pause in recorder.py). */
            PyFrameObject *f = PyFrame_GetBack((PyFrameObject *)frame);
            while (f != NULL) {
                PyCodeObject *c = PyFrame_GetCode(f);
                int found = in_user_files(self, c);
                Py_DECREF(c);
                if (found == 1) {
                    line = frame_line(self, f);
                    Py_DECREF(f);
                    break;
                }
                PyFrameObject *back = PyFrame_GetBack(f);
                Py_DECREF(f);
                f = back;
            }
            cause = library_cause(self, frame, to_hub);
        }
        else
            cause = NULL;
        Py_XDECREF(frame);
        if (cause == NULL) {
            Py_DECREF(dst);
            PyErr_Clear();
            return go_slow(self, event, args, t);
        }
    }
    int failed = rb_push_switch(self->rows, t, (int)src_id, (int)dst_id, line, cause);
    Py_DECREF(cause);
    if (failed) {
        Py_DECREF(dst);
        return NULL;
    }
    Py_XSETREF(self->running, dst);  /* takes our reference to dst */
    self->switched_at = t;
    return call_prev(self, event, args);
}

static PyMemberDef Hook_members[] = {
    {"running", T_OBJECT, offsetof(Hook, running), 0, "task id now running"},
    {"current_override", T_OBJECT, offsetof(Hook, current_override), 0,
     "the generator task running (see generators.py), or None"},
    {"dummy_threads", T_OBJECT, offsetof(Hook, dummy_threads), 0,
     "threading._active once threading is monkey-patched, or None"},
    {"thread_named", T_OBJECT, offsetof(Hook, thread_named), 0,
     "set of task ids whose Dummy thread name is recorded"},
    {"switched_at", T_LONGLONG, offsetof(Hook, switched_at), 0, "when it got control"},
    {"hub_tid", T_LONGLONG, offsetof(Hook, hub_tid), 0, "the Hub's task id, or -1"},
    {"force_slow", T_INT, offsetof(Hook, force_slow), 0, "send every event to Python"},
    {"t0", T_LONGLONG, offsetof(Hook, t0), READONLY, "clock origin"},
    {NULL}
};

static PyTypeObject HookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coroscope.tracer._hook.Hook",
    .tp_basicsize = sizeof(Hook),
    .tp_dealloc = (destructor)Hook_dealloc,
    .tp_call = (ternaryfunc)Hook_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Hook_traverse,
    .tp_clear = (inquiry)Hook_clear,
    .tp_free = PyObject_GC_Del,
    .tp_doc = "greenlet.settrace callback: fast path of Recorder (see recorder.py)",
    .tp_members = Hook_members,
    .tp_init = (initproc)Hook_init,
    .tp_new = PyType_GenericNew,
};

/* ---- generator profiler ------------------------------------------------------------
 *
 * A C profile function (PyEval_SetProfile) for GeneratorTracer: it sees every call and
 * return of the thread, like sys.setprofile would, but calls Python only for the events
 * that matter -- a generator of the user's files resumed, a traced generator left, a
 * driver function returning -- so the thousands of other calls cost a flag test.
 */
typedef struct {
    PyObject_HEAD
    PyObject *files;             /* frozenset of user file names */
    PyObject *generators;        /* dict: live generator frame -> task id */
    PyObject *drivers;           /* dict: driver function frame -> task id */
    PyObject *on_resume;         /* callable(frame[, thrown]) */
    PyObject *on_leave;          /* callable(frame[, yielded]) */
    PyObject *on_driver_return;  /* callable(frame) */
    PyObject *closing;           /* set: generator frames being closed by the collector */
    PyObject *at_yield;          /* callable(frame, leaving) -> bool: at a yield? */
    Hook *hook;                  /* rows, clock and running state of the recorder */
    PyObject *disable;           /* sys.monitoring.DISABLE, or NULL */
    unsigned long thread;        /* the recorder's thread (sys.monitoring is global) */
    CacheEntry yields[CACHE_SIZE];  /* (code, lasti, leaving) -> at_yield(...) */
} Profiler;

static int
Profiler_traverse(Profiler *self, visitproc visit, void *arg)
{
    Py_VISIT(self->generators);
    Py_VISIT(self->drivers);
    Py_VISIT(self->on_resume);
    Py_VISIT(self->on_leave);
    Py_VISIT(self->on_driver_return);
    Py_VISIT(self->closing);
    Py_VISIT(self->at_yield);
    Py_VISIT(self->hook);
    return 0;
}

static int
Profiler_clear(Profiler *self)
{
    Py_CLEAR(self->files);
    Py_CLEAR(self->generators);
    Py_CLEAR(self->drivers);
    Py_CLEAR(self->on_resume);
    Py_CLEAR(self->on_leave);
    Py_CLEAR(self->on_driver_return);
    Py_CLEAR(self->closing);
    Py_CLEAR(self->at_yield);
    Py_CLEAR(self->hook);
    Py_CLEAR(self->disable);
    cache_clear(self->yields);
    return 0;
}

static void
Profiler_dealloc(Profiler *self)
{
    PyObject_GC_UnTrack(self);
    Profiler_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Profiler_init(Profiler *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"files", "generators", "drivers", "on_resume", "on_leave",
                             "on_driver_return", "closing", "at_yield", "hook", NULL};
    PyObject *files, *generators, *drivers, *on_resume, *on_leave, *on_driver_return,
        *closing, *at_yield, *hook;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!OOOO!OO!", kwlist, &files,
                                     &PyDict_Type, &generators, &PyDict_Type, &drivers,
                                     &on_resume, &on_leave, &on_driver_return, &PySet_Type,
                                     &closing, &at_yield, &HookType, &hook))
        return -1;
    Py_INCREF(files); Py_XSETREF(self->files, files);
    Py_INCREF(generators); Py_XSETREF(self->generators, generators);
    Py_INCREF(drivers); Py_XSETREF(self->drivers, drivers);
    Py_INCREF(on_resume); Py_XSETREF(self->on_resume, on_resume);
    Py_INCREF(on_leave); Py_XSETREF(self->on_leave, on_leave);
    Py_INCREF(on_driver_return); Py_XSETREF(self->on_driver_return, on_driver_return);
    Py_INCREF(closing); Py_XSETREF(self->closing, closing);
    Py_INCREF(at_yield); Py_XSETREF(self->at_yield, at_yield);
    Py_INCREF(hook); Py_XSETREF(self->hook, (Hook *)hook);
    self->thread = PyThread_get_thread_ident();
    return 0;
}

/* Is `frame` paused at a YIELD_VALUE? 1, 0, or -1 (error). Asked of Python once per
 * (code, instruction), then cached. */
static int
paused_at_yield(Profiler *self, PyFrameObject *frame, int leaving)
{
    /* at_yield(frame, leaving): `leaving` is a return event (3.13 then reports the
     * instruction after the yield), else a resume (was it thrown into?). */
    PyCodeObject *code = PyFrame_GetCode(frame);
    int key = PyFrame_GetLasti(frame) * 2 + leaving;
    CacheEntry *e = cache_find(self->yields, (PyObject *)code, key);
    int r;
    if (e != NULL) {
        r = e->ivalue;
    }
    else {
        PyObject *v = PyObject_CallFunctionObjArgs(self->at_yield, (PyObject *)frame,
                                                   leaving ? Py_True : Py_False, NULL);
        r = v == NULL ? -1 : PyObject_IsTrue(v);
        Py_XDECREF(v);
        if (r >= 0)
            cache_put(self->yields, (PyObject *)code, key, NULL, r);
    }
    Py_DECREF(code);
    return r;
}

/* The generator or driver task of `frame`: a borrowed int, or NULL. */
static PyObject *
frame_task(Profiler *self, PyObject *frame)
{
    PyObject *tid = PyDict_GetItemWithError(self->generators, frame);
    if (tid == NULL && !PyErr_Occurred() && PyDict_GET_SIZE(self->drivers))
        tid = PyDict_GetItemWithError(self->drivers, frame);
    return tid;
}

/* One switch row, as GeneratorTracer would append it, and the recorder's note_switch. */
static int
generator_switch(Profiler *self, long long t, PyObject *src, PyObject *dst, int line,
                 PyObject *cause)
{
    Hook *hook = self->hook;
    long src_id = PyLong_AsLong(src), dst_id = PyLong_AsLong(dst);
    if (src_id < 0 || dst_id < 0 || src_id > INT_MAX || dst_id > INT_MAX)
        return -1;  /* (an error, or an id a packed row cannot hold): the slow path */
    if (rb_push_switch(hook->rows, t, (int)src_id, (int)dst_id, line, cause) < 0)
        return -1;
    Py_INCREF(dst);
    Py_XSETREF(hook->running, dst);
    hook->switched_at = t;
    Py_INCREF(dst);
    Py_XSETREF(hook->current_override, dst);
    return 0;
}

/* A generator resumed by send()/next() from a frame that already has a task, into a
 * generator already known: the common case, recorded here. 1: done; 0: Python decides.
 * `thrown`: -1 when the caller cannot tell (a profile "call" event: the frame is looked
 * at), else whether this resume is a throw(). */
static int
fast_resume(Profiler *self, PyFrameObject *frame, int thrown)
{
    Hook *hook = self->hook;
    if (thrown < 0)
        thrown = paused_at_yield(self, frame, 0);
    if (hook->force_slow || thrown != 0)
        return 0;  /* thrown into (or an error): the slow path */
    PyObject *target = PyDict_GetItemWithError(self->generators, (PyObject *)frame);
    if (target == NULL)
        return 0;
    PyFrameObject *caller = PyFrame_GetBack(frame);
    if (caller == NULL)
        return 0;
    int done = 0;
    PyObject *origin = frame_task(self, (PyObject *)caller);
    if (origin != NULL) {
        long long t = now_ns() - hook->t0;
        int line = frame_line(hook, caller);
        done = generator_switch(self, t, origin, target, line, str_send) == 0;
    }
    Py_DECREF(caller);
    return done;
}

/* A known generator yielding back to a frame that has a task. 1: done; 0: Python.
 * `yielded`: -1 when the caller cannot tell (a profile "return" event), else 0 or 1. */
static int
fast_leave(Profiler *self, PyFrameObject *frame, PyObject *src, int yielded)
{
    Hook *hook = self->hook;
    if (hook->force_slow || (PySet_GET_SIZE(self->closing)
                             && PySet_Contains(self->closing, (PyObject *)frame) != 0))
        return 0;
    if (yielded < 0)
        yielded = paused_at_yield(self, frame, 1);
    if (yielded != 1)
        return 0;  /* it returned or raised: a finish, the slow path */
    PyFrameObject *back = PyFrame_GetBack(frame);
    if (back == NULL)
        return 0;
    int done = 0;
    PyObject *dst = frame_task(self, (PyObject *)back);
    if (dst != NULL) {
        long long t = now_ns() - hook->t0;
        int line = frame_line(hook, frame);
        done = generator_switch(self, t, src, dst, line, str_yield) == 0;
    }
    Py_DECREF(back);
    return done;
}

/* callback(frame) or callback(frame, flag), for the profile function and the
 * sys.monitoring callbacks alike: an error is reported, never raised into the traced
 * program (a pending error from a fast path that bailed out is dropped first). */
static void
notify(PyObject *callback, PyFrameObject *frame, PyObject *flag)
{
    PyErr_Clear();
    PyObject *r = flag == NULL
        ? PyObject_CallOneArg(callback, (PyObject *)frame)
        : PyObject_CallFunctionObjArgs(callback, (PyObject *)frame, flag, NULL);
    if (r == NULL)
        PyErr_WriteUnraisable(callback);
    Py_XDECREF(r);
}

static int
profiler_event(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    Profiler *self = (Profiler *)obj;
    if ((what != PyTrace_CALL && what != PyTrace_RETURN) || self->hook == NULL
        || self->hook->rows == NULL || self->generators == NULL)
        return 0;
    PyCodeObject *code = PyFrame_GetCode(frame);
    int gen = code->co_flags & CO_GENERATOR;
    PyObject *callback = NULL;
    if (what == PyTrace_CALL) {
        if (gen && PySet_Contains(self->files, code->co_filename) == 1
            && !fast_resume(self, frame, -1))
            callback = self->on_resume;
    }
    else if (gen) {
        PyObject *src = PyDict_GET_SIZE(self->generators)
            ? PyDict_GetItemWithError(self->generators, (PyObject *)frame) : NULL;
        /* arg is NULL when an exception leaves the frame: a finish, even if it was
         * raised at a YIELD_VALUE (close() or an uncaught throw() at a bare yield). */
        if (src != NULL && arg == NULL) {
            Py_DECREF(code);
            notify(self->on_leave, frame, Py_False);
            return 0;
        }
        if (src != NULL && !fast_leave(self, frame, src, -1))
            callback = self->on_leave;
    }
    else if (PyDict_GET_SIZE(self->drivers)
             && PyDict_Contains(self->drivers, (PyObject *)frame) == 1) {
        callback = self->on_driver_return;
    }
    Py_DECREF(code);
    if (callback != NULL)
        notify(callback, frame, NULL);  /* the fast path bailed out: Python decides */
    else
        PyErr_Clear();
    return 0;
}


/* ---- the same, as sys.monitoring callbacks (Python 3.12+) ----------------------------
 *
 * A profile function runs on every call and return of the thread; sys.monitoring calls
 * these only for the events asked for, and stops calling at a code location for good once
 * told DISABLE there: after their first call, the program's other functions cost nothing.
 * The decisions are those of profiler_event; the events say directly what the profile
 * function had to read from the frame (resumed by throw()? left by a yield?).
 */

/* The frame an event is about, when it belongs to the recorder's thread; else NULL. */
static PyFrameObject *
event_frame(Profiler *self)
{
    if (PyThread_get_thread_ident() != self->thread || self->hook == NULL
        || self->hook->rows == NULL || self->generators == NULL)
        return NULL;
    PyFrameObject *frame = PyEval_GetFrame();  /* borrowed: the frame the event fired in */
    if (frame == NULL)
        PyErr_Clear();
    return frame;
}

static int
user_code(Profiler *self, PyObject *code)
{
    return self->files != NULL && PyCode_Check(code)
        && PySet_Contains(self->files, ((PyCodeObject *)code)->co_filename) == 1;
}

static PyObject *
disable_here(Profiler *self)
{
    PyErr_Clear();
    if (self->disable == NULL)
        Py_RETURN_NONE;
    Py_INCREF(self->disable);
    return self->disable;
}

/* PY_START, PY_RESUME: (code, offset) */
static PyObject *
Profiler_mon_resume(Profiler *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1)
        Py_RETURN_NONE;
    PyObject *code = args[0];
    if (!user_code(self, code) || !(((PyCodeObject *)code)->co_flags & CO_GENERATOR))
        return disable_here(self);
    PyFrameObject *frame = event_frame(self);
    if (frame == NULL || fast_resume(self, frame, 0)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    notify(self->on_resume, frame, Py_False);
    Py_RETURN_NONE;
}

/* PY_THROW: (code, offset, exception); a global event: never disabled. */
static PyObject *
Profiler_mon_throw(Profiler *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || !user_code(self, args[0])
        || !(((PyCodeObject *)args[0])->co_flags & CO_GENERATOR)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyFrameObject *frame = event_frame(self);
    if (frame == NULL)
        Py_RETURN_NONE;
    notify(self->on_resume, frame, Py_True);
    Py_RETURN_NONE;
}

/* PY_YIELD: (code, offset, value) */
static PyObject *
Profiler_mon_yield(Profiler *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1)
        Py_RETURN_NONE;
    if (!user_code(self, args[0]))
        return disable_here(self);
    PyFrameObject *frame = event_frame(self);
    if (frame == NULL)
        Py_RETURN_NONE;
    PyObject *src = PyDict_GetItemWithError(self->generators, (PyObject *)frame);
    if (src == NULL || fast_leave(self, frame, src, 1)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    notify(self->on_leave, frame, Py_True);
    Py_RETURN_NONE;
}

/* A frame ends (PY_RETURN, or PY_UNWIND for an exception): a traced generator finishes,
 * or a driver function returns. */
static PyObject *
frame_ends(Profiler *self, PyObject *code, int local)
{
    if (!PyCode_Check(code) || self->generators == NULL)
        Py_RETURN_NONE;
    int gen = ((PyCodeObject *)code)->co_flags & CO_GENERATOR;
    PyFrameObject *frame = NULL;
    if (gen ? PyDict_GET_SIZE(self->generators) : PyDict_GET_SIZE(self->drivers))
        frame = event_frame(self);
    if (frame != NULL) {
        PyObject *dict = gen ? self->generators : self->drivers;
        int known = PyDict_Contains(dict, (PyObject *)frame);
        if (known == 1) {
            if (gen)
                notify(self->on_leave, frame, Py_False);
            else
                notify(self->on_driver_return, frame, NULL);
            Py_RETURN_NONE;
        }
    }
    PyErr_Clear();
    /* A user function may become a driver later (each call is a new frame): only the
     * other code is told to stop calling. */
    if (local && !user_code(self, code))
        return disable_here(self);
    PyErr_Clear();
    Py_RETURN_NONE;
}

/* PY_RETURN: (code, offset, value) */
static PyObject *
Profiler_mon_return(Profiler *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1)
        Py_RETURN_NONE;
    return frame_ends(self, args[0], 1);
}

/* PY_UNWIND: (code, offset, exception); a global event. */
static PyObject *
Profiler_mon_unwind(Profiler *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1)
        Py_RETURN_NONE;
    return frame_ends(self, args[0], 0);
}

static PyObject *
Profiler_set_disable(Profiler *self, PyObject *disable)
{
    Py_INCREF(disable);
    Py_XSETREF(self->disable, disable);
    self->thread = PyThread_get_thread_ident();
    Py_RETURN_NONE;
}

static PyObject *
Profiler_install(Profiler *self, PyObject *unused)
{
    PyEval_SetProfile(profiler_event, (PyObject *)self);
    Py_RETURN_NONE;
}

static PyMethodDef Profiler_methods[] = {
    {"mon_resume", (PyCFunction)(void (*)(void))Profiler_mon_resume, METH_FASTCALL,
     "sys.monitoring PY_START / PY_RESUME callback"},
    {"mon_throw", (PyCFunction)(void (*)(void))Profiler_mon_throw, METH_FASTCALL,
     "sys.monitoring PY_THROW callback"},
    {"mon_yield", (PyCFunction)(void (*)(void))Profiler_mon_yield, METH_FASTCALL,
     "sys.monitoring PY_YIELD callback"},
    {"mon_return", (PyCFunction)(void (*)(void))Profiler_mon_return, METH_FASTCALL,
     "sys.monitoring PY_RETURN callback"},
    {"mon_unwind", (PyCFunction)(void (*)(void))Profiler_mon_unwind, METH_FASTCALL,
     "sys.monitoring PY_UNWIND callback"},
    {"use_monitoring", (PyCFunction)Profiler_set_disable, METH_O,
     "use_monitoring(sys.monitoring.DISABLE): the mon_* callbacks will be registered"},
    {"install", (PyCFunction)Profiler_install, METH_NOARGS,
     "make this the thread's profile function (sys.getprofile() then returns it)"},
    {NULL}
};

static PyTypeObject ProfilerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coroscope.tracer._hook.Profiler",
    .tp_basicsize = sizeof(Profiler),
    .tp_dealloc = (destructor)Profiler_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Profiler_traverse,
    .tp_clear = (inquiry)Profiler_clear,
    .tp_free = PyObject_GC_Del,
    .tp_doc = "profile function of GeneratorTracer, filtering in C (see generators.py)",
    .tp_methods = Profiler_methods,
    .tp_init = (initproc)Profiler_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *
monotonic_ns(PyObject *module, PyObject *unused)
{
    return PyLong_FromLongLong(now_ns());
}

static PyMethodDef module_methods[] = {
    {"monotonic_ns", monotonic_ns, METH_NOARGS, "the clock the hook reads"},
    {NULL}
};

static struct PyModuleDef hookmodule = {
    PyModuleDef_HEAD_INIT, "coroscope.tracer._hook", "C fast path of the recorder.", -1,
    module_methods,
};

static int
find_getter(PyObject *type, const char *name, getter *get, void **closure)
{
    PyObject *descr = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, name);
    if (descr == NULL || !PyObject_TypeCheck(descr, &PyGetSetDescr_Type)) {
        PyErr_Format(PyExc_ImportError, "greenlet.greenlet.%s is not a C getter", name);
        return -1;
    }
    *get = ((PyGetSetDescrObject *)descr)->d_getset->get;
    *closure = ((PyGetSetDescrObject *)descr)->d_getset->closure;
    return 0;
}

static int
find_getters(void)
{
    PyObject *mod = PyImport_ImportModule("greenlet");
    if (mod == NULL)
        return -1;
    PyObject *type = PyObject_GetAttrString(mod, "greenlet");
    Py_DECREF(mod);
    if (type == NULL)
        return -1;
    int r = -1;
    if (PyType_Check(type)
        && find_getter(type, "dead", &get_dead, &closure_dead) == 0
        && find_getter(type, "gr_frame", &get_gr_frame, &closure_gr_frame) == 0)
        r = 0;
    /* sys.modules keeps greenlet.greenlet alive: the getters stay valid. */
    Py_DECREF(type);
    return r;
}

PyMODINIT_FUNC
PyInit__hook(void)
{
    if (PyType_Ready(&HookType) < 0 || PyType_Ready(&ProfilerType) < 0
        || PyType_Ready(&RowBufferType) < 0)
        return NULL;
    str_switch = PyUnicode_InternFromString("switch");
    str_wait = PyUnicode_InternFromString("wait");
    str_switch_cause = str_switch;
    str_wake = PyUnicode_InternFromString("wake");
    str_send = PyUnicode_InternFromString("send");
    str_yield = PyUnicode_InternFromString("yield");
    if (find_getters() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&hookmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&HookType);
    Py_INCREF(&ProfilerType);
    Py_INCREF(&RowBufferType);
    if (PyModule_AddObject(m, "Hook", (PyObject *)&HookType) < 0
        || PyModule_AddObject(m, "Profiler", (PyObject *)&ProfilerType) < 0
        || PyModule_AddObject(m, "RowBuffer", (PyObject *)&RowBufferType) < 0) {
        Py_DECREF(&HookType);
        Py_DECREF(&ProfilerType);
        Py_DECREF(&RowBufferType);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *api = PyCapsule_New(&rows_api, ROWS_API_NAME, NULL);
    if (api == NULL || PyModule_AddObject(m, "rows_api", api) < 0) {
        Py_XDECREF(api);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
