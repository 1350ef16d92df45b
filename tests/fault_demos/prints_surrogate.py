def main():
    name = b'caf\xe9.txt'.decode('utf-8', 'surrogateescape')  # as os.listdir gives it
    print('found', name)
    print('still here')
    raise ValueError('cannot open ' + name)  # the traceback quotes it too
