#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
"""Build a test OCI image layout with python's tarfile: three layers (gzip, zstd, plain) with
whiteouts, an opaque directory, overwritten files, hard links, xattrs, devices, a fifo, long
names, a setuid file; tags 'latest' (the image), 'base' (layer 1 only) and 'multi' (an image
index for linux/amd64 and linux/arm64).

usage: oci-mkimage.py DIR            write the layout
       oci-mkimage.py --layer KIND OUT   write one hostile layer tar (for refusal tests)
"""
import gzip, hashlib, io, json, os, random, subprocess, sys, tarfile

MTIME = 1700000000


def data(size, seed):
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(size)) if size < 4096 else r.randbytes(size)


class Layer:
    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name, kind=tarfile.REGTYPE, content=b"", mode=0o644, uid=0, gid=0, link="",
            xattrs=None, dev=(0, 0), mtime=MTIME):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, mtime
        ti.linkname = link
        ti.devmajor, ti.devminor = dev
        if xattrs:
            ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
        if kind == tarfile.REGTYPE:
            ti.size = len(content)
            self.tar.addfile(ti, io.BytesIO(content))
        else:
            self.tar.addfile(ti)

    def dir(self, name, mode=0o755, **kw):
        self.add(name, tarfile.DIRTYPE, mode=mode, **kw)

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def layer1():
    l = Layer()
    # the root entry says what /usr ends up saying: composefs-rs gives / the metadata of /usr,
    # umoci that of the root entry, and the test compares the two
    l.dir("./", mtime=MTIME + 1000)
    l.dir("etc")
    l.add("etc/passwd", content=b"root:x:0:0:root:/root:/bin/sh\n")
    l.dir("usr", mode=0o755, mtime=MTIME + 5)
    l.dir("usr/bin")
    l.add("usr/bin/tool", content=data(200000, 1), mode=0o755)
    l.add("usr/bin/tool-hardlink", tarfile.LNKTYPE, link="usr/bin/tool")
    l.add("usr/bin/sh", tarfile.SYMTYPE, link="tool", mode=0o777)
    l.add("usr/bin/su", content=data(5000, 2), mode=0o4755)
    l.add("usr/bin/sgid", content=b"x" * 100, mode=0o2711, uid=1000, gid=1000)
    l.dir("usr/lib")
    l.add("usr/lib/gone", content=data(3000, 3))
    l.add("usr/lib/kept", content=b"kept\n")
    l.dir("usr/lib/gonedir")
    l.add("usr/lib/gonedir/inner", content=data(7000, 4))
    l.dir("opq")
    l.add("opq/a", content=b"a\n")
    l.dir("opq/sub")
    l.add("opq/sub/b", content=data(4000, 5))
    l.dir("dev")
    l.add("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
    l.add("dev/sda", tarfile.BLKTYPE, mode=0o660, gid=6, dev=(8, 0))
    l.add("dev/fifo", tarfile.FIFOTYPE, mode=0o600)
    l.add("xattr-file", content=b"has xattrs\n", xattrs={"user.one": "1", "user.comment": "hello world"})
    l.dir("xattr-dir", xattrs={"user.dir": "d"})
    longdir = "long/" + "d" * 120 + "/" + "e" * 120
    l.dir("long")
    l.dir("long/" + "d" * 120)
    l.dir(longdir)
    l.add(longdir + "/" + "f" * 255, content=data(9000, 6))
    l.dir("replaced-dir")
    l.add("replaced-dir/x", content=b"x\n")
    l.add("replaced-file", content=b"file\n")
    l.dir("owned", uid=1234, gid=5678, mode=0o750)
    return l.bytes()


def layer2():
    l = Layer()
    l.add("usr/lib/.wh.gone")
    l.add("usr/lib/.wh.gonedir")
    l.add("opq/.wh..wh..opq")
    l.add("opq/c", content=b"c\n")
    l.add("etc/passwd", content=b"root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/sh\n" * 2)
    l.add("usr/bin/tool-copy", content=data(200000, 1), mode=0o755)  # same bytes as tool
    l.dir("etc/new", mode=0o700, mtime=MTIME + 100)
    l.add("etc/new/file", content=data(100, 7))
    return l.bytes()


def layer3():
    l = Layer()
    l.add("replaced-dir", content=b"now a file\n")
    l.dir("replaced-file", mode=0o711)
    l.add("replaced-file/inside", content=b"inside\n")
    l.add("big", content=data(3 << 20, 8))
    l.add("big-link", tarfile.LNKTYPE, link="big")
    l.dir("usr", mode=0o755, uid=0, gid=0, mtime=MTIME + 1000)  # newest metadata of /usr wins
    l.add("usr/bin/.wh.sgid")
    return l.bytes()


def hostile(kind):
    l = Layer()
    if kind == "dotdot":
        l.add("a/../../escape", content=b"x")
    elif kind == "absolute":
        l.add("/etc/evil", content=b"x")
    elif kind == "symlink-parent":
        l.add("link", tarfile.SYMTYPE, link="/etc")
        l.add("link/passwd", content=b"x")
    elif kind == "hardlink-out":
        l.add("h", tarfile.LNKTYPE, link="not/in/layer")
    elif kind == "long-header":
        ti = tarfile.TarInfo("big-header")
        ti.pax_headers = {"comment": "x" * (8 << 20)}
        l.tar.addfile(ti, io.BytesIO(b""))
    elif kind == "truncated":
        l.add("file", content=data(100000, 9))
        return l.bytes()[:60000]
    else:
        sys.exit("unknown hostile kind " + kind)
    return l.bytes()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Layout:
    def __init__(self, d):
        self.d = d
        os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(d, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, b):
        with open(os.path.join(self.d, "blobs", "sha256", sha(b)[7:]), "wb") as f:
            f.write(b)
        return sha(b)

    def image(self, layers, arch="amd64"):
        """layers: (tar bytes, compression) -> manifest descriptor"""
        descs, diff_ids = [], []
        for tar, comp in layers:
            diff_ids.append(sha(tar))
            if comp == "gzip":
                blob, mt = gzip.compress(tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
            elif comp == "zstd":
                blob = subprocess.run(["zstd", "-q", "-c", "-3"], input=tar, stdout=subprocess.PIPE, check=True).stdout
                mt = "application/vnd.oci.image.layer.v1.tar+zstd"
            else:
                blob, mt = tar, "application/vnd.oci.image.layer.v1.tar"
            descs.append({"mediaType": mt, "digest": self.blob(blob), "size": len(blob)})
        config = json.dumps({"architecture": arch, "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": self.blob(config), "size": len(config)},
                               "layers": descs}).encode()
        return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": self.blob(manifest),
                "size": len(manifest)}

    def index(self, tagged):
        entries = []
        for tag, desc in tagged:
            e = dict(desc)
            e["annotations"] = {"org.opencontainers.image.ref.name": tag}
            entries.append(e)
        with open(os.path.join(self.d, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries}, f)


def fix_blob_to(lay, tar):
    """Store @tar under the digest the manifest names for a longer tar (digest check then fails
    first); for a pure diff_id mismatch the manifest is rewritten to name @tar's own digest."""
    for name in os.listdir(os.path.join(lay.d, "blobs", "sha256")):
        if name.endswith(".tmp"):
            os.remove(os.path.join(lay.d, "blobs", "sha256", name))
    idx = json.load(open(os.path.join(lay.d, "index.json")))
    mpath = os.path.join(lay.d, "blobs", "sha256", idx["manifests"][0]["digest"][7:])
    m = json.load(open(mpath))
    m["layers"][0]["digest"], m["layers"][0]["size"] = lay.blob(tar), len(tar)
    mb = json.dumps(m).encode()
    idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = lay.blob(mb), len(mb)
    with open(os.path.join(lay.d, "index.json"), "w") as f:
        json.dump(idx, f)


def main():
    if sys.argv[1] == "--layer":
        with open(sys.argv[3], "wb") as f:
            f.write(hostile(sys.argv[2]))
        return
    if sys.argv[1] == "--hostile-image":
        # DIR KIND: a layout whose only layer is a hostile tar, tagged latest
        lay = Layout(sys.argv[2])
        lay.index([("latest", lay.image([(hostile(sys.argv[3]), "gzip")]))])
        return
    if sys.argv[1] in ("--bad-diff-id", "--bad-manifest", "--bad-size"):
        lay = Layout(sys.argv[2])
        tar = layer1()
        if sys.argv[1] == "--bad-diff-id":
            lay.index([("latest", lay.image([(tar + b"\0" * 512, "none")]))])
            # the config now names a tar one block longer than the blob is
            blob = os.path.join(lay.d, "blobs", "sha256", sha(tar + b"\0" * 512)[7:])
            os.rename(blob, blob + ".tmp")
            with open(blob + ".tmp", "rb") as f:
                pass
            return fix_blob_to(lay, tar)
        if sys.argv[1] == "--bad-size":
            desc = lay.image([(tar, "gzip")])
            m = json.load(open(os.path.join(lay.d, "blobs", "sha256", desc["digest"][7:])))
            m["layers"][0]["size"] += 1
            mb = json.dumps(m).encode()
            lay.index([("latest", {"mediaType": desc["mediaType"], "digest": lay.blob(mb), "size": len(mb)})])
            return
        bad = b'{"schemaVersion": 2, "config": [}'
        lay.index([("latest", {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": lay.blob(bad), "size": len(bad)})])
        return
    lay = Layout(sys.argv[1])
    l1, l2, l3 = layer1(), layer2(), layer3()
    full = lay.image([(l1, "gzip"), (l2, "zstd"), (l3, "none")])
    base = lay.image([(l1, "gzip")])
    arm = lay.image([(l1, "gzip"), (l2, "zstd")], arch="arm64")
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [dict(full, platform={"os": "linux", "architecture": "amd64"}),
                                    dict(arm, platform={"os": "linux", "architecture": "arm64"})]}).encode()
    multi = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": lay.blob(idx), "size": len(idx)}
    lay.index([("latest", full), ("base", base), ("multi", multi)])


main()
