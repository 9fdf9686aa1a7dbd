#!/usr/bin/env python3
"""moto's server with one request at a time, for the tests and benchmarks of mtls-console.

`moto_server` serves requests on many threads, and moto's DynamoDB TransactWriteItems keeps
a copy of every table it touches and puts the copy back when a condition fails: a
transaction that loses a race then undoes whatever other requests wrote meanwhile. DynamoDB
never does that, so the tests would see lost writes that are the emulator's. Behind one
lock moto applies each request whole, as DynamoDB applies each transaction.

Usage: moto-serial.py -H 127.0.0.1 -p PORT   (the options of moto_server)
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ, start_response):
        with lock:
            # The whole response is made inside the lock (bodies included).
            return list(app(environ, start_response))

    run_simple(args.host, args.port, serial, threaded=True)


if __name__ == "__main__":
    main()
