#!/usr/bin/env bash
# run-github-example.sh: run one job of docs/github-actions-matrix.yml the way a stock
# ubuntu-latest runner would, without a runner: in a fresh clone of this repository's HEAD,
# with the GITHUB_* variables, a step summary file, a fresh HOME, and the workflow's `run:`
# steps executed in order under bash -eo pipefail, as GitHub runs them. It stops at the first
# failing step and prints each step's name and exit status. Not part of make test: it builds
# llconform, fetches kernels and boots them.
#
#   tools/ci-examples/run-github-example.sh [--job shard] [--matrix shard=1] [--event push]
#       [--cpus N] [--dir DIR] [--workflow FILE]
#
# What is simulated, and how:
# - actions/checkout is the fresh clone itself (HEAD of this repository; commit first).
# - actions/cache restores from and saves to DIR/cache/<key> by copying (saved at the end of
#   a job that succeeded, on a miss, as the action's post step does); the first run is a miss.
# - actions/upload-artifact and actions/download-artifact copy to and from
#   DIR/artifacts/<name>, so running the shard job then the gate job hands the shards over.
# - Every other action (actions/setup-go) is reported as skipped: the host's go is on PATH,
#   and its module and build caches stand for setup-go's.
# - vars.NAME is the environment variable NAME of the caller: the repository variables the
#   example asks for are LLCONFORM_DEBIAN_MIRROR and LLCONFORM_DEBIAN_SECURITY_MIRROR. Their
#   values are never printed. Nothing else of the caller's environment reaches the steps.
# - The host's apt sources are hidden (LLCONFORM_APT_SOURCES is an empty directory): like
#   Ubuntu's, they list no Debian archive, so kernels come from the mirror, fetched in Go.
# - `sudo` is a stand-in: `sudo tee FILE` writes under DIR/sysroot, `sudo udevadm` does
#   nothing (there is no udev here, and no KVM to open up either), `sudo apt-get` runs
#   apt-get; anything else fails the step rather than change this machine.
# - `gh` is a stand-in too: the artifacts of earlier simulated jobs are the repository's
#   runs (`gh run list`, `gh run download`), and `gh pr comment` keeps the comment in a file.
#   So: --job shard, then --job gate --event push (keeps the baseline), then --job gate
#   --event pull_request (compares with it and "posts" the summary).
# - --cpus N runs the job on N CPUs (taskset), so the matrix boots N VMs at once.
# - Expressions (${{ }} and if:) support what the example uses: contexts (github, env, vars,
#   matrix, steps, runner), string and number literals, == != && || !, parentheses, and
#   success(), failure(), always(), cancelled(), hashFiles(), contains(), startsWith().
set -euo pipefail

job=shard matrix=shard=1 event=push cpus="" dir=/tmp/llconform-gh-sim
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
workflow=docs/github-actions-matrix.yml
while [ $# -gt 0 ]; do
	case $1 in
	--job) job=$2; shift 2 ;;
	--matrix) matrix=$2; shift 2 ;;
	--event) event=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--workflow) workflow=$2; shift 2 ;;
	*) echo "usage: $0 [--job NAME] [--matrix KEY=VALUE,...] [--event push|pull_request|workflow_dispatch] [--cpus N] [--dir DIR] [--workflow FILE]" >&2; exit 64 ;;
	esac
done
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
	echo "note: $repo has uncommitted changes; the clone has HEAD only" >&2
fi
mkdir -p "$dir"
sim=$(mktemp -d "$dir/run-XXXXXX")
ws=$sim/work/llconform
branch=$(git -C "$repo" rev-parse --abbrev-ref HEAD)
commit=$(git -C "$repo" rev-parse HEAD)
git clone --quiet --no-local --no-checkout "$repo" "$ws"
git -C "$ws" checkout --quiet -B "$branch" "$commit"

# The stand-in sudo (see above).
mkdir -p "$sim/bin" "$sim/sysroot" "$sim/home" "$sim/empty-apt" "$sim/tmp"
cat >"$sim/bin/sudo" <<EOF
#!/usr/bin/env bash
case \$1 in
tee) shift; args=(); for a in "\$@"; do case \$a in /*) mkdir -p "$sim/sysroot\$(dirname "\$a")"; args+=("$sim/sysroot\$a") ;; *) args+=("\$a") ;; esac; done
	echo "(simulated sudo: tee into $sim/sysroot)" >&2; exec tee "\${args[@]}" ;;
udevadm) echo "(simulated sudo: udevadm \${*:2}: skipped, no udev here)" >&2 ;;
apt-get) shift; exec apt-get "\$@" ;;
*) echo "simulated sudo: refusing to run \$* on this machine" >&2; exit 1 ;;
esac
EOF
chmod +x "$sim/bin/sudo"

# The stand-in GitHub CLI: the simulation's artifacts are the repository's runs. `gh run list`
# finds the default branch's last result when one was uploaded, `gh run download` copies it,
# `gh pr comment` keeps the comment in DIR/run-*/pr-comment.md.
cat >"$sim/bin/gh" <<EOF
#!/usr/bin/env bash
case "\$1 \$2" in
"run list") [ -d "$dir/artifacts/landlock-result" ] && echo 1; exit 0 ;;
"run download") name="" to=.; shift 2; while [ \$# -gt 0 ]; do case \$1 in --name) name=\$2; shift ;; --dir) to=\$2; shift ;; esac; shift; done
	[ -d "$dir/artifacts/\$name" ] || { echo "simulated gh: no artifact \$name" >&2; exit 1; }
	mkdir -p "\$to" && cp -a "$dir/artifacts/\$name/." "\$to/" ;;
"pr comment") while [ \$# -gt 0 ]; do case \$1 in --body-file) cp "\$2" "$sim/pr-comment.md" ;; esac; shift; done
	echo "(simulated gh: pr comment kept in $sim/pr-comment.md)" >&2 ;;
*) echo "simulated gh: \$1 \$2 not simulated" >&2; exit 1 ;;
esac
EOF
chmod +x "$sim/bin/gh"

echo "simulated runner in $sim: $workflow, job $job, matrix $matrix, event $event, $branch at ${commit:0:12}${cpus:+, $cpus CPU(s)}"
run=(python3 "$repo/tools/ci-examples/github_runner.py")
if [ -n "$cpus" ]; then
	run=(taskset -c "0-$((cpus - 1))" "${run[@]}")
fi
SIM=$sim WS=$ws CACHES=$dir/cache ARTIFACTS=$dir/artifacts WORKFLOW=$ws/$workflow JOB=$job MATRIX=$matrix \
	EVENT=$event BRANCH=$branch COMMIT=$commit GOMODCACHE_HOST=$(go env GOMODCACHE) GOCACHE_HOST=$(go env GOCACHE) \
	exec "${run[@]}"
