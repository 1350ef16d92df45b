/* Batches of rows turned into the native export's spelling, in C.
 *
 * events_piece(batch, seq, other) reads one stored batch line,
 * {"type":"events","seq":S,"n":N,"rows":[...]}, and gives its rows as export objects
 * from `seq` on, comma-joined without brackets: a piece of the export's `events` array,
 * byte for byte what tracer/export.py's Python writer makes of the same batch.
 *
 * A switch row, nearly all of a run, is spelled here: its numbers, `null` and its cause
 * are copied as they are, which is exact only for the spelling orjson writes (the
 * child's, and what the export re-encodes to). So the fast path takes only that
 * spelling: integers of at most 18 digits without a leading zero, `null`, and strings of
 * printable ASCII without an escape. Any other row (another kind, a float, an escape, a
 * non-ASCII character) is handed whole to `other(seq, row_bytes)`, which returns its
 * export object's bytes. A batch that does not start with the header above, or that
 * this reader cannot delimit, gives None: the caller takes the Python path for it.
 *
 * send_rows(...) is the other end, in the traced child: it takes the recorder's rows
 * out of its RowBuffer (through _hook's rows_api, without making a tuple of each) and
 * writes them to the events pipe as batch lines, byte for byte what events.py's
 * encode_batch makes of the same rows. The switch rows the hook packed are spelled with
 * the GIL let go, so the traced program runs on while its rows are written.
 *
 * write_events(...) takes them the same way for the Python API (coroscope.trace), which
 * writes the export itself as the block runs: the rows as the export's events, byte for
 * byte what events_piece() makes of their batch.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "_rows.h"

/* events.py's SWITCH and its name (tests/test_event_model.py pins both). */
#define KIND_SWITCH 0
#define KIND_SWITCH_NAME "switch"

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Out;

static int
out_reserve(Out *o, Py_ssize_t more)
{
    if (o->len + more <= o->cap)
        return 0;
    Py_ssize_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more)
        cap *= 2;
    char *grown = PyMem_Realloc(o->data, cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->data = grown;
    o->cap = cap;
    return 0;
}

static inline void
out_put(Out *o, const char *s, Py_ssize_t n)  /* room reserved by the caller */
{
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

#define OUT_LIT(o, lit) out_put((o), (lit), (Py_ssize_t)sizeof(lit) - 1)

static inline void
out_uint(Out *o, unsigned long long v)  /* room for 20 digits reserved by the caller */
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        o->data[o->len++] = tmp[--n];
}

/* A token the fast path copies as it is; its end, or NULL if it is not one. */
static inline const char *
scan_int(const char *p, const char *end)
{
    const char *s = p;
    if (p < end && *p == '-')
        p++;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    Py_ssize_t n = p - digits;
    if (n == 0 || n > 18 || (n > 1 && *digits == '0') || (s != digits && n == 1 && *digits == '0'))
        return NULL;
    return p;
}

static inline const char *
scan_int_or_null(const char *p, const char *end)
{
    if (end - p >= 4 && memcmp(p, "null", 4) == 0)
        return p + 4;
    return scan_int(p, end);
}

static inline const char *
scan_plain_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            return NULL;
    }
    return NULL;
}

/* The end of the JSON value at p (any value: the row handed to `other`), or NULL. Only
 * delimits: `other` parses what it is given, and refuses what is not JSON. */
static const char *
skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
            p++;
        }
        else if (c == '[' || c == '{') {
            depth++;
            p++;
        }
        else if (c == ']' || c == '}') {
            if (depth == 0)
                return p;  /* the end of the enclosing array: a scalar ends here */
            depth--;
            p++;
        }
        else if (c == ',' && depth == 0)
            return p;
        else
            p++;
        if (depth == 0 && (c == ']' || c == '}' || c == '"'))
            return p;
    }
    return NULL;
}

static const char HEADER[] = "{\"type\":\"events\",\"seq\":";

/* The pieces are spelled in one buffer kept from batch to batch (up to SCRATCH_KEEP): a
 * buffer of about 1 MB made and freed for every batch fragments the heap of a process
 * that converts batches for as long as a run lasts, which then grows with the run. */
#define SCRATCH_KEEP (8 << 20)
static Out scratch = {NULL, 0, 0};
static int scratch_in_use = 0;

static PyObject *
events_piece(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "events_piece(batch, seq, other)");
        return NULL;
    }
    PyObject *other = args[2];
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    long long seq = PyLong_AsLongLong(args[1]);
    if (seq == -1 && PyErr_Occurred()) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (seq < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "seq must be >= 0");
        return NULL;
    }
    const char *p = view.buf, *end = p + view.len, *q;
    Out out = {NULL, 0, 0};
    int own_scratch = !scratch_in_use;  /* not when `other` called back in here */
    if (own_scratch) {
        out = scratch;
        scratch_in_use = 1;
    }
    long long count = 0;
    PyObject *result = NULL;

    /* The header: {"type":"events","seq":S,"n":N,"rows":[ */
    if (end - p < (Py_ssize_t)sizeof(HEADER) - 1 || memcmp(p, HEADER, sizeof(HEADER) - 1))
        goto other_path;
    p += sizeof(HEADER) - 1;
    if ((q = scan_int(p, end)) == NULL || *p == '-')
        goto other_path;
    p = q;
    if (end - p < 5 || memcmp(p, ",\"n\":", 5))
        goto other_path;
    p += 5;
    if ((q = scan_int(p, end)) == NULL || *p == '-')
        goto other_path;
    p = q;
    if (end - p < 9 || memcmp(p, ",\"rows\":[", 9))
        goto other_path;
    p += 9;
    if (out_reserve(&out, view.len * 4 + 256) < 0)
        goto done;

    if (p < end && *p == ']')
        p++;
    else {
        for (;;) {
            if (p >= end || *p != '[')
                goto other_path;
            const char *row = p;
            const char *t, *t_end, *a, *a_end, *b, *b_end, *x, *x_end, *c = NULL, *c_end = NULL;
            /* [t,0,a,b,x] or [t,0,a,b,x,"cause"]: a switch */
            q = row + 1;
            t = q;
            if ((t_end = scan_int(q, end)) == NULL || end - t_end < 3 || t_end[0] != ','
                || t_end[1] != '0' + KIND_SWITCH || t_end[2] != ',')
                goto slow_row;
            a = t_end + 3;
            if ((a_end = scan_int(a, end)) == NULL || a_end >= end || *a_end != ',')
                goto slow_row;
            b = a_end + 1;
            if ((b_end = scan_int_or_null(b, end)) == NULL || b_end >= end || *b_end != ',')
                goto slow_row;
            x = b_end + 1;
            if ((x_end = scan_int_or_null(x, end)) == NULL || x_end >= end)
                goto slow_row;
            q = x_end;
            if (*q == ',') {
                c = q + 1;
                if ((c_end = scan_plain_string(c, end)) == NULL)
                    goto slow_row;
                q = c_end;
            }
            if (q >= end || *q != ']')
                goto slow_row;
            p = q + 1;
            if (out_reserve(&out, 120 + (t_end - t) + (a_end - a) + (b_end - b)
                                  + (x_end - x) + (c != NULL ? c_end - c : 0)) < 0)
                goto done;
            if (count)
                OUT_LIT(&out, ",");
            OUT_LIT(&out, "{\"seq\":");
            out_uint(&out, (unsigned long long)(seq + count));
            OUT_LIT(&out, ",\"t\":");
            out_put(&out, t, t_end - t);
            OUT_LIT(&out, ",\"kind\":\"" KIND_SWITCH_NAME "\",\"from\":");
            out_put(&out, a, a_end - a);
            OUT_LIT(&out, ",\"to\":");
            out_put(&out, b, b_end - b);
            OUT_LIT(&out, ",\"line\":");
            out_put(&out, x, x_end - x);
            OUT_LIT(&out, ",\"cause\":");
            if (c != NULL)
                out_put(&out, c, c_end - c);
            else
                OUT_LIT(&out, "null");
            OUT_LIT(&out, "}");
            goto next;

        slow_row:
            /* Any other row: its bytes to `other`, which spells its event. */
            p = skip_value(row, end);
            if (p == NULL)
                goto other_path;
            {
                PyObject *raw = PyBytes_FromStringAndSize(row, p - row);
                if (raw == NULL)
                    goto done;
                PyObject *at = PyLong_FromLongLong(seq + count);
                if (at == NULL) {
                    Py_DECREF(raw);
                    goto done;
                }
                PyObject *callargs[2] = {at, raw};
                PyObject *event = PyObject_Vectorcall(other, callargs, 2, NULL);
                Py_DECREF(at);
                Py_DECREF(raw);
                if (event == NULL)
                    goto done;
                if (!PyBytes_Check(event)) {
                    Py_DECREF(event);
                    PyErr_SetString(PyExc_TypeError, "other() must return bytes");
                    goto done;
                }
                Py_ssize_t n = PyBytes_GET_SIZE(event);
                if (out_reserve(&out, n + 1) < 0) {
                    Py_DECREF(event);
                    goto done;
                }
                if (count)
                    OUT_LIT(&out, ",");
                out_put(&out, PyBytes_AS_STRING(event), n);
                Py_DECREF(event);
            }
        next:
            count++;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']') {
                p++;
                break;
            }
            goto other_path;
        }
    }
    if (end - p != 1 || *p != '}')
        goto other_path;
    {
        PyObject *piece = PyBytes_FromStringAndSize(out.data, out.len);
        if (piece != NULL) {
            result = Py_BuildValue("(NL)", piece, count);
        }
    }
    goto done;

other_path:
    result = Py_NewRef(Py_None);
done:
    if (own_scratch && out.cap <= SCRATCH_KEEP) {
        out.len = 0;
        scratch = out;
    }
    else {
        PyMem_Free(out.data);
        if (own_scratch)
            scratch = (Out){NULL, 0, 0};
    }
    if (own_scratch)
        scratch_in_use = 0;
    PyBuffer_Release(&view);
    return result;
}

/* ---- the child: rows to batch lines on the events pipe ----------------------------- */

static long long
monotonic_ns(void)  /* the recorder's clock (_hook.c's now_ns) */
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A buffer filled without the GIL: PyMem_Raw*, never pymalloc. */
typedef struct {
    char *data;
    size_t len, cap;
} RawOut;

static int
raw_reserve(RawOut *o, size_t more)
{
    if (o->len + more <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->len + more)
        cap *= 2;
    char *grown = PyMem_RawRealloc(o->data, cap);
    if (grown == NULL)
        return -1;
    o->data = grown;
    o->cap = cap;
    return 0;
}

static inline void
raw_int(RawOut *o, long long v)  /* room for 20 characters reserved by the caller */
{
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        o->data[o->len++] = '-';
    while (n)
        o->data[o->len++] = tmp[--n];
}

#define RAW_LIT(o, lit) (memcpy((o)->data + (o)->len, (lit), sizeof(lit) - 1), \
                         (o)->len += sizeof(lit) - 1)

/* A cause the spelling copies as it is: a str of ASCII that JSON writes unescaped
 * (orjson escapes '"', '\\' and the control characters, and nothing else of ASCII). */
static int
plain_cause(PyObject *cause)
{
    if (!PyUnicode_CheckExact(cause) || !PyUnicode_IS_COMPACT_ASCII(cause))
        return 0;
    const unsigned char *c = PyUnicode_DATA(cause);
    Py_ssize_t n = PyUnicode_GET_LENGTH(cause);
    for (Py_ssize_t i = 0; i < n; i++)
        if (c[i] < 0x20 || c[i] == '"' || c[i] == '\\')
            return 0;
    return 1;
}

static int
write_all(int fd, const char *data, size_t len)  /* 0, or an errno */
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* What take_rows() writes: batch lines for the events pipe, or a piece of the native
 * export's `events` array. */
typedef enum { WIRE, EVENTS } Spelling;

/* take_rows(rows_api, buffer, fd, seq, limit, max_rows, spell, how): take at most about
 * `limit` of the oldest rows out of `buffer` and write them to `fd`, `max_rows` at a
 * time. With the GIL, every row that is not a plain packed switch is spelled by `spell`
 * (WIRE: spell(row), the row's JSON; EVENTS: spell(seq, row), its export object's), in
 * the rows' order; then the GIL is let go while the switches are spelled and written. */
static PyObject *
take_rows(PyObject *const *args, Py_ssize_t nargs, Spelling how, const char *usage)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    RowsAPI *api = PyCapsule_GetPointer(args[0], ROWS_API_NAME);
    if (api == NULL)
        return NULL;
    if (api->version != ROWS_API_VERSION) {
        PyErr_SetString(PyExc_ImportError, "_hook's rows_api is of another version");
        return NULL;
    }
    PyObject *buffer = args[1], *spell = args[6];
    long fd = PyLong_AsLong(args[2]);
    long long seq = PyLong_AsLongLong(args[3]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[4]);
    Py_ssize_t max_rows = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (fd < 0 || fd > INT_MAX || seq < 0 || limit < 0 || max_rows <= 0) {
        PyErr_SetString(PyExc_ValueError, "fd, seq and limit must be >= 0, max_rows > 0");
        return NULL;
    }
    Py_ssize_t n = 0;
    void *taken = api->take(buffer, limit, &n);
    if (taken == NULL)
        return NULL;
    if (n == 0) {
        api->release(taken);
        long long now = monotonic_ns();
        return Py_BuildValue("(nLL)", n, now, now);
    }

    PyObject **spelled = NULL;
    PyObject *last_plain = NULL;
    int failed = 0;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        long long t;
        int src, dst, line;
        PyObject *cause;
        if (api->switch_row(taken, i, &t, &src, &dst, &line, &cause)) {
            if (cause == last_plain)
                continue;
            if (plain_cause(cause)) {
                last_plain = cause;
                continue;
            }
        }
        if (spelled == NULL && (spelled = PyMem_Calloc(n, sizeof(PyObject *))) == NULL) {
            PyErr_NoMemory();
            failed = 1;
            break;
        }
        PyObject *row = api->row(taken, i);
        if (row == NULL) {
            failed = 1;
            break;
        }
        if (how == WIRE)
            spelled[i] = PyObject_CallOneArg(spell, row);
        else {
            PyObject *at = PyLong_FromLongLong(seq + i);
            if (at != NULL) {
                PyObject *callargs[2] = {at, row};
                spelled[i] = PyObject_Vectorcall(spell, callargs, 2, NULL);
                Py_DECREF(at);
            }
        }
        Py_DECREF(row);
        if (spelled[i] == NULL)
            failed = 1;
        else if (!PyBytes_Check(spelled[i])) {
            PyErr_SetString(PyExc_TypeError, "the spelling of a row must be bytes");
            failed = 1;
        }
    }

    long long let_go = 0, taken_back = 0;
    int error = 0, no_memory = 0;
    if (!failed) {
        RawOut out = {NULL, 0, 0};
        let_go = monotonic_ns();
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t start = 0; start < n && !error && !no_memory; start += max_rows) {
            Py_ssize_t stop = start + max_rows < n ? start + max_rows : n;
            out.len = 0;
            if (raw_reserve(&out, 96)) {
                no_memory = 1;
                break;
            }
            if (how == WIRE) {
                RAW_LIT(&out, "{\"type\":\"events\",\"seq\":");
                raw_int(&out, seq + start);
                RAW_LIT(&out, ",\"n\":");
                raw_int(&out, stop - start);
                RAW_LIT(&out, ",\"rows\":[");
            }
            for (Py_ssize_t i = start; i < stop; i++) {
                /* Between two rows; in the export, before every event but the array's
                 * first. */
                int comma = how == WIRE ? i > start : seq + i > 0;
                if (spelled != NULL && spelled[i] != NULL) {
                    size_t len = (size_t)PyBytes_GET_SIZE(spelled[i]);
                    if (raw_reserve(&out, len + 1)) {
                        no_memory = 1;
                        break;
                    }
                    if (comma)
                        out.data[out.len++] = ',';
                    memcpy(out.data + out.len, PyBytes_AS_STRING(spelled[i]), len);
                    out.len += len;
                    continue;
                }
                long long t;
                int src, dst, line;
                PyObject *cause;
                api->switch_row(taken, i, &t, &src, &dst, &line, &cause);
                size_t clen = (size_t)PyUnicode_GET_LENGTH(cause);
                if (raw_reserve(&out, 192 + clen)) {
                    no_memory = 1;
                    break;
                }
                if (comma)
                    out.data[out.len++] = ',';
                if (how == WIRE) {  /* [t,0,from,to,line,"cause"] */
                    out.data[out.len++] = '[';
                    raw_int(&out, t);
                    out.data[out.len++] = ',';
                    raw_int(&out, KIND_SWITCH);
                    out.data[out.len++] = ',';
                    raw_int(&out, src);
                    out.data[out.len++] = ',';
                    raw_int(&out, dst);
                    out.data[out.len++] = ',';
                }
                else {  /* export.py's _events_piece, and events_piece() above */
                    RAW_LIT(&out, "{\"seq\":");
                    raw_int(&out, seq + i);
                    RAW_LIT(&out, ",\"t\":");
                    raw_int(&out, t);
                    RAW_LIT(&out, ",\"kind\":\"" KIND_SWITCH_NAME "\",\"from\":");
                    raw_int(&out, src);
                    RAW_LIT(&out, ",\"to\":");
                    raw_int(&out, dst);
                    RAW_LIT(&out, ",\"line\":");
                }
                if (line < 0)
                    RAW_LIT(&out, "null");
                else
                    raw_int(&out, line);
                if (how == WIRE)
                    out.data[out.len++] = ',';
                else
                    RAW_LIT(&out, ",\"cause\":");
                out.data[out.len++] = '"';
                memcpy(out.data + out.len, PyUnicode_DATA(cause), clen);
                out.len += clen;
                out.data[out.len++] = '"';
                out.data[out.len++] = how == WIRE ? ']' : '}';
            }
            if (no_memory || raw_reserve(&out, 3)) {
                no_memory = 1;
                break;
            }
            if (how == WIRE)
                RAW_LIT(&out, "]}\n");
            error = write_all((int)fd, out.data, out.len);
        }
        PyMem_RawFree(out.data);
        Py_END_ALLOW_THREADS
        taken_back = monotonic_ns();
    }
    if (spelled != NULL) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(spelled[i]);
        PyMem_Free(spelled);
    }
    api->release(taken);
    if (failed)
        return NULL;
    if (no_memory)
        return PyErr_NoMemory();
    if (error) {
        errno = error;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(nLL)", n, let_go, taken_back);
}

static PyObject *
send_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return take_rows(args, nargs, WIRE,
                     "send_rows(rows_api, buffer, fd, seq, limit, max_rows, row_json)");
}

static PyObject *
write_events(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return take_rows(args, nargs, EVENTS,
                     "write_events(rows_api, buffer, fd, seq, limit, max_rows, event_json)");
}

static PyMethodDef wire_methods[] = {
    {"events_piece", (PyCFunction)(void (*)(void))events_piece, METH_FASTCALL,
     "events_piece(batch, seq, other): (piece, rows) of a stored batch in the native "
     "export's spelling, from seq on; other(seq, row_bytes) spells any row but a plain "
     "switch. None: a batch this reader does not take (use the Python path)."},
    {"send_rows", (PyCFunction)(void (*)(void))send_rows, METH_FASTCALL,
     "send_rows(rows_api, buffer, fd, seq, limit, max_rows, row_json): take at most "
     "about `limit` of the oldest rows out of `buffer` (as its drain() does) and write "
     "them to `fd` as batch lines of at most `max_rows` rows from `seq` on; other rows "
     "than packed switches are spelled by row_json(row). (rows, let_go, taken_back): "
     "the GIL was let go between those two CLOCK_MONOTONIC times."},
    {"write_events", (PyCFunction)(void (*)(void))write_events, METH_FASTCALL,
     "write_events(rows_api, buffer, fd, seq, limit, max_rows, event_json): as send_rows, "
     "but what is written to `fd` is the rows as the native export's events from seq on "
     "(a piece of its `events` array, a comma before each but the array's first); other "
     "rows than packed switches are spelled by event_json(seq, row)."},
    {NULL}
};

static struct PyModuleDef wiremodule = {
    PyModuleDef_HEAD_INIT,
    .m_name = "coroscope.tracer._wire",
    .m_doc = "Stored batches to the native export's spelling, in C.",
    .m_size = -1,
    .m_methods = wire_methods,
};

PyMODINIT_FUNC
PyInit__wire(void)
{
    return PyModule_Create(&wiremodule);
}
