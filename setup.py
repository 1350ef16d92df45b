"""Builds the recorder's optional C fast path; everything else is in pyproject.toml.

If the compiler is missing or the build fails, the install still succeeds and the
pure-Python hook is used (same rows, slower): see app/tracer/recorder.py.
"""

from setuptools import Extension, setup

# Installed as coroscope.tracer._hook and ._wire (app/ is the package coroscope:
# pyproject.toml). _wire spells the recorder's rows for the child's events pipe and stored
# batches in the export's format (runner/child.py and tracer/export.py have the same in
# Python); it reads _hook's rows through _rows.h.
setup(ext_modules=[
    Extension("coroscope.tracer._hook", ["app/tracer/_hook.c"],
              depends=["app/tracer/_rows.h"], optional=True),
    Extension("coroscope.tracer._wire", ["app/tracer/_wire.c"],
              depends=["app/tracer/_rows.h"], optional=True),
])
