"""English text that ships with Python: the docstrings of standard-library modules, for a char LM demo.

No download and no data file: the text is read from modules that are importable on any Linux
CPython >= 3.10 without side effects (no GUI, no browser, no printing, no readline hooks).
The same call gives the same text on every machine with the same Python minor version.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

# Sorted; each imports quietly on Linux. Modules removed in 3.12/3.13 (asynchat, cgi, imp, ...) and
# modules with import side effects (antigravity, this, tkinter, turtle, idlelib, rlcompleter,
# webbrowser, readline) are left out on purpose.
STDLIB_CORPUS_MODULES: tuple[str, ...] = (
    "abc", "argparse", "ast", "base64", "bdb", "bisect", "bz2", "calendar", "cmd", "codecs", "codeop",
    "collections", "colorsys", "concurrent.futures", "configparser", "contextlib", "contextvars", "copy",
    "copyreg", "csv", "dataclasses", "datetime", "difflib", "dis", "doctest", "email.headerregistry",
    "email.message", "email.parser", "email.policy", "email.utils", "enum", "filecmp", "fileinput", "fnmatch",
    "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "graphlib", "gzip", "hashlib", "heapq",
    "hmac", "html", "html.parser", "http.client", "http.cookiejar", "http.cookies", "http.server", "imaplib",
    "importlib", "importlib.metadata", "importlib.resources", "inspect", "io", "ipaddress", "itertools", "json",
    "keyword", "linecache", "locale", "logging", "logging.handlers", "lzma", "mailbox", "math", "mimetypes",
    "modulefinder", "netrc", "numbers", "operator", "optparse", "os", "pathlib", "pdb", "pickle",
    "pickletools", "pkgutil", "platform", "plistlib", "poplib", "posixpath", "pprint", "profile", "pstats",
    "py_compile", "pyclbr", "pydoc", "queue", "quopri", "random", "re", "reprlib", "runpy", "sched", "secrets",
    "selectors", "shelve", "shlex", "shutil", "signal", "smtplib", "socket", "socketserver", "stat",
    "statistics", "string", "stringprep", "struct", "subprocess", "symtable", "sysconfig", "tabnanny",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "token", "tokenize", "trace", "traceback",
    "tracemalloc", "types", "typing", "unittest", "unittest.mock", "urllib.parse", "urllib.request", "uuid",
    "warnings", "wave", "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "xml.sax", "xml.sax.saxutils",
    "xmlrpc.client", "xmlrpc.server", "zipfile", "zipimport", "zoneinfo",
)

_BLANK_LINE = re.compile(r"\n\s*\n")
_PROSE_CHARACTERS = re.compile(r"[A-Za-z ,.;:'()-]")


def stdlib_corpus(max_chars: int | None = None, *, seed: int | None = None) -> str:
    """Docstrings of STDLIB_CORPUS_MODULES as plain English text, at most `max_chars` characters.

    Each docstring becomes one or more paragraphs (one per line, whitespace collapsed, code
    examples and non-ASCII paragraphs dropped, repeated paragraphs kept once); docstrings are
    separated by a blank line. Order: modules sorted, then members sorted by name; with `seed`
    the docstrings are shuffled (reproducibly), so a `max_chars` prefix mixes all modules.
    The text is cut at a paragraph boundary at or before `max_chars` (or at a space if the first
    paragraph is longer). About 700k characters are available in all.
    """
    if max_chars is not None and (not isinstance(max_chars, (int, np.integer)) or max_chars < 1):
        raise ValueError(f"stdlib_corpus: max_chars must be None or an int >= 1, got {max_chars!r}")
    documents = list(_stdlib_documents(STDLIB_CORPUS_MODULES))
    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(documents))
        documents = [documents[position] for position in order]
    text = "\n\n".join(documents)
    if max_chars is None or len(text) <= max_chars:
        return text
    return _cut_at_boundary(text, int(max_chars))


def _cut_at_boundary(text: str, max_chars: int) -> str:
    head = text[:max_chars + 1]
    for boundary in ("\n", " "):
        position = head.rfind(boundary)
        if position > 0:
            return text[:position].rstrip()
    return text[:max_chars]


@lru_cache(maxsize=4)
def _stdlib_documents(module_names: tuple[str, ...]) -> tuple[str, ...]:
    """Normalised, deduplicated docstrings in walk order (cached: importing and walking takes a moment)."""
    if sys.flags.optimize >= 2:
        raise RuntimeError("stdlib_corpus: Python runs with -OO, which strips every docstring; "
                           "run without -OO to build the corpus")
    seen_paragraphs: set[str] = set()
    documents: list[str] = []
    for raw in _walk_docstrings(module_names):
        paragraphs = []
        for paragraph in _prose_paragraphs(raw):
            if paragraph not in seen_paragraphs:
                seen_paragraphs.add(paragraph)
                paragraphs.append(paragraph)
        if paragraphs:
            documents.append("\n".join(paragraphs))
    if not documents:
        raise RuntimeError(f"stdlib_corpus: found no docstrings in {len(module_names)} standard-library modules")
    return tuple(documents)


def _walk_docstrings(module_names: tuple[str, ...]) -> Iterator[str]:
    """Module docstring, then public classes (with their public methods) and functions, sorted by name.

    Python modules are read from their source with `ast`, so what other libraries patch at run
    time (torch, for one, replaces functions of `inspect`) cannot change the text; only modules
    written in C are imported, since their docstrings exist only at run time.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module_name in sorted(module_names):
            try:
                spec = importlib.util.find_spec(module_name)
            except ImportError:
                continue
            if spec is None:  # an optional module missing from this build
                continue
            if spec.origin and spec.origin.endswith(".py"):
                yield from _source_docstrings(Path(spec.origin).read_text(encoding="utf-8"))
                continue
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            yield from _runtime_docstrings(module)


def _source_docstrings(source: str) -> Iterator[str]:
    tree = ast.parse(source)
    yield ast.get_docstring(tree) or ""
    definitions = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    members = sorted((node for node in tree.body if isinstance(node, definitions) and not node.name.startswith("_")),
                     key=_name)
    for node in members:
        yield ast.get_docstring(node) or ""
        if isinstance(node, ast.ClassDef):
            methods = sorted((child for child in node.body
                              if isinstance(child, definitions[1:]) and not child.name.startswith("_")), key=_name)
            for method in methods:
                yield ast.get_docstring(method) or ""


def _name(node: ast.AST) -> str:
    return node.name


def _runtime_docstrings(module) -> Iterator[str]:
    yield inspect.getdoc(module) or ""
    for name, member in sorted(vars(module).items()):
        # Only members defined here, so re-exports are not read twice.
        if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(member):
            yield inspect.getdoc(member) or ""
            for attribute_name, attribute in sorted(vars(member).items()):
                if not attribute_name.startswith("_"):
                    yield _own_docstring(attribute)
        elif inspect.isfunction(member) or inspect.isbuiltin(member):
            yield inspect.getdoc(member) or ""


def _own_docstring(attribute: object) -> str:
    if isinstance(attribute, (classmethod, staticmethod)):
        attribute = attribute.__func__
    if not (inspect.isfunction(attribute) or inspect.ismethoddescriptor(attribute) or isinstance(attribute, property)):
        return ""
    doc = getattr(attribute, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _prose_paragraphs(docstring: str) -> Iterator[str]:
    """Paragraphs that read as English: whitespace collapsed, code and tables dropped, ASCII only."""
    for block in _BLANK_LINE.split(docstring):
        lines = [line for line in block.strip("\n").splitlines() if line.strip()]
        if not lines or any(line.lstrip().startswith((">>>", "...", "$ ")) for line in lines):
            continue
        # getdoc dedents prose to column 0; a block indented throughout is a code or table example.
        if all(line[:1].isspace() for line in lines):
            continue
        paragraph = " ".join(block.split())
        if len(paragraph) < 20 or not paragraph.isascii():
            continue
        # Code, tables and signatures are mostly symbols; prose is mostly letters, spaces and light punctuation.
        if len(_PROSE_CHARACTERS.findall(paragraph)) < 0.9 * len(paragraph):
            continue
        yield paragraph


def unigram_bits_per_char(text: str) -> float:
    """Entropy of the character distribution of `text`, in bits: the loss of a model that ignores context.

    H = -Σ_c p(c) log2 p(c), p(c) = count(c) / len(text). A language model earns its keep
    when its bits per character fall below this.
    """
    if not isinstance(text, str):
        raise TypeError(f"unigram_bits_per_char: expected str, got {type(text).__name__}")
    if not text:
        raise ValueError("unigram_bits_per_char: expected non-empty text, got ''")
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    _, counts = np.unique(codes, return_counts=True)
    probabilities = counts / codes.size
    return float(-(probabilities * np.log2(probabilities)).sum())
