"""Builds the recorder's optional C fast path; everything else is in pyproject.toml.

If the compiler is missing or the build fails, the install still succeeds and the
pure-Python hook is used (same rows, slower): see app/tracer/recorder.py.
"""

from setuptools import Extension, setup

# Installed as coroscope.tracer._hook (app/ is the package coroscope: pyproject.toml).
setup(ext_modules=[Extension("coroscope.tracer._hook", ["app/tracer/_hook.c"], optional=True)])
