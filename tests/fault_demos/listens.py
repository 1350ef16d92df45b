import socket
import time


def main():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    s.listen(1)
    print(f'listening on {s.getsockname()[1]}')
    time.sleep(120)
