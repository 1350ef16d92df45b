"""Patch order 3/3: `import socket` first, then monkey.patch_all()."""

import socket  # noqa: I001  # only the module: socket.socket is looked up at each call

from gevent import monkey; monkey.patch_all()  # noqa: E702

from patch_order_echo import run


def main(clients=2):
    run(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), clients)
