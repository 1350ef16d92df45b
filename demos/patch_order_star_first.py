"""Patch order 2/3: `from socket import *` first, then monkey.patch_all()."""

from socket import *  # noqa: F403, I001  # copies the blocking socket class into this module

from gevent import monkey; monkey.patch_all()  # noqa: E702  # too late for the names above

from patch_order_echo import run


def main(clients=2):
    run(lambda: socket(AF_INET, SOCK_STREAM), clients)  # noqa: F405
