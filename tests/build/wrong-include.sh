#!/bin/bash
# A wrong include fails the build: compiles small probe files with the exact
# command the build uses for a file of each layer (from compile_commands.json)
# and expects an include the layer table (DESIGN.md section 2) forbids to stop
# at "No such file or directory", and an allowed one to compile, so the check
# can't pass because every probe fails.
# Usage: tests/build/wrong-include.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: configure with CMake first" >&2; exit 2; }
exec python3 - "$build" <<'PY'
import json, os, shlex, subprocess, sys, tempfile

build = os.path.abspath(sys.argv[1])
commands = json.load(open(os.path.join(build, "compile_commands.json")))

def entry(suffix):
    hits = [e for e in commands if e["file"].endswith("/" + suffix) and "/tests/" not in e["file"]]
    if len(hits) != 1:
        sys.exit("wrong-include: no single compile command for %s in compile_commands.json" % suffix)
    return hits[0]

# (layer's file whose command is used, allowed includes, the forbidden one or None)
CASES = [
    ("merge/treemerge.c", ["core/base/internal.h", "core/base/buf.h", "merge/treemerge.h"], None),
    ("merge/treemerge.c", ["core/base/internal.h"], "core/folder/folder.h"),
    ("merge/treemerge.c", ["core/base/internal.h"], "transport/blobstore.h"),
    ("merge/treemerge.c", ["core/base/internal.h"], "dsync/folder.h"),
    ("transport/file.c", ["core/base/internal.h", "core/base/path.h", "transport/blobstore.h"], None),
    ("transport/file.c", ["core/base/internal.h"], "core/history/scan.h"),
    ("transport/file.c", ["core/base/internal.h"], "merge/treemerge.h"),
    ("cmd/main.c", ["dsync/common.h", "dsync/folder.h", "dsync/sync.h", "cmd/output.h"], None),
    ("cmd/main.c", ["dsync/common.h"], "core/base/internal.h"),
    ("cmd/main.c", ["dsync/common.h"], "core/folder/folder.h"),
    ("cmd/main.c", ["dsync/common.h"], "merge/treemerge.h"),
    ("core/base/buf.c", ["core/base/internal.h", "core/base/buf.h"], None),
    ("core/base/buf.c", ["core/base/internal.h"], "core/folder/folder.h"),
    ("core/store/thinpack.c", ["core/base/internal.h", "core/store/thinpack.h"], None),
    ("core/store/thinpack.c", ["core/base/internal.h"], "core/history/scan.h"),
    ("core/history/scan.c", ["core/base/internal.h", "core/history/scan.h"], None),
    ("core/history/scan.c", ["core/base/internal.h"], "dsync/watch.h"),
    ("core/mirror/names.c", ["core/base/internal.h", "core/mirror/mirror_internal.h", "core/worktree/mergeinto.h",
                             "transport/sftp_folder.h", "merge/check.h"], None),
    ("core/mirror/names.c", ["core/base/internal.h"], "core/sync/sync_internal.h"),
    ("core/mirror/names.c", ["core/base/internal.h"], "core/store/store.h"),
    ("core/mirror/names.c", ["core/base/internal.h"], "dsync/sync.h"),
]

def probe_command(e, probe):
    args = e.get("arguments") or shlex.split(e["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c"):
            skip = True
            continue
        if os.path.abspath(os.path.join(e["directory"], a)) == os.path.abspath(e["file"]):
            continue
        out.append(a)
    return out + ["-fsyntax-only", "-c", probe]

failures = 0
with tempfile.TemporaryDirectory() as tmp:
    for n, (file, ok_includes, wrong) in enumerate(CASES):
        e = entry(file)
        layer = os.path.dirname(file)
        # the probe lives in an empty folder named like the layer's, so only
        # the layer's include path can find a header
        d = os.path.join(tmp, str(n), layer)
        os.makedirs(d)
        probe = os.path.join(d, "probe.c")
        with open(probe, "w") as f:
            for h in ok_includes + ([wrong] if wrong else []):
                f.write('#include "%s"\n' % h)
        r = subprocess.run(probe_command(e, probe), cwd=e["directory"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if wrong is None:
            ok = r.returncode == 0
            what = "%s/ may include %s" % (layer, ", ".join(ok_includes))
        else:
            ok = r.returncode != 0 and ("%s: No such file or directory" % wrong) in r.stdout
            what = "%s/ including %s fails to compile" % (layer, wrong)
        print("%s - %s" % ("ok" if ok else "not ok", what))
        if not ok:
            failures += 1
            for line in r.stdout.splitlines()[:10]:
                print("#   " + line)
print("wrong-include: %d of %d checks failed" % (failures, len(CASES)) if failures
      else "wrong-include: all %d checks passed" % len(CASES))
sys.exit(1 if failures else 0)
PY
