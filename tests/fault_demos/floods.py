def main():
    i = 0
    while True:
        print(f'line {i} of a flood')
        i += 1
