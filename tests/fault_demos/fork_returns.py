import os
import time


def main():
    pid = os.fork()
    if pid == 0:  # the copy outlives the run, then falls off the end of main()
        time.sleep(2)
        print('the copy is done')
        return
    print(f'forked {pid}')
