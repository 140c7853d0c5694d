#!/usr/bin/env python3
"""Finds import circles between the Rust source files of each crate of the workspace.

A file depends on another when it names an item of the other's module by path: a `use` of
`crate::…`, `super::…` or `self::…`, or such a path written inline. A `mod x;` declaration is not a
dependency. A path that names an item re-exported by a parent module (`use super::Thing`, where the
parent only re-exports `child::Thing`) depends on the parent, so import items from the file that
defines them.

Prints every circle (a strongly connected component of more than one file) and exits 1 when there
is one; `--graph` prints every edge too. Run by `./dev lint`.
"""

import re
import sys
from pathlib import Path

CRATES = ["shared/src", "server/src", "client/src", "server/tests/it"]


def strip_comments_and_strings(text: str) -> str:
    # Line comments (doc comments included), block comments, string and char literals.
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main"):
        parts = parts[:-1]
    elif parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def expand_use(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    depth, start, items = 0, 0, []
    # Split the top level on commas.
    for i, ch in enumerate(tree):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(tree[start:i])
            start = i + 1
    items.append(tree[start:])
    out = []
    for item in filter(None, items):
        brace = item.find("{")
        if brace == -1:
            out.append(item.split(" as ")[0])
            continue
        prefix, inner = item[:brace], item[brace + 1 : item.rfind("}")]
        for sub in expand_use(inner):
            out.append(prefix + sub if sub != "self" else prefix.rstrip(":"))
    return out


def inline_modules(text: str) -> list:
    """(start, end, name) of every inline `mod name { ... }` block."""
    blocks = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", text):
        depth, i = 0, m.end() - 1
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        blocks.append((m.end(), i, m.group(1)))
    return blocks


def paths_in(text: str) -> list:
    """Every path the text names, with the inline modules it is written in."""
    blocks = inline_modules(text)

    def scope(pos):
        return tuple(name for start, end, name in blocks if start <= pos < end)

    paths = []
    for m in re.finditer(r"\buse\s+([^;{}]+(?:\{[^;]*\})?);", text):
        paths.extend((p, scope(m.start())) for p in expand_use(m.group(1)))
    body = re.sub(r"\buse\s+[^;]+;", lambda m: " " * len(m.group(0)), text)
    paths.extend(
        (m.group(0), scope(m.start()))
        for m in re.finditer(r"(?<![\w:])\w+(?:::\w+)+", body)
    )
    return paths


def resolve(path: str, here: tuple, modules: set):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("super", "self"):
        # A file `a/b.rs` (module a::b) or `a/b/mod.rs` (also a::b): `self` is a::b, `super` is a.
        base = here
        rest = parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    elif here + (parts[0],) in modules:
        # A path that starts with a child module's name (`use presence::Presence` in `redis`).
        base, rest = here, parts
    else:
        return None
    target = base
    for name in rest:
        if target + (name,) in modules:
            target = target + (name,)
        else:
            break
    return target


def cycles(src: Path, show_graph: bool) -> list:
    # `main.rs` beside a `lib.rs` is another crate, which uses the library by its name.
    files = {
        module_of(src, f): f
        for f in sorted(src.rglob("*.rs"))
        if not (f == src / "main.rs" and (src / "lib.rs").exists())
    }
    modules = set(files)
    graph = {m: set() for m in modules}
    for module, file in files.items():
        text = strip_comments_and_strings(file.read_text())
        for path, inner in paths_in(text):
            target = resolve(path, module + inner, modules)
            if target is None or target == module:
                continue
            # A module without a file of its own (inline `mod x {}`) belongs to its parent file.
            while target not in files and target:
                target = target[:-1]
            if target != module:
                graph[module].add(target)
    if show_graph:
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f"  {files[m].relative_to(src)} -> {files[t].relative_to(src)}")
    # Tarjan's strongly connected components.
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
                out.append(sorted(str(files[c].relative_to(src)) for c in comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    show_graph = "--graph" in sys.argv
    found = False
    for crate in CRATES:
        src = root / crate
        if show_graph:
            print(crate)
        for comp in cycles(src, show_graph):
            found = True
            print(f"{crate}: import circle between {', '.join(comp)}")
    if not found:
        print("no import circles between files")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
