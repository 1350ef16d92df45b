def main():
    print('about to fail')
    raise ValueError('this demo fails on purpose')
