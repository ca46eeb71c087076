#!/usr/bin/env python3
"""Keeps the inferlet guide's API reference honest against the SDK sources.

Fails, listing the names, when
  - a public function or type of the C++ SDK headers (core.h, model.h, context.h, flags.h, http.h) or an
    export or class member of the JavaScript typings (pie.d.ts) is missing from the API reference
    section of docs/inferlets.md;
  - the reference names, as `name(`, a function that no longer exists;
  - a `pie_*` function of abi.h is mentioned in neither docs/abi.md nor docs/inferlets.md, or
    either page calls a `pie_*(` function that abi.h does not declare;
  - a folder of inferlets/ is not linked from the guide's catalogue.

Spelling the reference uses (and this script expects):
  C++   pie::fail(   pie::store::get(   pie::Model (a type)   Model::create_queue(   Sampler::Kind
  JS    pie.send(    pie.store.get(     pie.Model (a type)    Queue.allocate(        Model.name
"""
import argparse
import re
import sys
from pathlib import Path

CPP_HEADERS = ["core.h", "model.h", "context.h", "flags.h", "http.h"]
REFERENCE_HEADING = "## API reference"


def strip_cpp_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


class CppScope:
    def __init__(self, kind, name, visible, access):
        self.kind = kind  # "namespace", "class" or "block" (a body, enum or initializer)
        self.name = name
        self.visible = visible  # every enclosing scope is public
        self.access = access  # current access of a class scope


def cpp_public_names(text):
    """Public names of one header: functions as `ns::f(` / `Class::f(`, types as `ns::T` / `C::T`.

    A small scanner, enough for the SDK's own style: it walks braces, tracks namespaces, classes
    and their access, and reads each declaration up to its `;` or `{`. Bodies are skipped."""
    text = strip_cpp_comments(text)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)  # preprocessor lines
    names = set()
    stack = [CppScope("namespace", "", True, "public")]
    statement = ""

    def namespace_path():
        parts = [s.name for s in stack if s.kind == "namespace" and s.name]
        return "::".join(parts)

    def visible_here():
        top = stack[-1]
        if not top.visible:
            return False
        if top.kind == "class":
            return top.access == "public"
        if top.kind == "namespace":
            return "detail" not in namespace_path().split("::")
        return False

    def owner_prefix():
        top = stack[-1]
        return top.name if top.kind == "class" else namespace_path()

    def read_declaration(decl):
        """Records what `decl` declares; returns the scope a following `{` opens."""
        decl = decl.strip()
        m = re.match(r"(public|private|protected)\s*:\s*(.*)", decl, re.S)
        while m:
            stack[-1].access = m.group(1)
            decl = m.group(2).strip()
            m = re.match(r"(public|private|protected)\s*:\s*(.*)", decl, re.S)
        visible = visible_here()
        decl_flat = " ".join(decl.split())
        ns = re.match(r"(?:inline\s+)?namespace\s+([\w:]+)\s*$", decl_flat)
        if ns:
            return [CppScope("namespace", part, visible, "public") for part in ns.group(1).split("::")]
        if re.match(r"(?:template\s*<[^{]*>\s*)?enum\b", decl_flat):
            enum = re.search(r"enum\s+(?:class\s+)?(\w+)", decl_flat)
            if visible and enum:
                names.add(f"{owner_prefix()}::{enum.group(1)}")
            return [CppScope("block", "", False, "private")]
        cls = re.match(r"(?:template\s*<.*?>\s*)?(class|struct)\s+(\w+)", decl_flat)
        if cls and "(" not in decl_flat.split(":")[0]:
            if visible:
                names.add(f"{owner_prefix()}::{cls.group(2)}")
            default_access = "public" if cls.group(1) == "struct" else "private"
            return [CppScope("class", cls.group(2), visible, default_access)]
        alias = re.match(r"(?:template\s*<.*?>\s*)?using\s+(\w+)\s*=", decl_flat)
        if alias:
            # Type aliases at namespace scope are part of the API (KvPage); member aliases are not.
            if visible and stack[-1].kind == "namespace":
                names.add(f"{owner_prefix()}::{alias.group(1)}")
            return [CppScope("block", "", False, "private")]
        if visible and not decl_flat.startswith(("friend ", "static_assert")):
            # The declared function is the first identifier followed by "(" outside template
            # arguments; constructors and operators are covered by their class.
            head = re.sub(r"<[^<>()]*(?:<[^<>()]*>[^<>()]*)*>", " ", decl_flat)
            call = re.search(r"(~?\b\w+)\s*\(", head)
            if call and not re.search(r"\boperator\b", head[: call.end()]):
                name = call.group(1)
                owner = stack[-1].name if stack[-1].kind == "class" else None
                if name != owner and not name.startswith("~") and name not in ("requires",):
                    names.add(f"{owner_prefix()}::{name}")
        return [CppScope("block", "", False, "private")]

    for ch in text:
        if ch == "{":
            scopes = read_declaration(statement)
            stack.extend(scopes)
            # Remember how many scopes this brace opened (nested namespaces open several).
            stack[-1].opened = len(scopes)
            statement = ""
        elif ch == "}":
            opened = getattr(stack[-1], "opened", 1)
            del stack[-opened:]
            statement = ""
        elif ch == ";":
            if stack[-1].kind != "block":
                read_declaration(statement)
            statement = ""
        elif stack[-1].kind != "block":
            statement += ch
    return names


def cpp_reference_forms(names):
    """How each name is written in the reference: namespace members as `pie::...`, class members
    (and nested types) as `Class::name`."""
    forms = {}
    for qualified in names:
        owner, _, name = qualified.rpartition("::")
        if owner.startswith("pie"):
            form = qualified
        else:
            form = f"{owner}::{name}"
        forms[qualified] = form
    return forms


def js_exports(text):
    """Exports of pie.d.ts and members of its classes and object constants.

    Returns {form: is_function}, forms as the reference writes them: `pie.send`, `pie.Model`,
    `pie.store.get`, `Queue.allocate`, `Model.name`."""
    text = strip_cpp_comments(text)
    forms = {}
    lines = text.splitlines()
    container = None  # ("class", name) or ("const", name) while inside one
    depth = 0
    for line in lines:
        s = line.strip()
        if container is None:
            m = re.match(r"export\s+function\s+(\w+)\s*\(", s)
            if m:
                forms[f"pie.{m.group(1)}"] = True
                continue
            m = re.match(r"export\s+(?:class|interface|type)\s+(\w+)", s)
            if m:
                forms[f"pie.{m.group(1)}"] = False
                if s.startswith("export class") and s.endswith("{"):
                    container, depth = ("class", m.group(1)), 1
                elif s.startswith("export interface") and s.endswith("{"):
                    container, depth = ("interface", m.group(1)), 1
                continue
            m = re.match(r"export\s+const\s+(\w+)\s*:\s*(\{)?", s)
            if m:
                forms[f"pie.{m.group(1)}"] = False
                if s.endswith("{"):
                    container, depth = ("const", m.group(1)), 1
                continue
            continue
        if depth == 1:
            kind, owner = container
            method = re.match(r"(?:static\s+)?(\w+)\s*\(", s)
            prop = re.match(r"readonly\s+(\w+)\s*:", s)
            if kind == "class" and method and method.group(1) != "constructor":
                forms[f"{owner}.{method.group(1)}"] = True
            elif kind == "class" and prop:
                forms[f"{owner}.{prop.group(1)}"] = False
            elif kind == "const" and method:
                forms[f"pie.{owner}.{method.group(1)}"] = True
        depth += s.count("{") - s.count("}")
        if depth <= 0:
            container = None
    return forms


def abi_functions(text):
    """The functions abi.h declares (pie_abi_version is defined by the module, not declared)."""
    return set(re.findall(r"\b(pie_\w+)\s*\(", strip_cpp_comments(text)))


def mentions(text, form):
    """True when `form` appears as a whole name (not as a prefix of a longer one)."""
    return re.search(r"(?<![\w.:])" + re.escape(form) + r"(?![\w])", text) is not None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="the repository root")
    root = parser.parse_args().root
    guide_path = root / "docs" / "inferlets.md"
    guide = guide_path.read_text()
    if REFERENCE_HEADING not in guide:
        sys.exit(f"{guide_path}: no '{REFERENCE_HEADING}' section")
    reference = guide.split(REFERENCE_HEADING, 1)[1]
    problems = []

    # C++ SDK.
    cpp_forms = {}
    for header in CPP_HEADERS:
        names = cpp_public_names((root / "sdk/cpp/include/pie" / header).read_text())
        if not names:
            problems.append(f"sdk/cpp/include/pie/{header}: no public names found (scanner broken?)")
        cpp_forms.update(cpp_reference_forms(names))
    for form in sorted(set(cpp_forms.values())):
        if not mentions(reference, form):
            problems.append(f"C++ {form} is not in the API reference of docs/inferlets.md")

    # JavaScript SDK.
    js_forms = js_exports((root / "sdk/js/pie.d.ts").read_text())
    if not js_forms:
        problems.append("sdk/js/pie.d.ts: no exports found (scanner broken?)")
    for form in sorted(js_forms):
        if not mentions(reference, form):
            problems.append(f"JS {form} is not in the API reference of docs/inferlets.md")

    # Calls the reference names that the SDKs do not have.
    cpp_known = set(cpp_forms.values())
    for called in sorted(set(re.findall(r"(?<![\w.:])((?:\w+::)+\w+)\(", reference))):
        if called not in cpp_known:
            problems.append(f"docs/inferlets.md names {called}(, which the C++ SDK headers lack")
    for called in sorted(set(re.findall(r"(?<![\w.:])(\w+(?:\.\w+)+)\(", reference))):
        if called not in js_forms:
            problems.append(f"docs/inferlets.md names {called}(, which sdk/js/pie.d.ts lacks")

    # The C ABI.
    abi_header = (root / "sdk/cpp/include/pie/abi.h").read_text()
    abi = abi_functions(abi_header)
    # Names abi.h speaks of without declaring them (the pie_abi_version export) are real too.
    abi_known = abi | set(re.findall(r"\b(pie_\w+)", abi_header))
    if not abi:
        problems.append("sdk/cpp/include/pie/abi.h: no pie_* functions found (scanner broken?)")
    abi_doc = (root / "docs" / "abi.md").read_text()
    for name in sorted(abi):
        if not mentions(abi_doc, name) and not mentions(guide, name):
            problems.append(f"ABI {name} is mentioned in neither docs/abi.md nor docs/inferlets.md")
    # The guide's calls are checked in its reference only: elsewhere it names CMake functions.
    for doc_name, doc in (("docs/abi.md", abi_doc), ("docs/inferlets.md", reference)):
        for called in sorted(set(re.findall(r"\b(pie_\w+)\(", doc))):
            if called not in abi_known:
                problems.append(f"{doc_name} names {called}(, which abi.h does not declare")

    # The catalogue.
    for folder in sorted(p.name for p in (root / "inferlets").iterdir() if p.is_dir()):
        if f"](../inferlets/{folder}/)" not in guide:
            problems.append(f"inferlets/{folder} is not linked from the catalogue of docs/inferlets.md")

    if problems:
        print(f"{len(problems)} problem(s) with the inferlet docs:")
        for p in problems:
            print("  " + p)
        return 1
    print(f"docs/inferlets.md covers {len(cpp_known)} C++ SDK names, {len(js_forms)} JS SDK names, "
          f"and the docs cover {len(abi)} ABI functions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
