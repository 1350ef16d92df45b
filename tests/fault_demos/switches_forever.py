from greenlet import greenlet


def main():
    def a():
        while True:
            gb.switch()

    def b():
        while True:
            ga.switch()

    ga, gb = greenlet(a), greenlet(b)
    ga.switch()
