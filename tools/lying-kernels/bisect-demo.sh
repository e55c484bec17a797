#!/usr/bin/env bash
# Bisects a Landlock regression in a real kernel tree with `git bisect run` and llconform's
# --bisect exit statuses (0 good, 1 bad, 125 skip). Needs the tree build.sh made (run it
# first) and llconform built (make build). Not part of `make test`: it copies the tree
# (about 3 GB) and builds and boots a few kernels, about 20 minutes on 2 cores.
#
#   tools/lying-kernels/bisect-demo.sh
#
# The copy becomes a git repository whose history is a series of security/landlock changes:
#
#   good    Debian's linux-source-7.3, unmodified
#   1, 2    harmless (comments)
#   3       a kernel that panics at boot (llconform: infrastructure error, so 125: skipped)
#   4       the panic fixed
#   5       the regression: RESTRICT_SELF_NO_NEW_PRIVS accepted, no_new_privs never set
#   6       harmless (HEAD)
#
# git bisect must name commit 5 without ever judging commit 3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/llconform/lying}
DEMO=${DEMO:-$WORK/bisect}
LLCONFORM=${LLCONFORM:-$(cd "$here/../.." && pwd)/bin/llconform}
JOBS=${JOBS:-$(nproc)}
SRC=$WORK/linux-source-7.3

[ -d "$SRC/security/landlock" ] && [ -f "$SRC/.config" ] || { echo "no kernel tree in $SRC: run $here/build.sh first" >&2; exit 1; }
[ -x "$LLCONFORM" ] || { echo "no llconform at $LLCONFORM: run make build" >&2; exit 1; }

echo "copying $SRC to $DEMO/linux (sources and objects, so that each build is incremental)"
rm -rf "$DEMO"
mkdir -p "$DEMO"
cp -a "$SRC" "$DEMO/linux"
rm -rf "$DEMO/linux/.git"
cd "$DEMO/linux"
cp "$WORK"/landlock.orig/*.[ch] security/landlock/

git init -q
git config user.name "bisect demo"
git config user.email "bisect-demo@localhost"
# Only the sources of security/landlock are tracked: the rest of the tree stays as it is,
# untracked. -f: Debian's packaging adds "/*" to the top-level .gitignore.
git add -f security/landlock/*.[ch] security/landlock/Makefile security/landlock/Kconfig
git commit -q -m "landlock: Debian's linux-source-7.3"
edit() { # file sed message
	sed -i "$2" "security/landlock/$1"
	git diff --quiet && { echo "sed changed nothing in $1" >&2; exit 1; }
	git commit -q -a -m "$3"
}
git tag good
edit setup.c '1s|^|/* Landlock LSM: setup. */\n|' "landlock: describe setup.c"
edit net.c '1s|^|/* Landlock LSM: network hooks. */\n|' "landlock: describe net.c"
edit setup.c '/^static int __init landlock_init(void)/{n;s|^{|{\n\tpanic("landlock: init rework in progress");|}' "landlock: start reworking init (panics at boot)"
edit setup.c '/panic("landlock: init rework in progress");/d' "landlock: finish reworking init"
# The nnp-ignored variant of build.sh.
edit syscalls.c '/Sets no_new_privs past the last point/{n;n;s/task_set_no_new_privs(current);/(void)current;/}' \
	"landlock: skip no_new_privs when it is already implied"
edit syscalls.c '1s|^|/* Landlock LSM: system calls. */\n|' "landlock: describe syscalls.c"
git log --oneline

# Each step: build (a build failure cannot be judged: 125), then boot and gate with --bisect.
cat >"$DEMO/step.sh" <<EOF
#!/bin/sh
commit=\$(git log -1 --format='%h %s')
make -s -j$JOBS bzImage >"$DEMO/build.log" 2>&1 || { echo "== \$commit: build failed: 125"; exit 125; }
"$LLCONFORM" matrix --bisect --kernel file:arch/x86/boot/bzImage --out "$DEMO/out" >"$DEMO/matrix.log" 2>&1
code=\$?
echo "== \$commit: llconform matrix --bisect exit \$code"
grep -E '^\\[.*\\] bzImage +(done|failed) ' "$DEMO/matrix.log" | tail -1 | sed 's/^/   /'
grep -E '^(KERNEL|bzImage) ' "$DEMO/matrix.log" | sed 's/^/   /'
exit \$code
EOF
chmod +x "$DEMO/step.sh"

git bisect start HEAD good
git bisect run "$DEMO/step.sh"
git bisect log | tee "$DEMO/bisect.log"
git bisect reset >/dev/null 2>&1
echo "first bad commit: $(sed -n 's/^# first bad commit: //p' "$DEMO/bisect.log")"
