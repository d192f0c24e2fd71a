#!/usr/bin/env python3
"""The declared MSRV is true: for every feature set of the library (none, default, each feature
alone, all) and for the command-line package, the highest `rust-version` among the dependencies
that get compiled (normal and build dependencies, not dev-dependencies, for this platform) is not
above the workspace's declared `rust-version`.

Reads the locked graph from `cargo metadata --locked`; the features each dependency gets are
worked out here from the manifests (as cargo's feature resolver does), so a feature set counts
only the dependencies it turns on. Exits 1 naming each dependency above the declared version.
"""

import json
import re
import subprocess
import sys


def metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    return json.loads(out)


def host_cfg():
    """`rustc --print cfg` as a set of names and (key, value) pairs."""
    out = subprocess.run(
        ["rustc", "--print", "cfg"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    cfg = set()
    for line in out.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            cfg.add((key, value.strip('"')))
        else:
            cfg.add(line)
    triple = subprocess.run(
        ["rustc", "-vV"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    host = re.search(r"^host: (\S+)", triple, re.M).group(1)
    return cfg, host


TOKEN = re.compile(r'\s*(?:([A-Za-z_][A-Za-z0-9_]*)|("(?:[^"\\]|\\.)*")|(.))')


def cfg_matches(expr, cfg):
    """Evaluates a `cfg(...)` target expression against `cfg`."""
    tokens = [t for t in TOKEN.findall(expr) if any(t)]
    pos = 0

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def peek(char):
        return pos < len(tokens) and tokens[pos][2] == char

    def predicate():
        name = take()[0]
        if name in ("all", "any", "not") and peek("("):
            take()
            args = []
            while not peek(")"):
                args.append(predicate())
                if peek(","):
                    take()
            take()
            if name == "all":
                return all(args)
            if name == "any":
                return any(args)
            return not args[0]
        if peek("="):
            take()
            value = json.loads(take()[1])
            return (name, value) in cfg
        return name in cfg

    assert take()[0] == "cfg" and take()[2] == "("
    result = predicate()
    assert take()[2] == ")"
    return result


def applies(target, cfg, host):
    if target is None:
        return True
    if target.startswith("cfg("):
        return cfg_matches(target, cfg)
    return target == host


def compiled_packages(meta, root, root_features, cfg, host):
    """The packages compiled for `root` with `root_features`: {package id: features}."""
    packages = {p["id"]: p for p in meta["packages"]}
    edges = {n["id"]: n["deps"] for n in meta["resolve"]["nodes"]}
    active = {root: set()}
    queue = [(root, f) for f in root_features]
    # Dependencies turned on, per package: {package id: {dependency name}}.
    enabled_deps = {}

    def declarations(pid):
        """(declaration, dependency package id) of the normal and build dependencies that
        apply to this platform."""
        found = []
        for decl in packages[pid]["dependencies"]:
            if decl["kind"] == "dev" or not applies(decl["target"], cfg, host):
                continue
            # The edge's name is the crate's library name (which may differ from the package
            # name), or the rename.
            for edge in edges[pid]:
                if packages[edge["pkg"]]["name"] != decl["name"]:
                    continue
                if decl["rename"] and edge["name"] != decl["rename"].replace("-", "_"):
                    continue
                found.append((decl, edge["pkg"]))
        return found

    def dep_key(decl):
        return decl["rename"] or decl["name"]

    changed = True
    while changed:
        changed = False
        # Features: follow each package's feature table.
        while queue:
            pid, feature = queue.pop()
            if feature in active[pid]:
                continue
            active[pid].add(feature)
            changed = True
            table = packages[pid]["features"]
            for value in table.get(feature, []):
                if value.startswith("dep:"):
                    enabled_deps.setdefault(pid, set()).add(value[4:])
                elif "/" in value:
                    dep, sub = value.split("/", 1)
                    weak = dep.endswith("?")
                    dep = dep.rstrip("?")
                    if not weak:
                        enabled_deps.setdefault(pid, set()).add(dep)
                    enabled_deps.setdefault((pid, "wants"), set()).add((dep, sub, weak))
                elif value in table:
                    queue.append((pid, value))
                else:
                    # An optional dependency's implicit feature.
                    enabled_deps.setdefault(pid, set()).add(value)
        # Dependencies: every non-optional or turned-on one, with its features.
        for pid in list(active):
            for decl, dep in declarations(pid):
                key = dep_key(decl)
                if decl["optional"] and key not in enabled_deps.get(pid, set()):
                    continue
                if dep not in active:
                    active[dep] = set()
                    changed = True
                wanted = list(decl["features"])
                if decl["uses_default_features"] and "default" in packages[dep]["features"]:
                    wanted.append("default")
                for dep_name, sub, _weak in enabled_deps.get((pid, "wants"), set()):
                    if dep_name == key:
                        wanted.append(sub)
                for feature in wanted:
                    if feature not in active[dep]:
                        queue.append((dep, feature))
                        changed = True
    return active


def version(text):
    """`1.85` and `1.85.0` alike, as (1, 85, 0)."""
    parts = [int(x) for x in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = metadata()
    cfg, host = host_cfg()
    members = set(meta["workspace_members"])
    packages = {p["id"]: p for p in meta["packages"]}
    by_name = {packages[m]["name"]: m for m in members}
    lib = by_name["authenteq-export"]
    cli = by_name["authenteq-export-cli"]

    failed = False
    declared = {}
    for member in (lib, cli):
        text = packages[member]["rust_version"]
        if text is None:
            print(f"{packages[member]['name']} declares no rust-version")
            failed = True
        declared[member] = text

    features = sorted(f for f in packages[lib]["features"] if f != "default")
    sets = [("no features", lib, [])]
    if "default" in packages[lib]["features"]:
        sets.append(("default features", lib, ["default"]))
    sets += [(f"--features {f}", lib, [f]) for f in features]
    sets.append(("all features", lib, features + ["default"]))
    sets.append((packages[cli]["name"], cli, ["default"] if "default" in packages[cli]["features"] else []))

    for label, root, wanted in sets:
        compiled = compiled_packages(meta, root, wanted, cfg, host)
        highest, who = None, []
        for pid in compiled:
            if pid in members:
                continue
            text = packages[pid]["rust_version"]
            if text is None:
                continue
            v = version(text)
            if highest is None or v > highest:
                highest, who = v, [pid]
            elif v == highest:
                who.append(pid)
        names = ", ".join(sorted(f"{packages[p]['name']} {packages[p]['version']}" for p in who))
        top = ".".join(map(str, highest)) if highest else "none"
        print(f"{label}: {len([p for p in compiled if p not in members])} dependencies, highest rust-version {top} ({names})")
        if declared[root] and highest and highest > version(declared[root]):
            above = sorted(
                f"{packages[p]['name']} {packages[p]['version']} needs {packages[p]['rust_version']}"
                for p in compiled
                if p not in members
                and packages[p]["rust_version"]
                and version(packages[p]["rust_version"]) > version(declared[root])
            )
            print(
                f"error: {packages[root]['name']} declares rust-version {declared[root]}, "
                f"but with {label}: " + "; ".join(above)
            )
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
