#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Benchmark OCI pulls from Debian's docker-registry on loopback: `composefs oci pull` against
# `podman pull` (its default storage driver, in a private --root) and against `skopeo copy` +
# `umoci unpack` + `mkcomposefs --digest-store`. Wall time and disk used, for a first image
# and for a second image sharing its base layers. Goal: <= 0.5x podman's time, less disk; the
# second image costs only its new layer. Not a test: prints and records numbers.
#
# Usage: bench/oci.sh [DIR...]    one image layer per DIR (default: /usr/lib/x86_64-linux-gnu
#                                 /usr/share /usr/bin); the second image adds /etc on top
# Environment:
#   COMPOSEFS=PATH   our composefs (default build/tools/composefs/composefs)
#   MKCOMPOSEFS=PATH our mkcomposefs (default build/tools/mkcomposefs/mkcomposefs)
#   ROUNDS=N         timed runs of each variant, interleaved; medians (default 3)
#   BENCH_TMP=DIR    work directory parent (default /var/tmp)
#   RESULTS=FILE     results appended here (default bench/RESULTS.md next to this script)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
cfs=${COMPOSEFS:-$here/../build/tools/composefs/composefs}
mkcfs=${MKCOMPOSEFS:-$here/../build/tools/mkcomposefs/mkcomposefs}
hasall=${HAS_ALL:-$here/../build/bench/cfs-bench-has-all}
rounds=${ROUNDS:-3}
results=${RESULTS:-$here/RESULTS.md}
[ $# -gt 0 ] || set -- /usr/lib/x86_64-linux-gnu /usr/share /usr/bin
registry=$(command -v docker-registry || echo /usr/bin/docker-registry)

for t in "$cfs" "$mkcfs" "$hasall" "$registry"; do [ -x "$t" ] || { echo "missing $t"; exit 2; }; done
for t in podman skopeo umoci python3; do
	command -v $t >/dev/null || { echo "needs $t (packages podman skopeo umoci)"; exit 2; }
done

work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/cfs-bench-oci.XXXXXX")
reg_pid=
stop() {
	if [ -n "$reg_pid" ]; then
		kill "$reg_pid" 2>/dev/null || true
		wait "$reg_pid" 2>/dev/null || true
	fi
	# podman's overlay storage holds mounts under its root
	podman --root "$work/podman" --runroot "$work/podrun" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
	umount -R "$work/podman" 2>/dev/null || true
	rm -rf "$work"
}
trap stop EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the images: one layer per DIR (GNU tar, gzip -1), "second" adds /etc ---------------------
# (not umoci insert: Debian 12's umoci 0.4.7 writes layers whose gzip stream ends early)
L=$work/layout
python3 - "$L" "$@" <<'PYEOF'
import hashlib, json, os, subprocess, sys
L, dirs = sys.argv[1], sys.argv[2:]
os.makedirs(L + "/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{L}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
def layer(path):
    tar = subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", "/", "-cf", "-",
                          path.lstrip("/")], check=True, stdout=subprocess.PIPE).stdout
    gz = subprocess.run(["gzip", "-1", "-n"], input=tar, check=True, stdout=subprocess.PIPE).stdout
    d, n = blob(gz)
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}, \
        "sha256:" + hashlib.sha256(tar).hexdigest()
layers = [layer(d) for d in dirs]
etc = layer("/etc")
index = {"schemaVersion": 2, "manifests": []}
for tag, ls in (("first", layers), ("second", layers + [etc])):
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [x[1] for x in ls]}}
    cd, cn = blob(json.dumps(config).encode())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
           "layers": [x[0] for x in ls]}
    md, mn = blob(json.dumps(man).encode())
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                               "size": mn, "annotations": {"org.opencontainers.image.ref.name": tag}})
with open(L + "/index.json", "w") as f:
    json.dump(index, f)
with open(L + "/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
PYEOF
layers_bytes=$(du -sb "$L/blobs" | cut -f1)

# ---- the registry ---------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $work/registry }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
EOF
"$registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
for tag in first second; do
	skopeo copy -q --dest-tls-verify=false "oci:$L:$tag" "docker://127.0.0.1:$port/bench/usr:$tag"
done
ref=127.0.0.1:$port/bench/usr

now() { date +%s.%N; }
du_b() { du -sb "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# allocated: what the blocks take (a file of 100 bytes takes 4 KiB on most filesystems)
du_a() { du -sk "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s * 1024 }'; }
# the objects holding a repository's images and split streams (the rest of objects/ is file content)
linked_b() { find "$@" -maxdepth 1 -type l 2>/dev/null | xargs -r stat -L -c %s | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
declare -A T D

# composefs oci pull: first image into an empty repository, then the second
run_cfs() {
	local R=$work/cfs-repo t0 t1 t2 t2b t3
	rm -rf "$R"; sync
	t0=$(now)
	"$cfs" --repo "$R" init >/dev/null
	"$cfs" --repo "$R" oci pull --tls-verify=false "docker://$ref:first" first >/dev/null 2>"$work/cfs.log" ||
		{ cat "$work/cfs.log"; exit 1; }
	sync; t1=$(now)
	D[cfs1]=$(du_b "$R")
	"$cfs" --repo "$R" oci pull --tls-verify=false "docker://$ref:second" second >/dev/null 2>"$work/cfs.log" ||
		{ cat "$work/cfs.log"; exit 1; }
	sync; t2=$(now)
	D[cfs2]=$(du_b "$R")
	D[cfs2a]=$(du_a "$R")
	D[cfs_images]=$(linked_b "$R/images")
	D[cfs_streams]=$(linked_b "$R/streams")
	D[cfs_objects]=$(find "$R/objects" -type f ! -name '.*' | wc -l)
	# the first image again: every layer reused, each checked for its objects, no blob read
	t2b=$(now)
	"$cfs" --repo "$R" oci pull --tls-verify=false "docker://$ref:first" again >/dev/null 2>"$work/cfs.log" ||
		{ cat "$work/cfs.log"; exit 1; }
	t3=$(now)
	D[cfs_check]=$("$hasall" "$R/objects" 5)
	T[cfs1]+=" $(echo "$t1 - $t0" | bc)"; T[cfs2]+=" $(echo "$t2 - $t1" | bc)"; T[cfs3]+=" $(echo "$t3 - $t2b" | bc)"
	rm -rf "$R"
}
# podman pull, default storage driver (overlay), private root
run_podman() {
	local P=(podman --root "$work/podman" --runroot "$work/podrun") t0 t1 t2
	"${P[@]}" system reset -f >/dev/null 2>&1 || true
	rm -rf "$work/podman" "$work/podrun"; sync
	t0=$(now)
	"${P[@]}" pull -q --tls-verify=false "$ref:first" >/dev/null
	sync; t1=$(now)
	D[podman1]=$(du_b "$work/podman")
	"${P[@]}" pull -q --tls-verify=false "$ref:second" >/dev/null
	sync; t2=$(now)
	D[podman2]=$(du_b "$work/podman")
	D[podman2a]=$(du_a "$work/podman")
	D[podman_tarsplit]=$(du_b "$work/podman"/*-layers/*.tar-split.gz)
	D[podman_files]=$(find "$work/podman"/*/*/diff -type f 2>/dev/null | wc -l)
	T[podman1]+=" $(echo "$t1 - $t0" | bc)"; T[podman2]+=" $(echo "$t2 - $t1" | bc)"
	D[podman_driver]=$("${P[@]}" info --format '{{.Store.GraphDriverName}}')
	"${P[@]}" system reset -f >/dev/null 2>&1 || true
}
# skopeo copy + umoci unpack + mkcomposefs --digest-store (the unpacked tree is deleted after)
run_unpack() {
	local S=$work/u-store t0 t1 t2 tag
	rm -rf "$S" "$work/u-layout" "$work/u-bundle" "$work"/u-*.cfs; sync
	t0=$(now)
	for tag in first second; do
		skopeo copy -q --src-tls-verify=false "docker://$ref:$tag" "oci:$work/u-layout:$tag"
		umoci unpack --image "$work/u-layout:$tag" "$work/u-bundle" >/dev/null
		"$mkcfs" --digest-store="$S" "$work/u-bundle/rootfs" "$work/u-$tag.cfs"
		rm -rf "$work/u-bundle"
		sync
		if [ $tag = first ]; then t1=$(now); D[unpack1]=$(du_b "$S" "$work/u-layout" "$work"/u-*.cfs); fi
	done
	t2=$(now)
	D[unpack2]=$(du_b "$S" "$work/u-layout" "$work"/u-*.cfs)
	T[unpack1]+=" $(echo "$t1 - $t0" | bc)"; T[unpack2]+=" $(echo "$t2 - $t1" | bc)"
	rm -rf "$S" "$work/u-layout" "$work"/u-*.cfs
}
for r in $(seq "$rounds"); do
	run_cfs; run_podman; run_unpack
	echo "round $r done"
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A M
for k in cfs1 cfs2 cfs3 podman1 podman2 unpack1 unpack2; do M[$k]=$(printf '%.2f' "$(echo "${T[$k]}" | median)"); done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
mib() { echo "scale=1; $1 / 1048576" | bc; }
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }

out=$(mktemp)
{
	echo
	echo "## OCI pull from a loopback registry (bench/oci.sh), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Command: \`ROUNDS=$rounds bench/oci.sh $*\`  "
	echo "Load average at start: $load_start; at end: $load_end  "
	echo "Image: one gzip layer per directory ($(mib "$layers_bytes") MiB of blobs for both tags), the second image adds /etc.  "
	echo "podman $(podman --version | awk '{ print $3 }'), storage driver ${D[podman_driver]}; skopeo $(skopeo --version | awk '{ print $3 }'); umoci $(umoci --version | awk '{ print $3 }'); $(nproc) CPUs"
	echo
	echo "| variant | first image: median wall (s) | disk (MiB) | second image: wall (s) | disk after both (MiB) |"
	echo "|---|---|---|---|---|"
	echo "| composefs oci pull | ${M[cfs1]} | $(mib "${D[cfs1]}") | ${M[cfs2]} | $(mib "${D[cfs2]}") |"
	echo "| podman pull | ${M[podman1]} | $(mib "${D[podman1]}") | ${M[podman2]} | $(mib "${D[podman2]}") |"
	echo "| skopeo + umoci unpack + mkcomposefs --digest-store | ${M[unpack1]} | $(mib "${D[unpack1]}") | ${M[unpack2]} | $(mib "${D[unpack2]}") |"
	echo
	echo "- time ours / podman: first $(ratio "${M[cfs1]}" "${M[podman1]}"), second $(ratio "${M[cfs2]}" "${M[podman2]}") (goal <= 0.5); disk ours / podman: $(ratio "${D[cfs2]}" "${D[podman2]}") (goal < 1)"
	echo "- disk allocated (du without -b) after both: ours $(mib "${D[cfs2a]}") MiB, podman $(mib "${D[podman2a]}") MiB: $(ratio "${D[cfs2a]}" "${D[podman2a]}")"
	echo "- ours after both: ${D[cfs_objects]} objects; of them images $(mib "${D[cfs_images]}") MiB, split streams $(mib "${D[cfs_streams]}") MiB; podman: ${D[podman_files]} files in its layers' diff/, tar-split $(mib "${D[podman_tarsplit]}") MiB"
	echo "- time ours / skopeo+umoci+mkcomposefs: first $(ratio "${M[cfs1]}" "${M[unpack1]}"), second $(ratio "${M[cfs2]}" "${M[unpack2]}")"
	echo "- second image, ours: $(mib $((D[cfs2] - D[cfs1]))) MiB added (its new layer is /etc: $(mib "$(du -sb /etc | cut -f1)") MiB unpacked)"
	echo "- the first image pulled again (every layer reused after checking its objects are present, no blob read): ${M[cfs3]} s; the presence check alone over all objects of the repository (cfs-bench-has-all, last round):"
	echo "$(echo "${D[cfs_check]}" | sed 's/^/    /')"
} >"$out"
cat "$out"
cat "$out" >>"$results"
rm -f "$out"
