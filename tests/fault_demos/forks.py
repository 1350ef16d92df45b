import os
import time


def main():
    pid = os.fork()
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    print(f'grandchild {pid}')
    time.sleep(120)
