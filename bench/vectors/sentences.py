"""English sentences found on this machine, for the MiniLM data set (bench/vectors/run.sh).

  python3 sentences.py OUT.txt MAX

Sources, in this order (a sentence counts for the first source it is found in):
  rust-docs     the Rust toolchain's HTML docs (~/.rustup/toolchains/*/share/doc/rust/html:
                the books, the reference, std/core/alloc API docs), text of <p> and <li>
  python-stdlib docstrings of the Python standard library's modules (ast, no import)
  crates        README files and ///, //! doc comments of ~/.cargo/registry/src crates
  man           /usr/share/man pages (roff requests dropped, escapes stripped)
  usr-share-doc /usr/share/doc READMEs, changelogs, NEWS (gzip or plain)

A sentence is a run of text ending in . ! or ? before whitespace and a capital, kept when it
is 30-300 characters, has at least 5 words, starts with a capital, is mostly letters and
looks like prose (no URLs, braces, ::, =>). Duplicates (case and spacing folded) are
dropped. The distinct sentences are shuffled (seed 5) and the first MAX written, one a line;
per-source counts go to OUT.txt.sources.json.
"""
import ast
import glob
import gzip
import html
import json
import os
import random
import re
import sys
import sysconfig

SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
TAG = re.compile(r"<[^>]+>")
BLOCK = re.compile(r"<(p|li)(?:\s[^>]*)?>(.*?)</\1>", re.S)
ROFF_ESCAPE = re.compile(r"\\f[BIRP]|\\f\(..|\\\(..|\\[&|^e-]|\\s[-+]?\d|\\\*.")
BAD = re.compile(r"https?:|www\.|[{}<>\[\]|@#$_]|::|=>|->|\.\.|\\|`")


def sentences_of(text):
    text = " ".join(text.split())
    for s in SPLIT.split(text):
        s = s.strip()
        if not (30 <= len(s) <= 300) or s[-1] not in ".!?" or not s[0].isupper():
            continue
        if len(s.split()) < 5 or BAD.search(s):
            continue
        letters = sum(c.isalpha() or c == " " for c in s)
        if letters < 0.85 * len(s):
            continue
        yield s


def rust_docs():
    for root in sorted(glob.glob(os.path.expanduser("~/.rustup/toolchains/*/share/doc/rust/html")))[:1]:
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.endswith(".html"):
                    try:
                        page = open(os.path.join(dirpath, f), encoding="utf-8", errors="ignore").read()
                    except OSError:
                        continue
                    for m in BLOCK.finditer(page):
                        yield html.unescape(TAG.sub(" ", m.group(2)))


def python_stdlib():
    stdlib = sysconfig.get_paths()["stdlib"]
    for dirpath, dirs, files in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "test", "tests", "idlelib")]
        for f in files:
            if not f.endswith(".py"):
                continue
            try:
                tree = ast.parse(open(os.path.join(dirpath, f), encoding="utf-8").read())
            except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        yield doc


def crates():
    for crate in sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/*"))):
        for dirpath, _, files in os.walk(crate):
            for f in files:
                path = os.path.join(dirpath, f)
                try:
                    if f.lower().startswith("readme"):
                        yield open(path, encoding="utf-8", errors="ignore").read()
                    elif f.endswith(".rs"):
                        doc = [l.strip()[3:] for l in open(path, encoding="utf-8", errors="ignore")
                               if l.strip().startswith(("///", "//!"))]
                        yield "\n".join(doc)
                except OSError:
                    continue


def read_maybe_gz(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="ignore") as f:
        return f.read()


def man():
    for path in sorted(glob.glob("/usr/share/man/man*/*")):
        try:
            page = read_maybe_gz(path)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        lines = [ROFF_ESCAPE.sub("", l) for l in page.splitlines() if not l.startswith((".", "'"))]
        yield "\n".join(lines)


def usr_share_doc():
    for path in sorted(glob.glob("/usr/share/doc/*/*")):
        name = os.path.basename(path).lower()
        if os.path.isfile(path) and name.startswith(("readme", "changelog", "news", "todo")):
            try:
                yield read_maybe_gz(path)
            except (OSError, EOFError, gzip.BadGzipFile):
                continue


def main(out, limit):
    seen, kept, counts = set(), [], {}
    for source, texts in [("rust-docs", rust_docs), ("python-stdlib", python_stdlib),
                          ("crates", crates), ("man", man), ("usr-share-doc", usr_share_doc)]:
        before = len(kept)
        for text in texts():
            for s in sentences_of(text):
                key = s.lower()
                if key not in seen:
                    seen.add(key)
                    kept.append((s, source))
        counts[source] = len(kept) - before
        print(f"  {source}: {counts[source]} distinct sentences", file=sys.stderr, flush=True)
    random.Random(5).shuffle(kept)
    chosen = kept[:limit]
    if len(chosen) < limit:
        sys.exit(f"only {len(chosen)} distinct sentences found; {limit} wanted")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for s, _ in chosen:
            f.write(s + "\n")
    used = {}
    for _, source in chosen:
        used[source] = used.get(source, 0) + 1
    with open(out + ".sources.json", "w") as f:
        json.dump({"distinct_found": counts, "written": used, "total_written": len(chosen)}, f, indent=1)
    os.rename(tmp, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
