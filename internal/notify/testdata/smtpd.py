#!/usr/bin/env python3
"""SMTP server for the notify package's tests (Debian package python3-aiosmtpd).

Listens on 127.0.0.1:PORT with the given certificate, requires STARTTLS (or
speaks TLS from the first byte with --implicit) and AUTH with the one account
given, and stores every message it accepts in FOLDER as NNNN.eml, with
NNNN.json beside it describing the session (TLS used, account, envelope).
Each file is written under a temporary name and renamed, so a reader never
sees half a file; the .json is renamed before the .eml.

Prints "ready" once listening; stops when its standard input closes (the test
process ended) or on SIGTERM.
"""

import argparse
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Store:
    def __init__(self, folder, implicit):
        self.folder = folder
        self.implicit = implicit
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            base = os.path.join(self.folder, "%04d" % self.count)
        login = getattr(session.auth_data, "login", None)
        meta = {
            "starttls": session.ssl is not None,
            "implicit_tls": self.implicit,
            "authenticated": bool(session.authenticated),
            "login": login.decode() if login else None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
        }
        write_atomic(base + ".json", json.dumps(meta).encode())
        write_atomic(base + ".eml", envelope.original_content or envelope.content)
        return "250 2.0.0 Message accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--implicit", action="store_true", help="TLS from the first byte (port 465 style)")
    p.add_argument("folder")
    a = p.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword)
              and data.login == a.user.encode()
              and data.password == a.password.encode())
        # handled=False lets aiosmtpd answer 535 on failure.
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    common = dict(hostname="127.0.0.1", port=a.port, authenticator=authenticator,
                  auth_required=True, ready_timeout=10)
    handler = Store(a.folder, a.implicit)
    if a.implicit:
        # The whole session is encrypted, so AUTH needs no STARTTLS.
        controller = Controller(handler, ssl_context=ctx, auth_require_tls=False, **common)
    else:
        # Before STARTTLS only EHLO, STARTTLS, NOOP and QUIT are accepted,
        # and AUTH is not even advertised.
        controller = Controller(handler, tls_context=ctx, require_starttls=True, **common)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
