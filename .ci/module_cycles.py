#!/usr/bin/env python3
"""Fail when files of one crate import each other in a circle.

For every crate under crates/ (and migration/), each non-test source file is a node; a
`use` or a path (`crate::…`, `super::…`, `self::…`, or a child module's name) that names
an item of another file is an edge. `mod x;` declarations are not edges: a parent owns its
children, an import circle is two files needing each other. Test code (files under a
`tests` directory, `tests.rs`, and inline `#[cfg(test)]` blocks) is left out.

Usage: module_cycles.py [ROOT]   (exit 1 and the circles when there are any)
"""

import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # A raw string starts a token: the `r"` ending `"x-forwarded-for"` starts none.
    text = re.sub(r'(?<!\w)b?r(#*)"(?:.|\n)*?"\1', '""', text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def strip_cfg_test(text: str) -> str:
    """Drops each item that follows `#[cfg(test)]` up to its closing brace or semicolon."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        j = m.end()
        while j < len(text) and text[j] not in "{;":
            j += 1
        if j < len(text) and text[j] == "{":
            depth = 0
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
        else:
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use_tree(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` → [`a::b`, `a::c::d`, `a::c::e`]."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, body = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(body[start:k])
            start = k + 1
    parts.append(body[start:])
    return [p for part in parts if part for p in expand_use_tree(prefix + part)]


def crate_modules(src: Path) -> dict[tuple[str, ...], Path]:
    modules = {}
    for file in src.rglob("*.rs"):
        rel = file.relative_to(src)
        if "tests" in rel.parts[:-1] or rel.name == "tests.rs" or "bin" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts.pop()
        modules[tuple(parts)] = file
    return modules


def absolute(path: str, module: tuple[str, ...], modules) -> list[str] | None:
    """The path from the crate root that `path`, written in `module`, names."""
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] in ("super", "self"):
        base = module
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        return list(base) + segs
    if module + (segs[0],) in modules:
        return list(module) + segs
    return None


def source_text(file: Path) -> str:
    return strip_cfg_test(strip_comments_and_strings(file.read_text()))


def reexports_of(modules) -> dict:
    """Per module: each name it re-exports with `pub use`, as the absolute path it names."""
    out = {}
    for module, file in modules.items():
        names = {}
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", source_text(file)):
            for path in expand_use_tree(m.group(1)):
                full = absolute(path, module, modules)
                if full:
                    names[full[-1]] = full
        out[module] = names
    return out


def defining_file(path: list[str], modules, reexports, depth: int = 0) -> tuple[str, ...]:
    """The module whose file defines what `path` names, following re-exports."""
    target = ()
    for k, seg in enumerate(path):
        if target + (seg,) in modules:
            target = target + (seg,)
            continue
        again = reexports.get(target, {}).get(seg)
        if again and depth < 8 and again[:-1] != list(target):
            return defining_file(again + path[k + 1 :], modules, reexports, depth + 1)
        break
    return target


def edges_of(module: tuple[str, ...], file: Path, modules, reexports) -> set[tuple[str, ...]]:
    text = source_text(file)
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths += expand_use_tree(m.group(1))
    paths += re.findall(r"\b(?:crate|super|self)(?:::\w+)+", text)
    targets = set()
    for path in paths:
        full = absolute(path, module, modules)
        if full is None:
            continue
        target = defining_file(full, modules, reexports)
        if target != module and target in modules:
            targets.add(target)
    return targets


def cycles(graph: dict) -> list[list]:
    """Tarjan's strongly connected components of more than one node."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    failed = False
    for src in sorted(list(ROOT.glob("crates/*/src")) + [ROOT / "migration/src"]):
        modules = crate_modules(src)
        reexports = reexports_of(modules)
        graph = {m: edges_of(m, f, modules, reexports) for m, f in modules.items()}
        for comp in cycles(graph):
            failed = True
            names = ", ".join(str(modules[m].relative_to(ROOT)) for m in comp)
            print(f"import circle: {names}")
            for m in comp:
                into = sorted(str(modules[t].relative_to(ROOT)) for t in graph[m] if t in comp)
                print(f"  {modules[m].relative_to(ROOT)} -> {', '.join(into)}")
    if not failed:
        print("ok: no import circle between the files of a crate")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
