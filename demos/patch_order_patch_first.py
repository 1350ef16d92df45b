"""Patch order 1/3: monkey.patch_all() first, then `from socket import *`."""

from gevent import monkey; monkey.patch_all()  # noqa: E702, I001

from socket import *  # noqa: F403

from patch_order_echo import run


def main(clients=2):
    run(lambda: socket(AF_INET, SOCK_STREAM), clients)  # noqa: F405
