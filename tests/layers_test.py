#!/usr/bin/python3
"""The engine's folders are layers: a folder uses only the folders below
it in LAYERS (engine/README.md says the same in words). This test finds
what each source file really uses, whatever it includes: every
identifier it names that a project header declares (functions, types,
enum constants, macros) makes the file depend on that header's folder.
An opaque `struct zi_x_t *` needs no header and counts for nothing.

    /usr/bin/python3 tests/layers_test.py [SOURCE_DIR]

Exits 1 naming each file, the folder it should not use and the names it
uses from there.
"""

import glob
import os
import re
import sys

#  Top to bottom: a folder may use those after it
LAYERS = ["cli", "client", "runtime", "topology", "wire", "import", "local", "plan", "graph",
          "actors", "core"]

#  Known uses upward, each with its reason; a new one fails the test
EXCEPTIONS = {
    ("actors/act_control.c", "graph"):
        "If, Loop and Scan check their subgraphs' input and output counts at load",
}

IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def without_comments_and_strings(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def declared_names(text):
    """Names a header declares: functions, typedefs, struct tags, enum
    constants and macros"""
    names = set(re.findall(r"^\s+\**(zi_[a-z0-9_]+)\s*\(", text, re.M))
    names |= set(re.findall(r"^[a-z_][^\n;]*?\b(zi_[a-z0-9_]+)\s*\(", text, re.M))
    names |= set(re.findall(r"}\s*(zi_[a-z0-9_]+_t)\s*;", text))
    names |= set(re.findall(r"typedef\s+[^;{]*?\b(zi_[a-z0-9_]+_t)\s*;", text))
    names |= set(re.findall(r"typedef\s+\w+\s*\(\s*(zi_[a-z0-9_]+_t)\s*\)", text))
    names |= set(re.findall(r"#define\s+([A-Z][A-Z0-9_]+)", text))
    for body in re.findall(r"typedef\s+enum\s*{(.*?)}", text, re.S):
        names |= set(re.findall(r"\b(ZI_[A-Z0-9_]+)\b", body))
    return names


def folder_of(path):
    parts = path.split("/")
    return parts[1] if parts[0] == "engine" and len(parts) > 2 else parts[0]


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    os.chdir(root)
    files = sorted(glob.glob("engine/*/*.[ch]") + glob.glob("actors/*.[ch]")
                   + glob.glob("topology/*.[ch]"))
    unknown = sorted({folder_of(path) for path in files} - set(LAYERS))
    if unknown:
        print(f"FAIL folders not in LAYERS: {', '.join(unknown)}; add them where they belong")
        return 1
    text = {path: without_comments_and_strings(open(path, encoding="utf-8").read())
            for path in files}
    owners = {}
    for path in files:
        if path.endswith(".h") and not path.endswith("zi_classes.h"):
            for name in declared_names(text[path]):
                owners.setdefault(name, set()).add(path)
    problems, uses, exceptions_seen = [], 0, set()
    for path in files:
        if path.endswith("zi_classes.h"):
            continue            # includes every header; it uses nothing itself
        used = set(IDENTIFIER.findall(re.sub(r"\bstruct\s+zi_[a-z0-9_]+_t\b", " ",
                                             text[path])))
        level = LAYERS.index(folder_of(path))
        upward = {}
        for name in used:
            for header in owners.get(name, ()):
                other = folder_of(header)
                if other == folder_of(path):
                    continue
                uses += 1
                if LAYERS.index(other) < level:
                    upward.setdefault(other, set()).add(name)
        for other, names in sorted(upward.items()):
            if (path, other) in EXCEPTIONS:
                exceptions_seen.add((path, other))
                continue
            problems.append(f"{path} ({folder_of(path)}) uses {other}, a layer above it: "
                            f"{', '.join(sorted(names)[:8])}")
    for problem in problems:
        print("FAIL " + problem)
    for stale in sorted(set(EXCEPTIONS) - exceptions_seen):
        print(f"FAIL exception {stale} no longer happens; remove it from EXCEPTIONS")
        problems.append(stale)
    print(f"{'ok  ' if not problems else 'FAIL'} {len(files)} files, {uses} uses across "
          f"folders, {len(problems)} against the layers "
          f"({' > '.join(LAYERS)}; {len(EXCEPTIONS)} known exception)")
    # The checker must see the uses it is there for: a file below that
    # names something above would be caught (a self check on real text)
    probe = "void f (void) { zi_graph_t *g = 0; (void) g; }"
    caught = any(folder_of(h) == "graph" for name in IDENTIFIER.findall(probe)
                 for h in owners.get(name, ()))
    if not caught:
        print("FAIL the checker does not know zi_graph_t's header: it would miss uses")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
