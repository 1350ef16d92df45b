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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

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
                                  + (x_end - x) + (c_end - c)) < 0)
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
    PyMem_Free(out.data);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef wire_methods[] = {
    {"events_piece", (PyCFunction)(void (*)(void))events_piece, METH_FASTCALL,
     "events_piece(batch, seq, other): (piece, rows) of a stored batch in the native "
     "export's spelling, from seq on; other(seq, row_bytes) spells any row but a plain "
     "switch. None: a batch this reader does not take (use the Python path)."},
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
