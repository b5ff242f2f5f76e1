#!/usr/bin/env python3
"""A small, exact load generator for profiling (bench/profile.sh): signs members in, then sends
a given number of signed-in GET / over keep-alive connections, each request with the next
session of its connection's share (the same rule as bench/views.lua).

    pageviews.py signin URL KIND USER_PREFIX COUNT SESSIONS_FILE
        KIND: portal (GET /login for the CSRF pair, then POST /login as members
        USER_PREFIX0…USER_PREFIX{COUNT-1}, one session each) or plain (the peers: POST /login
        with username + password, COUNT sessions of the member USER_PREFIX)
    pageviews.py views URL SESSIONS_FILE REQUESTS CONNECTIONS
        exactly REQUESTS page views, split over CONNECTIONS threads; every answer must be a
        200 with a greeting; prints the count and the wall time

Standard library only; no retries: a refused connection or a wrong answer is an error.
"""

import http.client
import re
import sys
import threading
import time
import urllib.parse

PASSWORD = "bench password"


def connect(url):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)


def cookies_of(response):
    jar = {}
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            key, _, val = pair.partition("=")
            jar[key.strip()] = val.strip()
    return jar


def sign_in(url, kind, username):
    conn = connect(url)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    form = {"username": username, "password": PASSWORD}
    if kind == "portal":
        conn.request("GET", "/login")
        response = conn.getresponse()
        body = response.read().decode()
        jar = cookies_of(response)
        token = re.search(r'name="csrf_token" value="([^"]*)"', body).group(1)
        form["csrf_token"] = token
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    conn.request("POST", "/login", urllib.parse.urlencode(form), headers)
    response = conn.getresponse()
    response.read()
    if response.status != 303:
        raise SystemExit(f"POST /login as {username} answered {response.status}")
    sid = cookies_of(response).get("sid")
    if not sid:
        raise SystemExit(f"POST /login as {username} set no sid cookie")
    conn.close()
    return sid


def views(url, sessions, requests, connections):
    counts = [0] * connections
    errors = []

    def worker(k, share, n):
        conn = connect(url)
        try:
            for i in range(n):
                conn.request("GET", "/", headers={"Cookie": "sid=" + share[i % len(share)]})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or b"Welcome, " not in body:
                    errors.append(f"connection {k}: GET / answered {response.status}")
                    return
                counts[k] += 1
        except Exception as error:  # noqa: BLE001 - reported, then the run fails
            errors.append(f"connection {k}: {error}")

    threads = []
    for k in range(connections):
        share = sessions[k::connections]
        if not share:
            raise SystemExit("fewer sessions than connections")
        n = requests // connections + (1 if k < requests % connections else 0)
        threads.append(threading.Thread(target=worker, args=(k, share, n)))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit("; ".join(errors[:3]))
    print(f"{sum(counts)} page views in {elapsed:.1f} s")


def main(argv):
    if len(argv) == 7 and argv[1] == "signin":
        _, _, url, kind, prefix, count, path = argv
        with open(path, "w") as out:
            for i in range(int(count)):
                user = f"{prefix}{i}" if kind == "portal" else prefix
                out.write(sign_in(url, kind, user) + "\n")
    elif len(argv) == 6 and argv[1] == "views":
        _, _, url, path, requests, connections = argv
        with open(path) as f:
            sessions = [line.strip() for line in f if line.strip()]
        views(url, sessions, int(requests), int(connections))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
