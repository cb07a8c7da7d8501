#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
"""A static file server for the pull tests that misbehaves on request.

Serves --root over HTTP/1.1 (keep-alive) on 127.0.0.1, on a free port written to
--port-file. The rules file (--faults, re-read on every request) has lines

    PATH-PREFIX ACTION COUNT

and the first rule whose prefix starts the request path (without the leading
'/'; '*' matches all) applies to the first COUNT requests of each path ('always'
for all of them). Actions:

    404, 500       answer with that status
    truncate       promise the whole file, send half of it, close
    drop           close the connection without answering
    corrupt        send the file with one byte changed
    stall          send the headers and half of the file, then nothing (for 300 s)
    hang           read the request, answer nothing (for 300 s)

--symlinks answers for a symbolic link with its target and the content type
text/x-symlink-target (the composefs-rs convention) instead of following it;
--zstd compresses bodies with the zstd command when the client accepts it; --index-file NAME
answers a directory's path (ending in '/') with the file NAME in it (a static registry's /v2/).
Every answer is logged to --log as "PATH STATUS BODY-BYTES ENCODING".
"""
import argparse
import http.server
import os
import socket
import subprocess
import sys
import threading
import time

counts = {}
lock = threading.Lock()


def load_rules(path):
    rules = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and not parts[0].startswith('#'):
                    rules.append(parts)
    return rules


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def note(self, path, status, nbytes, enc='-'):
        with lock, open(self.server.opts.log, 'a') as f:
            f.write(f'{path} {status} {nbytes} {enc}\n')

    def fault_for(self, path):
        for prefix, action, count in load_rules(self.server.opts.faults):
            if prefix == '*' or path.startswith(prefix):
                with lock:
                    n = counts.get(path, 0)
                    counts[path] = n + 1
                if count == 'always' or n < int(count):
                    return action
                return None
        return None

    def send_status(self, path, code):
        body = f'{code}\n'.encode()
        self.send_response(code)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.note(path, code, len(body))

    def do_GET(self):
        path = self.path.split('?', 1)[0].lstrip('/')
        if path.endswith('/') and self.server.opts.index_file:
            path += self.server.opts.index_file
        parts = path.split('/')
        if any(p in ('', '.', '..') for p in parts):
            return self.send_status(path, 404)
        fault = self.fault_for(path)
        if fault == 'drop':
            self.note(path, 'drop', 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == 'hang':
            self.note(path, 'hang', 0)
            time.sleep(300)
            return
        if fault in ('404', '500'):
            return self.send_status(path, int(fault))
        full = os.path.join(self.server.opts.root, *parts)
        ctype = 'application/octet-stream'
        try:
            if self.server.opts.symlinks and os.path.islink(full):
                data = os.readlink(full).encode()
                ctype = 'text/x-symlink-target'
            elif os.path.isfile(full):
                with open(full, 'rb') as f:
                    data = f.read()
            else:
                return self.send_status(path, 404)
        except OSError:
            return self.send_status(path, 404)
        if fault == 'corrupt' and data:
            data = bytes([data[0] ^ 0xff]) + data[1:]
        enc = '-'
        if self.server.opts.zstd and 'zstd' in self.headers.get('Accept-Encoding', ''):
            data = subprocess.run(['zstd', '-q', '-c'], input=data, stdout=subprocess.PIPE, check=True).stdout
            enc = 'zstd'
        self.send_response(200)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        if enc != '-':
            self.send_header('Content-Encoding', enc)
        self.end_headers()
        if fault in ('truncate', 'stall'):
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.note(path, fault, len(data) // 2, enc)
            if fault == 'stall':
                time.sleep(300)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)
        self.note(path, 200, len(data), enc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--port-file', required=True)
    ap.add_argument('--faults')
    ap.add_argument('--log', required=True)
    ap.add_argument('--symlinks', action='store_true')
    ap.add_argument('--zstd', action='store_true')
    ap.add_argument('--index-file')
    opts = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    srv.daemon_threads = True
    srv.opts = opts
    tmp = opts.port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write(f'{srv.server_address[1]}\n')
    os.rename(tmp, opts.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
