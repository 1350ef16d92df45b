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

typedef struct {
    PyObject_HEAD
    PyObject *rows;      /* list the rows are appended to */
    PyObject *attr;      /* name of the task-id attribute on greenlets */
    PyObject *files;     /* frozenset of user file names */
    PyObject *slow;      /* callable(event, args, t): the Python path */
    PyObject *pause_of;  /* callable(frame, to_hub) -> cause, for pauses inside a library */
    PyObject *prev;      /* the previous tracer, or None */
    PyObject *running;   /* task id now running (read by BusyWatch) */
    long long switched_at;
    long long t0;
    long long hub_tid;   /* -1 until the Hub is known */
    int force_slow;      /* set by Python while it has state the fast path ignores */
} Hook;

static PyObject *str_switch, *str_dead, *str_gr_frame, *str_wait, *str_switch_cause,
    *str_wake;

static void
Hook_dealloc(Hook *self)
{
    Py_XDECREF(self->rows);
    Py_XDECREF(self->attr);
    Py_XDECREF(self->files);
    Py_XDECREF(self->slow);
    Py_XDECREF(self->pause_of);
    Py_XDECREF(self->prev);
    Py_XDECREF(self->running);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Hook_init(Hook *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"rows", "attr", "files", "slow", "pause_of", "prev", "t0", NULL};
    PyObject *rows, *attr, *files, *slow, *pause_of, *prev;
    long long t0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!UOOOOL", kwlist, &PyList_Type, &rows,
                                     &attr, &files, &slow, &pause_of, &prev, &t0))
        return -1;
    Py_INCREF(pause_of); Py_XSETREF(self->pause_of, pause_of);
    Py_INCREF(rows); Py_XSETREF(self->rows, rows);
    Py_INCREF(attr); Py_XSETREF(self->attr, attr);
    Py_INCREF(files); Py_XSETREF(self->files, files);
    Py_INCREF(slow); Py_XSETREF(self->slow, slow);
    Py_INCREF(prev); Py_XSETREF(self->prev, prev);
    Py_INCREF(Py_None); Py_XSETREF(self->running, Py_None);
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

static PyObject *
Hook_call(Hook *self, PyObject *args_in, PyObject *kwds)
{
    if (!PyTuple_Check(args_in) || PyTuple_GET_SIZE(args_in) != 2) {
        PyErr_SetString(PyExc_TypeError, "hook(event, (origin, target))");
        return NULL;
    }
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

    PyObject *src = task_id(origin, self->attr);
    if (src == NULL) {
        PyErr_Clear();
        return go_slow(self, event, args, t);
    }
    PyObject *dst = task_id(target, self->attr);
    if (dst == NULL) {
        PyErr_Clear();
        Py_DECREF(src);
        return go_slow(self, event, args, t);
    }
    PyObject *dead = PyObject_GetAttr(origin, str_dead);
    if (dead != Py_False) {  /* a finish to record: the slow path does it */
        Py_XDECREF(dead);
        PyErr_Clear();
        Py_DECREF(src);
        Py_DECREF(dst);
        return go_slow(self, event, args, t);
    }
    Py_DECREF(dead);

    PyObject *line, *cause, *keep = NULL;
    long long src_id = PyLong_AsLongLong(src);
    long long dst_id = PyLong_AsLongLong(dst);
    if (src_id == self->hub_tid) {
        Py_INCREF(Py_None);
        line = Py_None;
        cause = str_wake;
    }
    else {
        PyObject *frame = PyObject_GetAttr(origin, str_gr_frame);
        int in_user = 0;
        if (frame != NULL && frame != Py_None && PyFrame_Check(frame)) {
            PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
            in_user = PySet_Contains(self->files, code->co_filename);
            Py_DECREF(code);
        }
        if (in_user != 1) {
            /* Paused inside a library (gevent's sleep, a socket...): the line is that of
             * the innermost user frame below it; why it paused, Python reads from the
             * library's frame (with caches: see _library_cause in recorder.py). */
            if (in_user < 0 || frame == NULL || !PyFrame_Check(frame)) {
                Py_XDECREF(frame);
                PyErr_Clear();
                Py_DECREF(src);
                Py_DECREF(dst);
                return go_slow(self, event, args, t);
            }
            PyFrameObject *f = PyFrame_GetBack((PyFrameObject *)frame);
            line = NULL;
            while (f != NULL) {
                PyCodeObject *c = PyFrame_GetCode(f);
                int found = PySet_Contains(self->files, c->co_filename);
                Py_DECREF(c);
                if (found == 1) {
                    line = PyLong_FromLong(PyFrame_GetLineNumber(f));
                    Py_DECREF(f);
                    break;
                }
                PyFrameObject *back = PyFrame_GetBack(f);
                Py_DECREF(f);
                f = back;
            }
            if (line == NULL) {
                Py_INCREF(Py_None);
                line = Py_None;
            }
            keep = PyObject_CallFunctionObjArgs(
                self->pause_of, frame, dst_id == self->hub_tid ? Py_True : Py_False, NULL);
            Py_DECREF(frame);
            if (keep == NULL || !PyUnicode_Check(keep)) {
                Py_XDECREF(keep);
                Py_DECREF(line);
                PyErr_Clear();
                Py_DECREF(src);
                Py_DECREF(dst);
                return go_slow(self, event, args, t);
            }
            cause = keep;  /* borrowed from keep, released once the row holds it */
        }
        else {
            line = PyLong_FromLong(PyFrame_GetLineNumber((PyFrameObject *)frame));
            Py_DECREF(frame);
            cause = dst_id == self->hub_tid ? str_wait : str_switch_cause;
        }
    }
    PyObject *row = PyTuple_New(6);
    if (row == NULL) {
        Py_DECREF(src); Py_DECREF(dst); Py_DECREF(line); Py_XDECREF(keep);
        return NULL;
    }
    PyTuple_SET_ITEM(row, 0, PyLong_FromLongLong(t));
    PyTuple_SET_ITEM(row, 1, PyLong_FromLong(0));  /* SWITCH */
    PyTuple_SET_ITEM(row, 2, src);                 /* references move into the row */
    Py_INCREF(dst);
    PyTuple_SET_ITEM(row, 3, dst);
    PyTuple_SET_ITEM(row, 4, line);
    Py_INCREF(cause);
    PyTuple_SET_ITEM(row, 5, cause);
    Py_XDECREF(keep);
    /* Ints, strings and None cannot form cycles: keep the collector off a million rows. */
    PyObject_GC_UnTrack(row);
    int failed = PyList_Append(self->rows, row);
    Py_DECREF(row);
    Py_XSETREF(self->running, dst);  /* takes our remaining reference to dst */
    self->switched_at = t;
    if (failed)
        return NULL;
    return call_prev(self, event, args);
}

static PyMemberDef Hook_members[] = {
    {"running", T_OBJECT, offsetof(Hook, running), 0, "task id now running"},
    {"switched_at", T_LONGLONG, offsetof(Hook, switched_at), 0, "when it got control"},
    {"hub_tid", T_LONGLONG, offsetof(Hook, hub_tid), 0, "the Hub's task id, or -1"},
    {"force_slow", T_INT, offsetof(Hook, force_slow), 0, "send every event to Python"},
    {"t0", T_LONGLONG, offsetof(Hook, t0), READONLY, "clock origin"},
    {NULL}
};

static PyTypeObject HookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "app.tracer._hook.Hook",
    .tp_basicsize = sizeof(Hook),
    .tp_dealloc = (destructor)Hook_dealloc,
    .tp_call = (ternaryfunc)Hook_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
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
    PyObject *on_resume;         /* callable(frame) */
    PyObject *on_leave;          /* callable(frame) */
    PyObject *on_driver_return;  /* callable(frame) */
} Profiler;

static void
Profiler_dealloc(Profiler *self)
{
    Py_XDECREF(self->files);
    Py_XDECREF(self->generators);
    Py_XDECREF(self->drivers);
    Py_XDECREF(self->on_resume);
    Py_XDECREF(self->on_leave);
    Py_XDECREF(self->on_driver_return);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Profiler_init(Profiler *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"files", "generators", "drivers", "on_resume", "on_leave",
                             "on_driver_return", NULL};
    PyObject *files, *generators, *drivers, *on_resume, *on_leave, *on_driver_return;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!OOO", kwlist, &files, &PyDict_Type,
                                     &generators, &PyDict_Type, &drivers, &on_resume,
                                     &on_leave, &on_driver_return))
        return -1;
    Py_INCREF(files); Py_XSETREF(self->files, files);
    Py_INCREF(generators); Py_XSETREF(self->generators, generators);
    Py_INCREF(drivers); Py_XSETREF(self->drivers, drivers);
    Py_INCREF(on_resume); Py_XSETREF(self->on_resume, on_resume);
    Py_INCREF(on_leave); Py_XSETREF(self->on_leave, on_leave);
    Py_INCREF(on_driver_return); Py_XSETREF(self->on_driver_return, on_driver_return);
    return 0;
}

static int
profiler_event(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    Profiler *self = (Profiler *)obj;
    if (what != PyTrace_CALL && what != PyTrace_RETURN)
        return 0;
    PyCodeObject *code = PyFrame_GetCode(frame);
    int gen = code->co_flags & CO_GENERATOR;
    PyObject *callback = NULL;
    if (what == PyTrace_CALL) {
        if (gen && PySet_Contains(self->files, code->co_filename) == 1)
            callback = self->on_resume;
    }
    else if (gen) {
        if (PyDict_GET_SIZE(self->generators)
            && PyDict_Contains(self->generators, (PyObject *)frame) == 1)
            callback = self->on_leave;
    }
    else if (PyDict_GET_SIZE(self->drivers)
             && PyDict_Contains(self->drivers, (PyObject *)frame) == 1) {
        callback = self->on_driver_return;
    }
    Py_DECREF(code);
    if (callback == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *r = PyObject_CallOneArg(callback, (PyObject *)frame);
    if (r == NULL) {
        PyErr_WriteUnraisable(callback);  /* never break the traced program */
        return 0;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *
Profiler_install(Profiler *self, PyObject *unused)
{
    PyEval_SetProfile(profiler_event, (PyObject *)self);
    Py_RETURN_NONE;
}

static PyMethodDef Profiler_methods[] = {
    {"install", (PyCFunction)Profiler_install, METH_NOARGS,
     "make this the thread's profile function (sys.getprofile() then returns it)"},
    {NULL}
};

static PyTypeObject ProfilerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "app.tracer._hook.Profiler",
    .tp_basicsize = sizeof(Profiler),
    .tp_dealloc = (destructor)Profiler_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
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
    PyModuleDef_HEAD_INIT, "app.tracer._hook", "C fast path of the recorder.", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit__hook(void)
{
    if (PyType_Ready(&HookType) < 0 || PyType_Ready(&ProfilerType) < 0)
        return NULL;
    str_switch = PyUnicode_InternFromString("switch");
    str_dead = PyUnicode_InternFromString("dead");
    str_gr_frame = PyUnicode_InternFromString("gr_frame");
    str_wait = PyUnicode_InternFromString("wait");
    str_switch_cause = str_switch;
    str_wake = PyUnicode_InternFromString("wake");
    PyObject *m = PyModule_Create(&hookmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&HookType);
    Py_INCREF(&ProfilerType);
    if (PyModule_AddObject(m, "Hook", (PyObject *)&HookType) < 0
        || PyModule_AddObject(m, "Profiler", (PyObject *)&ProfilerType) < 0) {
        Py_DECREF(&HookType);
        Py_DECREF(&ProfilerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
