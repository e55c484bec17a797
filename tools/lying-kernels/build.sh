#!/usr/bin/env bash
# Builds small Linux 7.3 kernels whose Landlock lies, one one-line change each, to prove
# that llconform's verdicts fail when a kernel misbehaves. Not part of `make test`: the
# first build takes about 10 minutes on 2 cores, each variant about 20 seconds more.
#
#   tools/lying-kernels/build.sh [VARIANT...]     (default: every variant)
#
# Writes $OUT/<variant>.bzImage and $OUT/kernels.yaml (default OUT: ~/.cache/llconform/lying).
# The source is Debian's linux-source-7.3 from trixie-backports, fetched with a private apt
# configuration whose mirror is read from the machine's own apt sources.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/llconform/lying}
OUT=${OUT:-$WORK}
SRC=$WORK/linux-source-7.3
JOBS=${JOBS:-$(nproc)}

# name | file under security/landlock | sed script (no "|" in it) | what the lie is
variants() {
	cat <<'V'
honest|||the unmodified build: must pass
errata-shifted|syscalls.c|s/return landlock_errata;/return landlock_errata << 1;/|erratum N reported in bit N: bitmask 30 instead of 15
errata-drop2|syscalls.c|s/return landlock_errata;/return landlock_errata \& ~BIT(1);/|erratum 2 fixed but not advertised
errata-unknown|syscalls.c|s/return landlock_errata;/return landlock_errata + BIT(4);/|advertises an erratum 5 that does not exist
abi-12|syscalls.c|s/landlock_abi_version = 11;/landlock_abi_version = 12;/|claims an ABI newer than any llconform knows
nnp-ignored|syscalls.c|/Sets no_new_privs past the last point/{n;n;s/task_set_no_new_privs(current);/(void)current;/}|accepts RESTRICT_SELF_NO_NEW_PRIVS (ABI 11) but never sets no_new_privs
connect-tcp-unenforced|net.c|/^static int hook_socket_connect/,/^}/{/if (sk_is_tcp(sock->sk))/{n;s/LANDLOCK_ACCESS_NET_CONNECT_TCP/0/}}|accepts NET_CONNECT_TCP (ABI 4) but never denies a connect
erratum4-reverted|fs.c|/if (dev == WHITEOUT_DEV)/{n;s/LANDLOCK_ACCESS_FS_MAKE_REG/LANDLOCK_ACCESS_FS_MAKE_CHAR/}|advertises erratum 4 but whiteouts need MAKE_CHAR again
V
}

need() { command -v "$1" >/dev/null 2>&1; }

deps() {
	local missing=()
	for p in gcc:build-essential make:build-essential flex:flex bison:bison bc:bc xz:xz-utils; do
		need "${p%%:*}" || missing+=("${p#*:}")
	done
	[ -e /usr/include/libelf.h ] || missing+=(libelf-dev)
	[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing ${missing[*]}"
		apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# fetch downloads and unpacks linux-source-7.3 once, keeping a pristine copy of
# security/landlock so that each variant starts from the original.
fetch() {
	[ -d "$SRC/security/landlock" ] && return
	local apt=$WORK/apt uri
	uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] || { echo "no Debian mirror in the machine's apt sources" >&2; exit 1; }
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	: >"$apt/status"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie-backports main" >"$apt/sources.list"
	local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt/lists"
		-o "Dir::State::status=$apt/status" -o "Dir::Cache=$apt/cache" -o Acquire::Languages=none -qq)
	[ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
	echo "fetching linux-source-7.3"
	apt-get "${opts[@]}" update
	(cd "$apt" && apt-get "${opts[@]}" download linux-source-7.3)
	dpkg-deb --fsys-tarfile "$apt"/linux-source-7.3_*.deb | tar -xO --wildcards '*/linux-source-7.3.tar.xz' | tar -xJ -C "$WORK"
	cp -a "$SRC/security/landlock" "$WORK/landlock.orig"
}

configure() {
	[ -f "$SRC/.config" ] && return
	echo "configuring: x86_64_defconfig, kvm_guest.config, the Landlock selftests' config, $here/config"
	make -C "$SRC" -s x86_64_defconfig kvm_guest.config
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$SRC" "$SRC/.config" \
		"$SRC/tools/testing/selftests/landlock/config" "$here/config" >/dev/null
	make -C "$SRC" -s olddefconfig
	local opt line
	while read -r opt; do
		case "$opt" in
		CONFIG_*=n) line="# ${opt%=n} is not set" ;;
		CONFIG_*=*) line=$opt ;;
		*) continue ;;
		esac
		grep -qxF "$line" "$SRC/.config" || echo "warning: $opt did not stick"
	done <"$here/config"
}

# restore puts back every file of security/landlock that a variant changed. The restored
# file gets a new mtime, so that make rebuilds its object; the objects of the others stay.
restore() {
	local f
	for f in "$WORK"/landlock.orig/*.c "$WORK"/landlock.orig/*.h; do
		cmp -s "$f" "$SRC/security/landlock/${f##*/}" || cp "$f" "$SRC/security/landlock/${f##*/}"
	done
}

build() { # name file sed
	restore
	if [ -n "$2" ]; then
		local f=$SRC/security/landlock/$2
		sed -i "$3" "$f"
		if cmp -s "$f" "$WORK/landlock.orig/$2"; then
			echo "$1: the sed script changed nothing in $2" >&2
			exit 1
		fi
		# diff exits 1 when the files differ, which is the point here.
		{ diff -u "$WORK/landlock.orig/$2" "$f" || true; } | sed -n '/^[-+][^-+]/p' | sed "s/^/  $1: /"
	fi
	local start=$SECONDS
	make -C "$SRC" -s -j"$JOBS" bzImage
	cp "$SRC/arch/x86/boot/bzImage" "$OUT/$1.bzImage"
	echo "$1: built in $((SECONDS - start))s -> $OUT/$1.bzImage"
}

main() {
	mkdir -p "$WORK" "$OUT"
	deps
	fetch
	configure
	local want=" $* " name file script what yaml="kernels:"
	while IFS='|' read -r name file script what; do
		if [ $# -eq 0 ] || [[ $want == *" $name "* ]]; then
			echo "== $name: $what"
			build "$name" "$file" "$script"
		fi
		# The list names every variant built so far, by this call or an earlier one.
		[ -f "$OUT/$name.bzImage" ] || continue
		yaml+=$'\n'"  - name: lying-$name  # $what"$'\n'"    local: {bzimage: $OUT/$name.bzImage}"
	done < <(variants)
	# Landlock built in but not enabled at boot: the honest kernel without it in lsm=.
	if [ -f "$OUT/honest.bzImage" ]; then
		yaml+=$'\n'"  - name: lying-disabled  # Landlock not enabled at boot"$'\n'"    local: {bzimage: $OUT/honest.bzImage}"$'\n'"    cmdline: lsm=yama"
	fi
	echo "$yaml" >"$OUT/kernels.yaml"
	restore
	echo "kernels list: $OUT/kernels.yaml"
}

main "$@"
