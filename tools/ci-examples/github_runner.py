"""The step runner of run-github-example.sh: runs one job of a GitHub Actions workflow in a
prepared clone, as a runner would (see the shell script for what is simulated and how).
Its settings come from the environment the script sets."""

import fnmatch
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

import yaml

SIM, WS = os.environ["SIM"], os.environ["WS"]
CACHES, ARTIFACTS = os.environ["CACHES"], os.environ["ARTIFACTS"]
JOB, EVENT, BRANCH, COMMIT = os.environ["JOB"], os.environ["EVENT"], os.environ["BRANCH"], os.environ["COMMIT"]
# The repository variables the steps may read (vars.NAME): the caller's variables of those
# names. Nothing else of the caller's environment reaches the steps.
VARS = {k: os.environ.get(k, "") for k in ("LLCONFORM_DEBIAN_MIRROR", "LLCONFORM_DEBIAN_SECURITY_MIRROR", "LLCONFORM_DEBIAN_KEYRING")}


def load_workflow(path):
    with open(path) as f:
        wf = yaml.load(f, Loader=yaml.BaseLoader)  # every scalar a string, as GitHub reads them
    return wf


def matrix_values(spec):
    out = {}
    for kv in filter(None, spec.split(",")):
        k, _, v = kv.partition("=")
        out[k] = v
    return out


class Expr:
    """GitHub's expression language, the part the example uses."""

    TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<id>[A-Za-z_][\w.\-*]*))")

    def __init__(self, ctx, status):
        self.ctx, self.status = ctx, status

    def lookup(self, path):
        v = self.ctx
        for part in path.split("."):
            if isinstance(v, dict) and part in v:
                v = v[part]
            else:
                return ""
        return v

    def functions(self):
        return {
            "success": lambda: self.status["failed"] is None,
            "failure": lambda: self.status["failed"] is not None,
            "always": lambda: True,
            "cancelled": lambda: False,
            "hashFiles": lambda *pats: hash_files(pats),
            "contains": lambda a, b: str(b).lower() in (a if isinstance(a, list) else str(a).lower()),
            "startsWith": lambda a, b: str(a).lower().startswith(str(b).lower()),
        }

    def eval(self, src):
        py, pos = [], 0
        src = src.strip()
        while pos < len(src):
            m = self.TOKEN.match(src, pos)
            if not m or m.end() == pos:
                raise ValueError(f"expression {src!r}: cannot read {src[pos:]!r}")
            pos = m.end()
            if m["str"] is not None:
                py.append(repr(m["str"][1:-1].replace("''", "'")))
            elif m["num"] is not None:
                py.append(m["num"])
            elif m["op"] is not None:
                py.append({"&&": " and ", "||": " or ", "!": " not "}.get(m["op"], m["op"]))
            else:
                name = m["id"]
                if src[pos:].lstrip().startswith("("):
                    py.append(f"F[{name!r}]")
                else:
                    py.append(f"L({name!r})")
        expr = "".join(py)
        # GitHub compares strings case-insensitively; the example compares names and ids only.
        return eval(expr, {"F": self.functions(), "L": self.lookup})

    def expand(self, s):
        def one(m):
            v = self.eval(m.group(1))
            if isinstance(v, bool):
                return "true" if v else "false"
            return str(v)

        return re.sub(r"\$\{\{(.*?)\}\}", one, s)

    def condition(self, cond):
        if cond is None:
            return self.status["failed"] is None
        cond = cond.strip()
        if cond.startswith("${{") and cond.endswith("}}"):
            cond = cond[3:-2]
        if not re.search(r"\b(success|failure|always|cancelled)\(", cond):
            cond = f"success() && ({cond})"
        return bool(self.eval(cond))


def hash_files(patterns):
    h = hashlib.sha256()
    for pat in patterns:
        for p in sorted(glob.glob(os.path.join(WS, pat), recursive=True)):
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def copy(src, dst):
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def home_path(p, env):
    return os.path.join(env["HOME"], p[2:]) if p.startswith("~/") else os.path.join(WS, p)


class Action:
    """The actions the simulation can stand in for; any other is skipped."""

    def __init__(self, env):
        self.env, self.post = env, []

    def run(self, uses, with_):
        name = uses.split("@")[0]
        if name == "actions/checkout":
            return 0, f"the fresh clone at {COMMIT[:12]} is the checkout"
        if name == "actions/cache":
            key, path = with_["key"], home_path(with_["path"], self.env)
            saved = os.path.join(CACHES, key)
            if os.path.isdir(saved):
                copy(saved, path)
                return 0, f"cache hit: {key} restored into {with_['path']}"
            self.post.append(("save cache " + key, lambda: copy(path, saved) if os.path.exists(path) else None))
            return 0, f"cache miss: {key} (saved at the end of the job if it succeeds)"
        if name == "actions/upload-artifact":
            src = os.path.join(WS, with_["path"])
            if not os.path.exists(src):
                return 0, f"warning: no files at {with_['path']}: nothing uploaded"
            dst = os.path.join(ARTIFACTS, with_["name"])
            shutil.rmtree(dst, ignore_errors=True)
            copy(src, os.path.join(dst, os.path.basename(src)) if os.path.isfile(src) else dst)
            return 0, f"artifact {with_['name']}: {with_['path']} copied to {dst}"
        if name == "actions/download-artifact":
            pattern = with_.get("pattern", with_.get("name", "*"))
            names = sorted(n for n in os.listdir(ARTIFACTS) if fnmatch.fnmatch(n, pattern)) if os.path.isdir(ARTIFACTS) else []
            for n in names:
                copy(os.path.join(ARTIFACTS, n), os.path.join(WS, with_.get("path", "."), n))
            if not names:
                return 1, f"no artifact matches {pattern}"
            return 0, f"artifacts {', '.join(names)} copied into {with_.get('path', '.')}"
        return None, f"skipped: {uses} (not simulated)"


def parse_outputs(path):
    out, lines = {}, open(path).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<")[0]:
            k, delim = line.split("<<", 1)
            val = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                val.append(lines[i])
                i += 1
            out[k] = "\n".join(val)
        elif "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
        i += 1
    return out


def main():
    wf = load_workflow(os.environ["WORKFLOW"])
    job = wf["jobs"][JOB]
    home = os.path.join(SIM, "home")
    env = {
        "PATH": os.path.join(SIM, "bin") + ":" + os.environ["PATH"],
        "HOME": home,
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": WS,
        "GITHUB_REPOSITORY": "llconform/llconform",
        "GITHUB_WORKFLOW": wf.get("name", ""),
        "GITHUB_JOB": JOB,
        "GITHUB_EVENT_NAME": EVENT,
        "GITHUB_REF": "refs/heads/" + BRANCH,
        "GITHUB_REF_NAME": BRANCH,
        "GITHUB_SHA": COMMIT,
        "GITHUB_RUN_ID": "1",
        "GITHUB_STEP_SUMMARY": os.path.join(SIM, "step-summary.md"),
        "RUNNER_OS": "Linux",
        "RUNNER_TEMP": os.path.join(SIM, "tmp"),
        # Hidden apt sources: like Ubuntu's, they list no Debian archive.
        "LLCONFORM_APT_SOURCES": os.path.join(SIM, "empty-apt"),
        # setup-go's restored caches: the host's.
        "GOMODCACHE": os.environ["GOMODCACHE_HOST"],
        "GOCACHE": os.environ["GOCACHE_HOST"],
    }
    open(env["GITHUB_STEP_SUMMARY"], "w").close()
    ctx = {
        "github": {
            "event_name": EVENT, "ref_name": BRANCH, "ref": env["GITHUB_REF"], "sha": COMMIT, "token": "",
            "repository": env["GITHUB_REPOSITORY"], "workflow": env["GITHUB_WORKFLOW"],
            "event": {"repository": {"default_branch": BRANCH}, "pull_request": {"number": ""}},
        },
        "vars": VARS, "matrix": matrix_values(os.environ["MATRIX"]), "steps": {}, "runner": {"os": "Linux"}, "env": {},
    }
    status = {"failed": None}
    ex = Expr(ctx, status)
    base_env = dict(env)
    for scope in (wf.get("env") or {}, job.get("env") or {}):
        for k, v in scope.items():
            ctx["env"][k] = base_env[k] = ex.expand(v)
    actions = Action(base_env)
    steps = job["steps"]
    results = []
    for n, step in enumerate(steps, 1):
        name = ex.expand(step.get("name") or ("Run " + step["uses"] if "uses" in step else "Run " + step["run"].splitlines()[0]))
        label = f"[{n}/{len(steps)}] {name}"
        if status["failed"] is not None:
            results.append((label, "not run: the job stopped at step %d" % status["failed"]))
            continue
        if not ex.condition(step.get("if")):
            results.append((label, "skipped: if: " + step["if"].strip()))
            print(f"==> {label}: skipped (if: {step['if'].strip()})", flush=True)
            continue
        print(f"==> {label}", flush=True)
        start = time.monotonic()
        if "uses" in step:
            with_ = {k: ex.expand(v) for k, v in (step.get("with") or {}).items()}
            code, msg = actions.run(step["uses"], with_)
            print("    " + msg, flush=True)
            state = msg if code is None else f"exit {code}: {msg}"
        else:
            step_env = dict(base_env)
            for k, v in (step.get("env") or {}).items():
                step_env[k] = ex.expand(v)
            out_file = os.path.join(SIM, f"output-{n}")
            open(out_file, "w").close()
            step_env["GITHUB_OUTPUT"] = out_file
            script = os.path.join(SIM, f"step-{n}.sh")
            with open(script, "w") as f:
                f.write(ex.expand(step["run"]))
            code = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script], cwd=WS, env=step_env).returncode
            if "id" in step:
                ctx["steps"][step["id"]] = {"outputs": parse_outputs(out_file), "outcome": "success" if code == 0 else "failure"}
            state = f"exit {code}"
        state += f" ({time.monotonic() - start:.0f}s)"
        print(f"<== {label}: {state}", flush=True)
        results.append((label, state))
        if code not in (None, 0):
            status["failed"] = n
    if status["failed"] is None:
        for what, fn in actions.post:
            fn()
            results.append(("post: " + what, "done"))
    print("\nsteps:")
    for label, state in results:
        print(f"  {label}: {state}")
    print(f"step summary ({env['GITHUB_STEP_SUMMARY']}): {os.path.getsize(env['GITHUB_STEP_SUMMARY'])} bytes")
    return 1 if status["failed"] is not None else 0


if __name__ == "__main__":
    sys.exit(main())
