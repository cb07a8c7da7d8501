#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
"""A token server for docker-registry's `auth: token:` (tests only): answers GET /token?scope=...
&service=... with Basic credentials USER:PASSWORD by a JWT (RS256, signed with `openssl dgst`,
the certificate in its x5c header) granting the scopes asked for; 401 without the credentials.
Writes its port to PORTFILE and logs each request (scope, whether authorised) to LOG.

usage: registry-token.py PORTFILE LOG KEY.pem CERT.pem ISSUER USER:PASSWORD
"""
import base64, http.server, json, os, subprocess, sys, time, urllib.parse

portfile, log, key, cert, issuer, userpass = sys.argv[1:7]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True, capture_output=True).stdout


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(service, scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) >= 3:
            access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": issuer, "sub": userpass.split(":")[0], "aud": service, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(), check=True,
                         capture_output=True).stdout
    return signing + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        want = "Basic " + base64.b64encode(userpass.encode()).decode()
        ok = self.headers.get("Authorization") == want
        with open(log, "a") as f:
            f.write("%s scope=%s auth=%s\n" % (u.path, ",".join(q.get("scope", [])), "ok" if ok else "no"))
        if u.path != "/token" or not ok:
            self.send_response(401 if u.path == "/token" else 404)
            self.send_header("WWW-Authenticate", 'Basic realm="token"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"token": jwt(q.get("service", [""])[0], q.get("scope", []))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
