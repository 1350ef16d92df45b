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

/* ---- asyncio task steps -------------------------------------------------------------
 *
 * Handle._run replaced (see aio.py): most callbacks the loop runs are a step of a task
 * the tracer already knows, which pauses again at an await it can name from the code
 * objects alone (asyncio.sleep(0), a TaskGroup, a wait_for...), or a callback of the
 * loop's own. For those, AioStep records here what AsyncioTracer._step records in
 * Python: the loop's "wake" switch into the task, then the switch back at the line the
 * task paused on and why. Anything else (a task's first step, its last, a pause whose
 * cause needs a local variable the first time, a busy span to close) is handed to the
 * Python methods, so there is one definition of what gets recorded.
 */

/* What a library frame of an await chain is: the strings aio._code_kind returns. */
static PyObject *kind_sleep, *kind_sleep0, *kind_sock, *kind_stream, *kind_method,
    *kind_wait_for, *kind_taskgroup, *kind_future, *kind_asyncio, *kind_other;
static PyObject *str_cr_frame, *str_cr_await, *str_gi_frame, *str_gi_yieldfrom,
    *str_callback, *str_self_attr, *str_get_coro, *str_done, *str_timer0,
    *str_wait_wait_for, *str_wait_taskgroup, *str_wait_asyncio_wait, *str_name_wait,
    *str_delay, *str_self_local, *str_run;

#define AIO_CHAIN 100  /* an await chain deeper than this is not worth walking */

/* The coroutine's and generator's own getters, called directly (found at import, as
 * greenlet's are): the generic attribute lookup costs more than the answer. */
static getter get_cr_frame, get_cr_await, get_gi_frame, get_gi_yieldfrom;
static void *closure_cr_frame, *closure_cr_await, *closure_gi_frame, *closure_gi_yieldfrom;
static int find_getter(PyObject *type, const char *name, getter *get, void **closure);
#define METHOD_CACHE 64

typedef struct {
    PyObject *code, *type, *cause;  /* a queue's or a lock's wait: (code, owner type) */
} MethodCause;

/* A task's lane, by the task's address: the dict's answer kept where it is cheap to read
 * (hashing a large int key and comparing it cost more than the rest of a lookup). The
 * weak reference tells a live task from a new one at a reused address. */
#define LANE_CACHE 16384  /* entries; a task may sit in any of LANE_WAYS from its slot */
#define LANE_WAYS 4
typedef struct {
    void *task;
    PyObject *ref;  /* owned weak reference to it */
    long lane;
} LaneEntry;

typedef struct {
    PyObject_HEAD
    Hook *hook;            /* rows, clock, running / switched_at of the recorder */
    PyObject *tracer;      /* the AsyncioTracer: its Python paths */
    PyObject *tasks;       /* the tracer's dict: id(task) -> (weakref, lane or None) */
    PyObject *task_types;  /* tuple: asyncio.Task, asyncio.tasks._PyTask */
    PyObject *handle_run;  /* the original Handle._run */
    PyObject *code_kind;   /* aio._code_kind */
    PyObject *timer_label; /* events.timer_label */
    PyObject *lock_like;   /* aio._LOCK_LIKE: lock classes, whose wait is "wait Lock" */
    PyObject *why;         /* the tracer's _why(library frames, task) */
    PyObject *after_step;  /* the tracer's _after_step(task, lane, loop lane) */
    PyObject *callback_ended;  /* the tracer's _callback_ended() */
    PyObject *run_python;  /* the tracer's run_handle(handle, handle_run) */
    PyObject *task_lane;   /* the tracer's task_lane(task): spawns a task on its first step */
    PyObject *labels;      /* dict: asyncio.sleep's delay -> its timer label */
    PyObject *loop;        /* lane of the loop now running, or None */
    PyObject *async_task;  /* the task (or loop) lane being run, or None */
    int loop_running;      /* a loop runs in this thread (BusyWatch watches then) */
    int callback_running;  /* ...and is running a callback, not selecting */
    unsigned long thread;
    Py_ssize_t callback_offset;  /* where a Handle keeps _callback (its slot) */
    PyTypeObject *handle_type;   /* asyncio.events.Handle */
    PyTypeObject *task_type;     /* the type of the last task stepped, and its methods: */
    PyObject *task_done, *task_get_coro;
    PyObject *step_task;         /* the task whose step is running, or NULL */
    long step_lane, step_loop;   /* ...its lane, and the loop's */
    PyMethodDef *wakeup_def;     /* the C Task's wakeup */
    PyObject *py_steps;          /* the pure-Python Task's __step and __wakeup functions */
    PyTypeObject *wrapper_type;  /* the C Task's step callback type, and its __self__ */
    getter wrapper_self;
    void *wrapper_closure;
    CacheEntry kinds[CACHE_SIZE];   /* key 0: kind of a code; 1: "wait NAME"; 2: a user's? */
    MethodCause methods[METHOD_CACHE];
    LaneEntry lanes[LANE_CACHE];
} AioStep;

static PyTypeObject AioStepType;

static int
AioStep_traverse(AioStep *self, visitproc visit, void *arg)
{
    Py_VISIT(self->task_types);
    Py_VISIT(self->py_steps);
    Py_VISIT(self->handle_type);
    Py_VISIT(self->task_type);
    Py_VISIT(self->task_done);
    Py_VISIT(self->task_get_coro);
    Py_VISIT(self->wrapper_type);
    Py_VISIT(self->step_task);
    Py_VISIT(self->loop);
    Py_VISIT(self->async_task);
    for (int i = 0; i < CACHE_SIZE; i++) {
        Py_VISIT(self->kinds[i].code);
        Py_VISIT(self->kinds[i].value);
    }
    for (int i = 0; i < METHOD_CACHE; i++) {
        Py_VISIT(self->methods[i].code);
        Py_VISIT(self->methods[i].type);
        Py_VISIT(self->methods[i].cause);
    }
    for (int i = 0; i < LANE_CACHE; i++)
        Py_VISIT(self->lanes[i].ref);
    Py_VISIT(self->hook);
    Py_VISIT(self->tracer);
    Py_VISIT(self->tasks);
    Py_VISIT(self->handle_run);
    Py_VISIT(self->code_kind);
    Py_VISIT(self->timer_label);
    Py_VISIT(self->lock_like);
    Py_VISIT(self->why);
    Py_VISIT(self->after_step);
    Py_VISIT(self->callback_ended);
    Py_VISIT(self->run_python);
    Py_VISIT(self->task_lane);
    Py_VISIT(self->labels);
    return 0;
}

static int
AioStep_clear(AioStep *self)
{
    Py_CLEAR(self->hook);
    Py_CLEAR(self->tracer);
    Py_CLEAR(self->tasks);
    Py_CLEAR(self->task_types);
    Py_CLEAR(self->handle_run);
    Py_CLEAR(self->code_kind);
    Py_CLEAR(self->timer_label);
    Py_CLEAR(self->lock_like);
    Py_CLEAR(self->why);
    Py_CLEAR(self->after_step);
    Py_CLEAR(self->callback_ended);
    Py_CLEAR(self->run_python);
    Py_CLEAR(self->task_lane);
    Py_CLEAR(self->labels);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->async_task);
    Py_CLEAR(self->handle_type);
    Py_CLEAR(self->task_type);
    Py_CLEAR(self->task_done);
    Py_CLEAR(self->task_get_coro);
    Py_CLEAR(self->wrapper_type);
    Py_CLEAR(self->py_steps);
    Py_CLEAR(self->step_task);
    cache_clear(self->kinds);
    for (int i = 0; i < LANE_CACHE; i++)
        Py_CLEAR(self->lanes[i].ref);
    for (int i = 0; i < METHOD_CACHE; i++) {
        Py_CLEAR(self->methods[i].code);
        Py_CLEAR(self->methods[i].type);
        Py_CLEAR(self->methods[i].cause);
    }
    return 0;
}

static void
AioStep_dealloc(AioStep *self)
{
    PyObject_GC_UnTrack(self);
    AioStep_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
AioStep_init(AioStep *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"hook", "tracer", "tasks", "task_types", "handle_run",
                             "code_kind", "timer_label", "lock_like", "callback_slot",
                             "thread", "py_steps", NULL};
    PyObject *hook, *tracer, *tasks, *task_types, *handle_run, *code_kind, *timer_label,
        *lock_like, *slot, *py_steps;
    unsigned long thread;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO!O!OOOO!O!kO!", kwlist, &HookType,
                                     &hook, &tracer, &PyDict_Type, &tasks, &PyTuple_Type,
                                     &task_types, &handle_run, &code_kind, &timer_label,
                                     &PyDict_Type, &lock_like, &PyMemberDescr_Type, &slot,
                                     &thread, &PyTuple_Type, &py_steps))
        return -1;
    Py_XSETREF(self->py_steps, Py_NewRef(py_steps));
    /* Handle._callback is a slot: read it at its offset, as its descriptor would. */
    PyMemberDef *member = ((PyMemberDescrObject *)slot)->d_member;
    if (member->type != T_OBJECT_EX) {
        PyErr_SetString(PyExc_TypeError, "callback_slot: not an object slot");
        return -1;
    }
    self->callback_offset = member->offset;
    Py_XSETREF(self->handle_type,
               (PyTypeObject *)Py_NewRef(((PyMemberDescrObject *)slot)->d_common.d_type));
    PyObject *labels = PyDict_New();
    PyObject *why = PyObject_GetAttrString(tracer, "_why");
    PyObject *after_step = PyObject_GetAttrString(tracer, "_after_step");
    PyObject *run_python = PyObject_GetAttrString(tracer, "run_handle");
    PyObject *callback_ended = PyObject_GetAttrString(tracer, "_callback_ended");
    PyObject *task_lane = PyObject_GetAttrString(tracer, "task_lane");
    if (labels == NULL || why == NULL || after_step == NULL || run_python == NULL
        || callback_ended == NULL || task_lane == NULL) {
        Py_XDECREF(callback_ended);
        Py_XDECREF(task_lane);
        Py_XDECREF(labels);
        Py_XDECREF(why);
        Py_XDECREF(after_step);
        Py_XDECREF(run_python);
        return -1;
    }
    Py_XSETREF(self->labels, labels);
    Py_XSETREF(self->why, why);
    Py_XSETREF(self->after_step, after_step);
    Py_XSETREF(self->run_python, run_python);
    Py_XSETREF(self->callback_ended, callback_ended);
    Py_XSETREF(self->task_lane, task_lane);
    Py_INCREF(hook); Py_XSETREF(self->hook, (Hook *)hook);
    Py_INCREF(tracer); Py_XSETREF(self->tracer, tracer);
    Py_INCREF(tasks); Py_XSETREF(self->tasks, tasks);
    Py_INCREF(task_types); Py_XSETREF(self->task_types, task_types);
    Py_INCREF(handle_run); Py_XSETREF(self->handle_run, handle_run);
    Py_INCREF(code_kind); Py_XSETREF(self->code_kind, code_kind);
    Py_INCREF(timer_label); Py_XSETREF(self->timer_label, timer_label);
    Py_INCREF(lock_like); Py_XSETREF(self->lock_like, lock_like);
    Py_INCREF(Py_None); Py_XSETREF(self->loop, Py_None);
    Py_INCREF(Py_None); Py_XSETREF(self->async_task, Py_None);
    self->loop_running = self->callback_running = 0;
    self->thread = thread;  /* the traced thread (not the caller's: any thread may patch) */
    return 0;
}

/* One object for the exception being raised (3.12's API, spelled for 3.11 too). */
static inline PyObject *
PyErr_GetRaisedException_compat(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

static inline void
PyErr_SetRaisedException_compat(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* Is the object `ref` refers to `obj`? (without the new reference 3.13 would hand out) */
static inline int
weakref_is(PyObject *ref, PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *v = NULL;
    if (PyWeakref_GetRef(ref, &v) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_XDECREF(v);
    return v == obj;
#else
    return PyWeakref_GetObject(ref) == obj;
#endif
}

/* task.done() / task.get_coro(), through the task type's own functions (looked up once
 * a type): a new reference, or NULL with an error set. */
static PyObject *
aio_task_call(AioStep *self, PyObject *task, int done)
{
    PyTypeObject *type = Py_TYPE(task);
    if (type != self->task_type) {
        PyObject *d = PyObject_GetAttr((PyObject *)type, str_done);
        PyObject *g = d == NULL ? NULL : PyObject_GetAttr((PyObject *)type, str_get_coro);
        if (g == NULL) {
            Py_XDECREF(d);
            return NULL;
        }
        Py_XSETREF(self->task_done, d);
        Py_XSETREF(self->task_get_coro, g);
        Py_XSETREF(self->task_type, (PyTypeObject *)Py_NewRef(type));
    }
    return PyObject_CallOneArg(done ? self->task_done : self->task_get_coro, task);
}

/* Is the object of this weak reference still alive? */
static inline int
weakref_alive(PyObject *ref)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *v = NULL;
    if (PyWeakref_GetRef(ref, &v) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_XDECREF(v);
    return v != NULL;
#else
    return PyWeakref_GetObject(ref) != Py_None;
#endif
}

/* getattr(obj, name, None) without raising and catching an AttributeError: a new
 * reference, or NULL with an error set only if the lookup failed otherwise. */
static PyObject *
lookup_attr(PyObject *obj, PyObject *name)
{
    PyObject *v = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyObject_GetOptionalAttr(obj, name, &v) < 0)
        return NULL;
#else
    if (_PyObject_LookupAttr(obj, name, &v) < 0)
        return NULL;
#endif
    return v;
}

/* A local variable of a paused frame: a new reference, or NULL (no error) if unbound. */
static PyObject *
frame_local(PyObject *frame, PyObject *name)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *v = PyFrame_GetVar((PyFrameObject *)frame, name);
    if (v == NULL)
        PyErr_Clear();
    return v;
#else
    PyObject *locals = PyFrame_GetLocals((PyFrameObject *)frame);
    if (locals == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *v = PyDict_Check(locals) ? PyDict_GetItemWithError(locals, name) : NULL;
    Py_XINCREF(v);
    Py_DECREF(locals);
    PyErr_Clear();
    return v;
#endif
}

/* The kind of a code object (borrowed, interned), or NULL with an error set. */
static PyObject *
aio_kind(AioStep *self, PyObject *code)
{
    CacheEntry *e = cache_find(self->kinds, code, 0);
    if (e != NULL)
        return e->value;
    PyObject *kind = PyObject_CallOneArg(self->code_kind, code);
    if (kind == NULL)
        return NULL;
    if (!PyUnicode_CheckExact(kind)) {
        Py_DECREF(kind);
        PyErr_SetString(PyExc_TypeError, "_code_kind() must return a str");
        return NULL;
    }
    PyUnicode_InternInPlace(&kind);
    cache_put(self->kinds, code, 0, kind, 0);
    Py_DECREF(kind);
    return cache_find(self->kinds, code, 0)->value;
}

/* Is this code object from one of the user's files? 1, 0, or -1 (error); kept per code
 * object (the set's string compare of a path costs more than the cache). */
static int
aio_in_user_files(AioStep *self, PyObject *code)
{
    CacheEntry *e = cache_find(self->kinds, code, 2);
    if (e != NULL)
        return e->ivalue;
    int found = in_user_files(self->hook, (PyCodeObject *)code);
    if (found >= 0)
        cache_put(self->kinds, code, 2, NULL, found);
    return found;
}

/* "wait NAME" for a pause in asyncio's (or another library's) function NAME; asyncio's
 * own `wait` reads "wait asyncio.wait". */
static PyObject *
aio_wait_name(AioStep *self, PyObject *code, int in_asyncio)
{
    CacheEntry *e = cache_find(self->kinds, code, 1);
    if (e != NULL) {
        Py_INCREF(e->value);
        return e->value;
    }
    PyObject *name = ((PyCodeObject *)code)->co_name, *cause;
    if (in_asyncio && PyUnicode_Compare(name, str_name_wait) == 0)
        cause = Py_NewRef(str_wait_asyncio_wait);
    else
        cause = PyUnicode_FromFormat("wait %U", name);
    if (cause != NULL)
        cache_put(self->kinds, code, 1, cause, 0);
    return cause;
}

/* asyncio.sleep(delay)'s label, "timer 0.4 s": timer_label's, kept per delay value. A
 * new reference, or NULL with an error set. */
static PyObject *
aio_timer(AioStep *self, PyObject *frame)
{
    PyObject *delay = frame_local(frame, str_delay);
    if (delay == NULL)
        delay = Py_NewRef(Py_None);
    int keep = PyFloat_CheckExact(delay) || PyLong_CheckExact(delay);
    PyObject *label = keep ? PyDict_GetItemWithError(self->labels, delay) : NULL;
    if (label != NULL) {
        Py_DECREF(delay);
        return Py_NewRef(label);
    }
    label = PyErr_Occurred() ? NULL : PyObject_CallOneArg(self->timer_label, delay);
    if (label != NULL && keep) {
        if (PyDict_GET_SIZE(self->labels) >= 4096)  /* a program sleeping random times */
            PyDict_Clear(self->labels);
        if (PyDict_SetItem(self->labels, delay, label) < 0)
            Py_CLEAR(label);
    }
    Py_DECREF(delay);
    return label;
}

/* A queue's or a lock's wait, named by the owner's type: "wait Queue.get", or "wait Lock"
 * for the lock-like classes. A new reference, or NULL with an error set. */
static PyObject *
aio_method(AioStep *self, PyObject *frame, PyObject *code)
{
    PyObject *owner = frame_local(frame, str_self_local);
    PyObject *type = (PyObject *)Py_TYPE(owner != NULL ? owner : Py_None);
    Py_INCREF(type);
    Py_XDECREF(owner);
    size_t h = (((size_t)code >> 4) * 31u + ((size_t)type >> 4)) & (METHOD_CACHE - 1);
    MethodCause *m = &self->methods[h];
    if (m->code == code && m->type == type) {
        Py_DECREF(type);
        return Py_NewRef(m->cause);
    }
    PyObject *name = PyType_GetName((PyTypeObject *)type), *cause = NULL;
    if (name != NULL) {
        int lock = PyDict_Contains(self->lock_like, name);
        if (lock == 1)
            cause = PyUnicode_FromFormat("wait %U", name);
        else if (lock == 0)
            cause = PyUnicode_FromFormat("wait %U.%U", name, ((PyCodeObject *)code)->co_name);
        Py_DECREF(name);
    }
    if (cause != NULL) {
        Py_XSETREF(m->code, Py_NewRef(code));
        Py_XSETREF(m->type, Py_NewRef(type));
        Py_XSETREF(m->cause, Py_NewRef(cause));
    }
    Py_DECREF(type);
    return cause;
}

/* One awaitable of a task's await chain: a coroutine or generator (its frame made only
 * if wanted: the chain's innermost are new at each pause, asyncio.sleep(0)'s generator
 * say, and a frame object for each would cost more than the rest), or another awaitable
 * read by attribute as aio.py reads it (its frame then). References owned. */
typedef struct {
    PyObject *obj, *frame, *code;
} Link;

/* The link's frame (borrowed), made if need be; NULL with an error set. */
static PyObject *
link_frame(Link *link)
{
    if (link->frame == NULL) {
        getter get = PyCoro_CheckExact(link->obj) ? get_cr_frame : get_gi_frame;
        void *closure = PyCoro_CheckExact(link->obj) ? closure_cr_frame : closure_gi_frame;
        PyObject *frame = get(link->obj, closure);
        if (frame != NULL && !PyFrame_Check(frame)) {
            Py_DECREF(frame);
            PyErr_SetString(PyExc_RuntimeError, "a suspended coroutine without a frame");
            return NULL;
        }
        link->frame = frame;
    }
    return link->frame;
}

static void
links_clear(Link *links, int n)
{
    for (int i = 0; i < n; i++) {
        Py_XDECREF(links[i].obj);
        Py_XDECREF(links[i].frame);
        Py_XDECREF(links[i].code);
    }
}

/* What the tracer's _why says of these links: a new reference, or NULL (error set). */
static PyObject *
aio_why(AioStep *self, Link *library, int n, PyObject *task)
{
    PyObject *frames = PyList_New(n);
    if (frames == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *frame = link_frame(&library[i]);
        if (frame == NULL) {
            Py_DECREF(frames);
            return NULL;
        }
        PyList_SET_ITEM(frames, i, Py_NewRef(frame));
    }
    PyObject *args[2] = {frames, task};
    PyObject *cause = PyObject_Vectorcall(self->why, args, 2, NULL);
    Py_DECREF(frames);
    if (cause != NULL && !PyUnicode_Check(cause)) {
        Py_DECREF(cause);
        PyErr_SetString(PyExc_TypeError, "_why() must return a str");
        return NULL;
    }
    return cause;
}

/* Why a task paused, from its library links (outermost first), as AsyncioTracer._why
 * says it (and by it, where the answer needs more than code objects and locals): a new
 * reference, or NULL with an error set. */
static PyObject *
aio_cause(AioStep *self, Link *library, int n, PyObject *task)
{
    PyObject *kinds[AIO_CHAIN];
    for (int i = 0; i < n; i++) {
        kinds[i] = aio_kind(self, library[i].code);
        if (kinds[i] == NULL)
            return NULL;
        if (kinds[i] == kind_wait_for)
            return Py_NewRef(str_wait_wait_for);
    }
    for (int i = n - 1; i >= 0; i--) {
        if (kinds[i] == kind_sleep) {
            PyObject *frame = link_frame(&library[i]);
            return frame == NULL ? NULL : aio_timer(self, frame);
        }
        if (kinds[i] == kind_sleep0)
            return Py_NewRef(str_timer0);
        if (kinds[i] == kind_sock || kinds[i] == kind_stream)
            return aio_why(self, library, n, task);  /* the socket's fd */
    }
    for (int i = 0; i < n; i++) {
        PyObject *kind = kinds[i];
        if (kind == kind_future)
            break;
        if (kind == kind_taskgroup)
            return Py_NewRef(str_wait_taskgroup);
        if (kind == kind_method) {
            PyObject *frame = link_frame(&library[i]);
            return frame == NULL ? NULL : aio_method(self, frame, library[i].code);
        }
        return aio_wait_name(self, library[i].code, kind == kind_asyncio);
    }
    return aio_why(self, library, n, task);  /* the future the task waits on names it */
}

/* The code of a suspended coroutine or generator (a new reference). */
static inline PyObject *
gen_code(PyObject *gen)
{
#if PY_VERSION_HEX >= 0x030C0000
    return (PyObject *)PyGen_GetCode((PyGenObject *)gen);
#else
    return Py_NewRef((PyObject *)((PyGenObject *)gen)->gi_code);
#endif
}

/* Where a task that did not end paused (its innermost frame in a user file along the
 * chain of awaits; *line -1: none) and why: a new reference, or NULL with an error set. */
static PyObject *
aio_pause(AioStep *self, PyObject *task, int *line)
{
    Link links[AIO_CHAIN];
    int n = 0;
    PyObject *cause = NULL;
    PyObject *obj = aio_task_call(self, task, 0);
    while (obj != NULL && n < AIO_CHAIN) {
        Link *link = &links[n];
        PyObject *next;
        link->obj = link->frame = link->code = NULL;
        if (PyCoro_CheckExact(obj) || PyGen_CheckExact(obj)) {
            /* gi_frame / cr_frame is None once it has finished (COMPLETED or CLEARED) */
            if (((PyGenObject *)obj)->gi_frame_state >= 1)
                break;
            next = PyCoro_CheckExact(obj) ? get_cr_await(obj, closure_cr_await)
                                          : get_gi_yieldfrom(obj, closure_gi_yieldfrom);
            if (next == NULL)
                goto done;
            link->code = gen_code(obj);
            link->obj = obj;  /* takes our reference */
        }
        else {  /* any other awaitable: by attribute, as aio.py reads it */
            PyObject *frame = lookup_attr(obj, str_cr_frame);
            if (frame != NULL && frame != Py_None)
                next = lookup_attr(obj, str_cr_await);
            else {
                Py_XDECREF(frame);
                frame = PyErr_Occurred() ? NULL : lookup_attr(obj, str_gi_frame);
                next = frame == NULL || frame == Py_None ? NULL
                                                          : lookup_attr(obj, str_gi_yieldfrom);
            }
            if (frame == NULL || frame == Py_None || !PyFrame_Check(frame)) {
                Py_XDECREF(frame);
                Py_XDECREF(next);
                if (PyErr_Occurred())
                    goto done;
                break;
            }
            if (next == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(frame);
                    goto done;
                }
                next = Py_NewRef(Py_None);
            }
            link->frame = frame;
            link->code = (PyObject *)PyFrame_GetCode((PyFrameObject *)frame);
            Py_DECREF(obj);
        }
        n++;
        obj = next;
        if (obj == Py_None)
            break;
    }
    if (obj == NULL && PyErr_Occurred())
        goto done;
    int user = n;
    while (user) {
        int found = aio_in_user_files(self, links[user - 1].code);
        if (found < 0)
            goto done;
        if (found)
            break;
        user--;
    }
    *line = -1;
    if (user) {
        PyObject *frame = link_frame(&links[user - 1]);
        if (frame == NULL)
            goto done;
        *line = frame_line(self->hook, (PyFrameObject *)frame);
    }
    cause = aio_cause(self, links + user, n - user, task);
done:
    Py_XDECREF(obj);
    links_clear(links, n);
    return cause;
}

/* The task whose step (or wakeup) `callback` is: a new reference, or NULL (with no
 * error: the loop's own callback). A task's other bound methods (`t.cancel` given to
 * call_soon) are the loop's callbacks, as in aio.py's _step_owner. The C Task's step
 * wrapper's getter, and its wakeup's method definition, are found the first time seen. */
static PyObject *
aio_callback_self(AioStep *self, PyObject *callback)
{
    PyTypeObject *type = Py_TYPE(callback);
    if (type == self->wrapper_type)
        return self->wrapper_self(callback, self->wrapper_closure);
    if (PyCFunction_Check(callback)) {  /* the C Task's wakeup: a bound builtin */
        PyMethodDef *def = ((PyCFunctionObject *)callback)->m_ml;
        if (self->wakeup_def == NULL && strcmp(def->ml_name, "task_wakeup") == 0)
            self->wakeup_def = def;
        PyObject *owner = PyCFunction_GET_SELF(callback);
        return def == self->wakeup_def && owner != NULL ? Py_NewRef(owner) : NULL;
    }
    if (PyMethod_Check(callback)) {  /* the pure-Python Task's __step, __wakeup */
        int step = PySequence_Contains(self->py_steps, PyMethod_GET_FUNCTION(callback));
        if (step < 0)
            return NULL;
        return step ? Py_NewRef(PyMethod_GET_SELF(callback)) : NULL;
    }
    const char *dot = strrchr(type->tp_name, '.');  /* 3.12+: "_asyncio.TaskStep..." */
    if (self->wrapper_type == NULL
        && strcmp(dot != NULL ? dot + 1 : type->tp_name, "TaskStepMethWrapper") == 0) {
        getter get;
        void *closure;
        if (find_getter((PyObject *)type, "__self__", &get, &closure) == 0) {
            self->wrapper_type = (PyTypeObject *)Py_NewRef(type);
            self->wrapper_self = get;
            self->wrapper_closure = closure;
            return get(callback, closure);
        }
        PyErr_Clear();
    }
    return NULL;
}

/* Where the lane cache may hold `task`: its entry, or NULL. Tasks live long and many at
 * once (10,000 in a benchmark). A slot per 128 bytes of address: tasks made one after
 * the other (176 bytes each) get slots one after the other, so the loop stepping them
 * in order walks the table in order (a hash scattering them cost a cache miss a step),
 * and the next LANE_WAYS - 1 slots too, so that two tasks whose slots collide do not
 * evict each other at every step. */
static inline size_t
lane_slot(void *task)
{
    return ((size_t)task >> 7) & (LANE_CACHE - 1);
}

static inline LaneEntry *
aio_lane_entry(AioStep *self, void *task)
{
    size_t slot = lane_slot(task);
    for (int i = 0; i < LANE_WAYS; i++) {
        LaneEntry *e = &self->lanes[(slot + i) & (LANE_CACHE - 1)];
        if (e->task == task)
            return e;
    }
    return NULL;
}

/* Where to keep `task`'s lane: its entry, else a free one (or one of a task gone), else
 * the first of its ways. */
static LaneEntry *
aio_lane_slot(AioStep *self, void *task)
{
    size_t slot = lane_slot(task);
    LaneEntry *free = NULL;
    for (int i = 0; i < LANE_WAYS; i++) {
        LaneEntry *e = &self->lanes[(slot + i) & (LANE_CACHE - 1)];
        if (e->task == task)
            return e;
        if (free == NULL && (e->task == NULL || e->ref == NULL || !weakref_alive(e->ref)))
            free = e;
    }
    return free != NULL ? free : &self->lanes[slot];
}

/* Is this entry the live `task` (not a new task at the address of one gone)? The entry
 * holds the task's basic weak reference, which a task keeps first in its list of weak
 * references: reading that list's head reads the task's own memory, where the weak
 * reference's object is elsewhere (a cache miss a step, with 10,000 tasks). A type
 * without a list offset is asked through the reference. */
static inline int
lane_entry_is(LaneEntry *e, PyObject *task)
{
    /* positive: a slot of the object; negative (3.12+, Py_TPFLAGS_MANAGED_WEAKREF): in
     * the header before it. Either way the list is at the object's address plus it. */
    Py_ssize_t offset = Py_TYPE(task)->tp_weaklistoffset;
    if (offset != 0)
        return *(PyObject **)((char *)task + offset) == e->ref;
    return weakref_is(e->ref, task);
}

/* The error set now, with `exc` (taken over; may be NULL) as its __context__, as Python
 * chains an exception raised while another is handled. */
static void
raise_with_context(PyObject *exc)
{
    if (exc == NULL)
        return;
    PyObject *current = PyErr_GetRaisedException_compat();
    if (current == NULL) {
        PyErr_SetRaisedException_compat(exc);
        return;
    }
    PyException_SetContext(current, exc);  /* takes the reference */
    PyErr_SetRaisedException_compat(current);
}

/* What aio_enter says AioPatch must do around the handle. */
#define AIO_PYTHON -1   /* the Python path: another thread's tracer, or state C ignores */
#define AIO_PLAIN 0     /* not traced: run the handle, nothing else */
#define AIO_TASK 1      /* a task's step has begun: aio_leave(AIO_TASK) after it */
#define AIO_CALLBACK 2  /* one of the loop's own callbacks has begun: aio_leave(AIO_CALLBACK) */

/* Before the handle runs: a step of a known task (the loop's wake switch into it), or
 * one of the loop's own callbacks (the loop lane busy only now: BusyWatch measures it).
 * A task seen for the first time is spawned by the tracer's task_lane. Returns one of
 * the AIO_ values, or -2 with an error set. */
static int
aio_enter(AioStep *self, PyObject *handle)
{
    Hook *hook = self->hook;
    if (self->loop == Py_None || hook == NULL || hook->rows == NULL)  /* not traced */
        return AIO_PLAIN;
    long loop = PyLong_AsLong(self->loop);
    if (loop < 0 || loop > INT_MAX || hook->force_slow || self->step_task != NULL) {
        PyErr_Clear();
        return AIO_PYTHON;
    }
    PyObject *callback = NULL;
    if (PyObject_TypeCheck(handle, self->handle_type))
        callback = Py_XNewRef(*(PyObject **)((char *)handle + self->callback_offset));
    if (callback == NULL && (callback = PyObject_GetAttr(handle, str_callback)) == NULL)
        return -2;
    PyObject *task = aio_callback_self(self, callback);
    Py_DECREF(callback);
    if (task == NULL && PyErr_Occurred())
        return -2;
    if (task != NULL) {
        int is_task = PyTuple_GET_SIZE(self->task_types) >= 1
                      && Py_TYPE(task) == (PyTypeObject *)PyTuple_GET_ITEM(self->task_types, 0);
        if (!is_task)
            is_task = PyObject_IsInstance(task, self->task_types);
        if (is_task <= 0) {
            Py_DECREF(task);
            if (is_task < 0)
                return -2;
            task = NULL;
        }
    }
    long long t;
    LaneEntry *cached = task == NULL ? NULL : aio_lane_entry(self, task);
    if (cached != NULL && cached->task == task && lane_entry_is(cached, task)
        && !hook->force_slow) {
        long lane = cached->lane;
        t = now_ns() - hook->t0;
        PyObject *lane_obj = PyLong_FromLong(lane);
        if (lane_obj == NULL
            || rb_push_switch(hook->rows, t, (int)loop, (int)lane, -1, str_wake) < 0) {
            Py_XDECREF(lane_obj);
            Py_DECREF(task);
            return -2;
        }
        Py_XSETREF(hook->running, Py_NewRef(lane_obj));
        hook->switched_at = t;
        Py_XSETREF(self->async_task, lane_obj);  /* takes our reference */
        self->step_task = task;                  /* takes our reference */
        self->step_lane = lane;
        self->step_loop = loop;
        return AIO_TASK;
    }
    if (task != NULL) {  /* a task's step: its lane (spawned now if new), or None */
        PyObject *key = PyLong_FromVoidPtr(task);
        PyObject *entry = key == NULL ? NULL : PyDict_GetItemWithError(self->tasks, key);
        Py_XDECREF(key);
        PyObject *lane_obj = NULL, *ref = NULL;
        if (entry != NULL && PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2
            && PyWeakref_Check(PyTuple_GET_ITEM(entry, 0))
            && weakref_is(PyTuple_GET_ITEM(entry, 0), task)) {
            lane_obj = Py_NewRef(PyTuple_GET_ITEM(entry, 1));
            ref = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
        }
        else if (!PyErr_Occurred())  /* (the dict changes: `entry` is not to be read after) */
            lane_obj = PyObject_CallOneArg(self->task_lane, task);
        if (lane_obj == NULL) {
            Py_DECREF(task);
            return -2;
        }
        if (ref != NULL) {  /* known already: cached for its next steps */
            cached = aio_lane_slot(self, task);
            Py_XSETREF(cached->ref, ref);
            cached->task = task;
            cached->lane = lane_obj != Py_None && PyLong_Check(lane_obj)
                           ? PyLong_AsLong(lane_obj) : -1;
            /* only a reference the entry can tell its task by (see lane_entry_is) */
            if (cached->lane < 0 || cached->lane > INT_MAX || !lane_entry_is(cached, task))
                cached->task = NULL;
            PyErr_Clear();
        }
        if (lane_obj != Py_None) {
            long lane = PyLong_Check(lane_obj) ? PyLong_AsLong(lane_obj) : -1;
            if (lane < 0 || lane > INT_MAX || hook->force_slow) {
                PyErr_Clear();
                Py_DECREF(lane_obj);
                Py_DECREF(task);
                return AIO_PYTHON;
            }
            t = now_ns() - hook->t0;
            if (rb_push_switch(hook->rows, t, (int)loop, (int)lane, -1, str_wake) < 0) {
                Py_DECREF(lane_obj);
                Py_DECREF(task);
                return -2;
            }
            Py_XSETREF(hook->running, Py_NewRef(lane_obj));
            hook->switched_at = t;
            Py_XSETREF(self->async_task, lane_obj);  /* takes our reference */
            self->step_task = task;                  /* takes our reference */
            self->step_lane = lane;
            self->step_loop = loop;
            return AIO_TASK;
        }
        Py_DECREF(lane_obj);  /* the loop's housekeeping: its steps run on the loop */
        Py_DECREF(task);
    }
    t = now_ns() - hook->t0;
    Py_XSETREF(hook->running, Py_NewRef(self->loop));
    hook->switched_at = t;
    self->callback_running = 1;
    return AIO_CALLBACK;
}

/* After the handle ran (returned or raised): where and why the task paused, or its end
 * (said by the tracer's _after_step, as is a pause when a busy span must end first); a
 * callback's busy span ends. 0, or -1 with an error set. */
static int
aio_leave(AioStep *self, int how)
{
    Hook *hook = self->hook;
    if (how == AIO_CALLBACK) {
        self->callback_running = 0;
        if (hook != NULL && hook->force_slow) {  /* BusyWatch flagged it: it ends now */
            PyObject *exc = PyErr_GetRaisedException_compat();  /* the callback's, if any */
            PyObject *r = PyObject_CallNoArgs(self->callback_ended);
            if (r == NULL) {
                raise_with_context(exc);
                return -1;
            }
            Py_DECREF(r);
            if (exc != NULL)
                PyErr_SetRaisedException_compat(exc);
        }
        return 0;
    }
    PyObject *task = self->step_task;
    if (how != AIO_TASK || task == NULL || hook == NULL || hook->rows == NULL) {
        PyObject *exc = PyErr_GetRaisedException_compat();
        Py_CLEAR(self->step_task);
        PyErr_SetString(PyExc_RuntimeError, "a task step ended without its beginning");
        raise_with_context(exc);
        return -1;
    }
    self->step_task = NULL;  /* we hold its reference */
    long lane = self->step_lane, loop = self->step_loop;
    PyObject *exc = PyErr_GetRaisedException_compat();  /* kept aside: Python may run */
    PyObject *loop_tid = PyLong_FromLong(loop);
    if (loop_tid == NULL)
        goto error;
    Py_XSETREF(self->async_task, Py_NewRef(loop_tid));
    int said = 0;
    PyObject *done = aio_task_call(self, task, 1);
    if (done == Py_False && !hook->force_slow) {
        int line = -1;
        PyObject *cause = aio_pause(self, task, &line);
        /* naming it may have run Python: a busy span may have begun meanwhile */
        if (cause != NULL && !hook->force_slow) {
            long long t = now_ns() - hook->t0;
            if (rb_push_switch(hook->rows, t, (int)lane, (int)loop, line, cause) == 0) {
                Py_XSETREF(hook->running, Py_NewRef(loop_tid));
                hook->switched_at = t;
                said = 1;
            }
        }
        Py_XDECREF(cause);
    }
    Py_XDECREF(done);
    PyErr_Clear();  /* what failed above, Python says again (and raises, if it must) */
    if (!said) {  /* its end, a busy span to close, or trouble: Python says */
        PyObject *tid = PyLong_FromLong(lane);
        if (tid == NULL)
            goto error;
        PyObject *args[3] = {task, tid, loop_tid};
        PyObject *r = PyObject_Vectorcall(self->after_step, args, 3, NULL);
        Py_DECREF(tid);
        if (r == NULL)
            goto error;
        Py_DECREF(r);
    }
    Py_DECREF(loop_tid);
    Py_DECREF(task);
    if (exc != NULL)
        PyErr_SetRaisedException_compat(exc);
    return 0;
error:
    Py_XDECREF(loop_tid);
    Py_DECREF(task);
    raise_with_context(exc);  /* ours is raised, the step's as its __context__ */
    return -1;
}

static PyObject *
AioStep_get_loop(AioStep *self, void *closure)
{
    return Py_NewRef(self->loop);
}

static int
AioStep_set_loop(AioStep *self, PyObject *value, void *closure)
{
    if (value == NULL || (value != Py_None && !PyLong_Check(value))) {
        PyErr_SetString(PyExc_TypeError, "loop: an int or None");
        return -1;
    }
    Py_XSETREF(self->loop, Py_NewRef(value));
    return 0;
}

static PyObject *
AioStep_get_task(AioStep *self, void *closure)
{
    return Py_NewRef(self->async_task);
}

static int
AioStep_set_task(AioStep *self, PyObject *value, void *closure)
{
    if (value == NULL || (value != Py_None && !PyLong_Check(value))) {
        PyErr_SetString(PyExc_TypeError, "async_task: an int or None");
        return -1;
    }
    Py_XSETREF(self->async_task, Py_NewRef(value));
    return 0;
}

static PyGetSetDef AioStep_getset[] = {
    {"loop", (getter)AioStep_get_loop, (setter)AioStep_set_loop,
     "lane of the loop now running, or None", NULL},
    {"async_task", (getter)AioStep_get_task, (setter)AioStep_set_task,
     "the task (or loop) lane being run, or None", NULL},
    {NULL}
};

static PyMemberDef AioStep_members[] = {
    {"loop_running", T_BOOL, offsetof(AioStep, loop_running), 0,
     "a loop runs in this thread"},
    {"callback_running", T_BOOL, offsetof(AioStep, callback_running), 0,
     "that loop is running one of its callbacks"},
    {NULL}
};

static PyTypeObject AioStepType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coroscope.tracer._hook.AioStep",
    .tp_basicsize = sizeof(AioStep),
    .tp_dealloc = (destructor)AioStep_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)AioStep_traverse,
    .tp_clear = (inquiry)AioStep_clear,
    .tp_free = PyObject_GC_Del,
    .tp_doc = "asyncio task steps: fast path of AsyncioTracer.run_handle (see aio.py)",
    .tp_getset = AioStep_getset,
    .tp_members = AioStep_members,
    .tp_init = (initproc)AioStep_init,
    .tp_new = PyType_GenericNew,
};

/* asyncio.events.Handle._run while asyncio is traced: a method (the interpreter calls it
 * with the handle, making no bound method) that records the step around a call of the
 * original, through the running thread's AioStep when that thread is the one traced
 * through C; any other thread goes through the Python dispatch (another recorder's, or
 * none). Measured against a Python wrapper doing the same through two C calls: 700
 * fewer instructions a step (python -m benchmarks.aio). */
typedef struct {
    PyObject_HEAD
    AioStep *fast;          /* or NULL */
    unsigned long thread;   /* fast's thread */
    PyObject *handle_run;   /* the original Handle._run */
    PyObject *python;       /* the Python dispatch, for AIO_PYTHON */
    PyObject *report;       /* report(handle, exc): the original's except clause, run */
    PyTypeObject *handle_type;  /* asyncio.events.Handle: its slots, read at their offsets */
    Py_ssize_t context_offset, callback_offset, args_offset;
    int direct;             /* handle_run is asyncio's own: its body may be done here */
    vectorcallfunc vectorcall;
} AioPatch;

/* fn(handle), fn held for the call: AioPatch's fields may be replaced meanwhile
 * (__init__ called again) while the call runs Python. */
static PyObject *
call_held(PyObject *fn, PyObject *handle)
{
    Py_INCREF(fn);
    PyObject *r = PyObject_CallOneArg(fn, handle);
    Py_DECREF(fn);
    return r;
}

/* Handle._run's body for a traced handle, without its Python frame (a Python function
 * called from C costs a step of asyncio.sleep(0) 15% more, in instructions, than the
 * loop's call of it from Python): `self._context.run(self._callback, *self._args)`, and
 * for an exception other than SystemExit and KeyboardInterrupt, asyncio's own except
 * clause (report: aio.py runs the original on the handle, its context made to raise the
 * exception). Anything unexpected goes to the original. */
static PyObject *
aio_call_handle(AioPatch *self, PyObject *handle)
{
    if (!self->direct || !PyObject_TypeCheck(handle, self->handle_type)) {
        return call_held(self->handle_run, handle);
    }
    PyObject *context = *(PyObject **)((char *)handle + self->context_offset);
    PyObject *callback = *(PyObject **)((char *)handle + self->callback_offset);
    PyObject *args = *(PyObject **)((char *)handle + self->args_offset);
    if (context == NULL || !PyContext_CheckExact(context) || callback == NULL
        || args == NULL || !PyTuple_CheckExact(args)) {
        return call_held(self->handle_run, handle);
    }
    Py_INCREF(context);
    Py_INCREF(callback);
    Py_INCREF(args);
    PyObject *r = NULL;
    if (PyContext_Enter(context) == 0) {
        r = PyObject_Vectorcall(callback, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args),
                                NULL);
        if (PyContext_Exit(context) < 0)
            Py_CLEAR(r);
    }
    Py_DECREF(context);
    Py_DECREF(callback);
    Py_DECREF(args);
    if (r != NULL) {
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit)
        || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))
        return NULL;
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyObject *report = Py_NewRef(self->report);
    PyObject *call[2] = {handle, exc};
    r = PyObject_Vectorcall(report, call, 2, NULL);
    Py_DECREF(report);
    Py_DECREF(exc);
    return r;
}

/* Handle._run itself: enter, the original, leave. */
static PyObject *
AioPatch_vectorcall(AioPatch *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL || self->handle_run == NULL) {
        PyErr_SetString(PyExc_TypeError, "Handle._run(self) takes no other argument");
        return NULL;
    }
    PyObject *handle = args[0];
    int how = AIO_PYTHON;
    /* Held for the whole step: the callback may let another thread run, whose tracer
     * starting or stopping changes self->fast (use()); the step ends where it began. */
    AioStep *fast = NULL;
    if (self->fast != NULL && PyThread_get_thread_ident() == self->thread) {
        fast = (AioStep *)Py_NewRef(self->fast);
        how = aio_enter(fast, handle);
    }
    PyObject *r;
    if (how < AIO_PYTHON)
        r = NULL;
    else if (how == AIO_PYTHON || how == AIO_PLAIN)
        r = call_held(how == AIO_PYTHON ? self->python : self->handle_run, handle);
    else {
        r = aio_call_handle(self, handle);
        if (aio_leave(fast, how) < 0)
            Py_CLEAR(r);
    }
    Py_XDECREF(fast);
    return r;
}

static PyObject *
AioPatch_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static int
AioPatch_init(AioPatch *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"handle_run", "python", "report", "slots", NULL};
    PyObject *handle_run, *python, *report, *slots;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO", kwlist, &handle_run, &python,
                                     &report, &slots))
        return -1;
    /* slots: None (the original is not asyncio's own), or Handle's member descriptors of
     * _context, _callback, _args */
    self->direct = 0;
    if (slots != Py_None) {
        Py_ssize_t *offsets[3] = {&self->context_offset, &self->callback_offset,
                                  &self->args_offset};
        if (!PyTuple_Check(slots) || PyTuple_GET_SIZE(slots) != 3) {
            PyErr_SetString(PyExc_TypeError, "slots: a tuple of three member descriptors");
            return -1;
        }
        for (int i = 0; i < 3; i++) {
            PyObject *d = PyTuple_GET_ITEM(slots, i);
            if (!PyObject_TypeCheck(d, &PyMemberDescr_Type)
                || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
                PyErr_SetString(PyExc_TypeError, "slots: member descriptors of objects");
                return -1;
            }
            *offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        }
        Py_XSETREF(self->handle_type, (PyTypeObject *)Py_NewRef(
            ((PyMemberDescrObject *)PyTuple_GET_ITEM(slots, 0))->d_common.d_type));
        self->direct = 1;
    }
    Py_XSETREF(self->handle_run, Py_NewRef(handle_run));
    Py_XSETREF(self->python, Py_NewRef(python));
    Py_XSETREF(self->report, Py_NewRef(report));
    self->vectorcall = (vectorcallfunc)AioPatch_vectorcall;
    return 0;
}

static PyObject *
AioPatch_use(AioPatch *self, PyObject *fast)
{
    if (fast != Py_None && !PyObject_TypeCheck(fast, &AioStepType)) {
        PyErr_SetString(PyExc_TypeError, "use(AioStep or None)");
        return NULL;
    }
    Py_CLEAR(self->fast);
    if (fast != Py_None) {
        self->fast = (AioStep *)Py_NewRef(fast);
        self->thread = self->fast->thread;
    }
    Py_RETURN_NONE;
}

static int
AioPatch_traverse(AioPatch *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fast);
    Py_VISIT(self->handle_run);
    Py_VISIT(self->python);
    Py_VISIT(self->report);
    Py_VISIT(self->handle_type);
    return 0;
}

static int
AioPatch_clear(AioPatch *self)
{
    Py_CLEAR(self->fast);
    Py_CLEAR(self->handle_run);
    Py_CLEAR(self->python);
    Py_CLEAR(self->report);
    Py_CLEAR(self->handle_type);
    return 0;
}

static void
AioPatch_dealloc(AioPatch *self)
{
    PyObject_GC_UnTrack(self);
    AioPatch_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef AioPatch_methods[] = {
    {"use", (PyCFunction)AioPatch_use, METH_O,
     "use(step): this AioStep's thread goes through C (None: every thread through Python)"},
    {NULL}
};

static PyTypeObject AioPatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coroscope.tracer._hook.AioPatch",
    .tp_basicsize = sizeof(AioPatch),
    .tp_dealloc = (destructor)AioPatch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
                | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_vectorcall_offset = offsetof(AioPatch, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = AioPatch_descr_get,
    .tp_init = (initproc)AioPatch_init,
    .tp_traverse = (traverseproc)AioPatch_traverse,
    .tp_clear = (inquiry)AioPatch_clear,
    .tp_free = PyObject_GC_Del,
    .tp_doc = "asyncio.events.Handle._run while asyncio is traced (see aio.py)",
    .tp_methods = AioPatch_methods,
    .tp_new = PyType_GenericNew,
};

/* A stand-in for a handle's context while asyncio's own Handle._run reports what the
 * handle's callback raised (aio._report): its first run() raises that exception as it
 * was (from C, so no frame of ours joins its traceback); any later run() is the real
 * context's (3.12+ runs the loop's exception handler in the handle's context). */
typedef struct {
    PyObject_HEAD
    PyObject *exc;      /* NULL once raised */
    PyObject *context;
} OnceRaises;

static int
OnceRaises_init(OnceRaises *self, PyObject *args, PyObject *kwds)
{
    PyObject *exc, *context;
    if (!PyArg_ParseTuple(args, "O!O:OnceRaises", PyExc_BaseException, &exc, &context))
        return -1;
    Py_XSETREF(self->exc, Py_NewRef(exc));
    Py_XSETREF(self->context, Py_NewRef(context));
    return 0;
}

static PyObject *
OnceRaises_run(OnceRaises *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (self->exc != NULL) {
        PyObject *exc = self->exc;
        self->exc = NULL;
        PyErr_SetRaisedException_compat(exc);  /* takes our reference */
        return NULL;
    }
    if (self->context == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "OnceRaises without a context");
        return NULL;
    }
    PyObject *run = PyObject_GetAttr(self->context, str_run);
    if (run == NULL)
        return NULL;
    PyObject *r = PyObject_Vectorcall(run, args, nargs, kwnames);
    Py_DECREF(run);
    return r;
}

static int
OnceRaises_traverse(OnceRaises *self, visitproc visit, void *arg)
{
    Py_VISIT(self->exc);
    Py_VISIT(self->context);
    return 0;
}

static int
OnceRaises_clear(OnceRaises *self)
{
    Py_CLEAR(self->exc);
    Py_CLEAR(self->context);
    return 0;
}

static void
OnceRaises_dealloc(OnceRaises *self)
{
    PyObject_GC_UnTrack(self);
    OnceRaises_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef OnceRaises_methods[] = {
    {"run", (PyCFunction)(void (*)(void))OnceRaises_run, METH_FASTCALL | METH_KEYWORDS,
     "run(fn, *args, **kwargs): raise the exception the first time, else context.run"},
    {NULL}
};

static PyTypeObject OnceRaisesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coroscope.tracer._hook.OnceRaises",
    .tp_basicsize = sizeof(OnceRaises),
    .tp_dealloc = (destructor)OnceRaises_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)OnceRaises_traverse,
    .tp_clear = (inquiry)OnceRaises_clear,
    .tp_free = PyObject_GC_Del,
    .tp_doc = "OnceRaises(exc, context): a handle's context while its exception is reported",
    .tp_methods = OnceRaises_methods,
    .tp_init = (initproc)OnceRaises_init,
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
    /* From the type's attribute, not its tp_dict: 3.12 keeps builtin types' dicts
     * elsewhere. On a type, a getset descriptor is itself. */
    PyObject *descr = PyObject_GetAttrString(type, name);
    if (descr == NULL || !PyObject_TypeCheck(descr, &PyGetSetDescr_Type)) {
        Py_XDECREF(descr);
        PyErr_Clear();
        PyErr_Format(PyExc_ImportError, "%s.%s is not a C getter",
                     ((PyTypeObject *)type)->tp_name, name);
        return -1;
    }
    *get = ((PyGetSetDescrObject *)descr)->d_getset->get;
    *closure = ((PyGetSetDescrObject *)descr)->d_getset->closure;
    Py_DECREF(descr);  /* the type keeps it */
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
        || PyType_Ready(&RowBufferType) < 0 || PyType_Ready(&AioStepType) < 0
        || PyType_Ready(&AioPatchType) < 0 || PyType_Ready(&OnceRaisesType) < 0)
        return NULL;
#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL
    INTERN(kind_sleep, "sleep"); INTERN(kind_sleep0, "sleep0"); INTERN(kind_sock, "sock");
    INTERN(kind_stream, "stream"); INTERN(kind_method, "method");
    INTERN(kind_wait_for, "wait_for"); INTERN(kind_taskgroup, "taskgroup");
    INTERN(kind_future, "future"); INTERN(kind_asyncio, "asyncio"); INTERN(kind_other, "other");
    INTERN(str_cr_frame, "cr_frame"); INTERN(str_cr_await, "cr_await");
    INTERN(str_gi_frame, "gi_frame"); INTERN(str_gi_yieldfrom, "gi_yieldfrom");
    INTERN(str_callback, "_callback"); INTERN(str_self_attr, "__self__");
    INTERN(str_get_coro, "get_coro"); INTERN(str_done, "done");
    INTERN(str_timer0, "timer 0 s"); INTERN(str_wait_wait_for, "wait wait_for");
    INTERN(str_wait_taskgroup, "wait TaskGroup");
    INTERN(str_wait_asyncio_wait, "wait asyncio.wait"); INTERN(str_name_wait, "wait");
    INTERN(str_delay, "delay"); INTERN(str_self_local, "self"); INTERN(str_run, "run");
#undef INTERN
    str_switch = PyUnicode_InternFromString("switch");
    str_wait = PyUnicode_InternFromString("wait");
    str_switch_cause = str_switch;
    str_wake = PyUnicode_InternFromString("wake");
    str_send = PyUnicode_InternFromString("send");
    str_yield = PyUnicode_InternFromString("yield");
    if (find_getters() < 0
        || find_getter((PyObject *)&PyCoro_Type, "cr_frame", &get_cr_frame, &closure_cr_frame)
        || find_getter((PyObject *)&PyCoro_Type, "cr_await", &get_cr_await, &closure_cr_await)
        || find_getter((PyObject *)&PyGen_Type, "gi_frame", &get_gi_frame, &closure_gi_frame)
        || find_getter((PyObject *)&PyGen_Type, "gi_yieldfrom", &get_gi_yieldfrom,
                       &closure_gi_yieldfrom))
        return NULL;
    PyObject *m = PyModule_Create(&hookmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&HookType);
    Py_INCREF(&ProfilerType);
    Py_INCREF(&RowBufferType);
    if (PyModule_AddObject(m, "Hook", (PyObject *)&HookType) < 0
        || PyModule_AddObject(m, "Profiler", (PyObject *)&ProfilerType) < 0
        || PyModule_AddObject(m, "RowBuffer", (PyObject *)&RowBufferType) < 0
        || PyModule_AddObjectRef(m, "AioStep", (PyObject *)&AioStepType) < 0
        || PyModule_AddObjectRef(m, "AioPatch", (PyObject *)&AioPatchType) < 0
        || PyModule_AddObjectRef(m, "OnceRaises", (PyObject *)&OnceRaisesType) < 0) {
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
