"""Builds the recorder's optional C fast path; everything else is in pyproject.toml.

If the compiler is missing or the build fails, the install still succeeds and the
pure-Python hook is used (same rows, slower): see app/tracer/recorder.py.
"""

from setuptools import Extension, setup

# Installed as coroscope.tracer._hook and ._wire (app/ is the package coroscope:
# pyproject.toml). _wire spells stored batches in the export's format (tracer/export.py,
# which has the same in Python).
setup(ext_modules=[
    Extension("coroscope.tracer._hook", ["app/tracer/_hook.c"], optional=True),
    Extension("coroscope.tracer._wire", ["app/tracer/_wire.c"], optional=True),
])
