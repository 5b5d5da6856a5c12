#!/usr/bin/python3
"""Check a JSON document against one schema of an OpenAPI 3.0 description.

Usage:
  check_schema.py SPEC.yaml SCHEMA FILE.json   (FILE "-" reads stdin)
  check_schema.py --list SPEC.yaml

Validates FILE against #/components/schemas/SCHEMA of SPEC, with every $ref
resolved against the whole SPEC document. OpenAPI 3.0 is JSON Schema draft 4
plus a few keywords: "nullable: true" allows null; formats are ignored except
the integer ones (int8 ... uint64), whose ranges are checked.

Exit status: 0 and "ok: SCHEMA" on stdout when FILE is valid; 1 with one line
per problem on stdout, "SCHEMA: JSON-PATH: what is wrong" (FILE that is not
JSON at all is a problem too); 2 for usage errors (bad arguments, SPEC or FILE
unreadable, an unknown SCHEMA: the close names are listed), on stderr.

Runs under Debian's python3 with python3-yaml and python3-jsonschema
(tools/setup.sh installs both).
"""

import argparse
import copy
import difflib
import json
import re
import sys

PROG = "check_schema"
MAX_MESSAGE = 300

try:
    import yaml
    import jsonschema
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.stderr.write(f"{PROG}: {e}: install python3-yaml and python3-jsonschema "
                     "(tools/setup.sh) and run this with /usr/bin/python3\n")
    sys.exit(2)


class UsageError(Exception):
    pass


# --- the spec ---------------------------------------------------------------

def load_spec(path):
    try:
        with open(path, "rb") as f:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            spec = yaml.load(f, Loader=loader)
    except OSError as e:
        raise UsageError(f"cannot read spec {path}: {e.strerror}")
    except yaml.YAMLError as e:
        raise UsageError(f"spec {path} is not YAML: {e}".replace("\n", " "))
    schemas = (spec or {}).get("components", {}).get("schemas") \
        if isinstance(spec, dict) else None
    if not isinstance(schemas, dict) or not schemas:
        raise UsageError(f"spec {path} has no components/schemas")
    return spec


# Keywords whose value is one schema, a list of schemas, or a name -> schema map.
_ONE = ("items", "additionalProperties", "not", "additionalItems")
_LIST = ("allOf", "anyOf", "oneOf")
_MAP = ("properties", "patternProperties", "definitions")


def to_json_schema(s):
    """An OpenAPI 3.0 schema object as plain JSON Schema draft 4 (in place).

    nullable: true becomes a type that also allows null (and null in the
    enum); where the schema has no type (a $ref, say) it is wrapped in
    anyOf [schema, null], marked so that errors can look through it."""
    if not isinstance(s, dict):
        return s
    for k in _ONE:
        if isinstance(s.get(k), dict):
            s[k] = to_json_schema(s[k])
    for k in _LIST:
        if isinstance(s.get(k), list):
            s[k] = [to_json_schema(x) for x in s[k]]
    for k in _MAP:
        if isinstance(s.get(k), dict):
            for name in s[k]:
                s[k][name] = to_json_schema(s[k][name])
    if s.pop("nullable", False) is True:
        t = s.get("type")
        if isinstance(t, str) and "$ref" not in s:
            s["type"] = [t, "null"]
            if isinstance(s.get("enum"), list) and None not in s["enum"]:
                s["enum"] = s["enum"] + [None]
        else:
            return {"anyOf": [s, {"type": "null"}], "x-nullable": True}
    return s


def json_schema_document(spec):
    """The spec with components/schemas made plain JSON Schema (a copy)."""
    doc = dict(spec)
    comps = dict(doc["components"])
    comps["schemas"] = {n: to_json_schema(copy.deepcopy(s))
                        for n, s in comps["schemas"].items()}
    doc["components"] = comps
    return doc


# --- formats ------------------------------------------------------------------

_INT_RANGES = {
    "int8": (-2**7, 2**7 - 1), "uint8": (0, 2**8 - 1),
    "int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1),
    "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1),
    "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1),
}


def format_checker():
    """Integer formats only; every other format, known or not, is ignored."""
    fc = jsonschema.FormatChecker(formats=())
    for name, (lo, hi) in _INT_RANGES.items():
        def check(instance, lo=lo, hi=hi):
            if isinstance(instance, bool) or not isinstance(instance, int):
                return True  # not an integer: "type" says so, if it matters
            return lo <= instance <= hi
        fc.checks(name)(check)
    return fc


# --- the document -------------------------------------------------------------

class _Object(dict):
    """A JSON object that remembers the keys it had more than once."""
    duplicates = ()


def _object(pairs):
    obj = _Object()
    dups = []
    for k, v in pairs:
        if k in obj and k not in dups:
            dups.append(k)
        obj[k] = v
    if dups:
        obj.duplicates = dups
    return obj


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def read_document(path):
    """(document, None) or (None, why it is not JSON)."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 (byte {e.start})"
    if not text.strip():
        return None, "empty, not JSON"
    try:
        return json.loads(text, object_pairs_hook=_object,
                          parse_constant=_no_constant), None
    except ValueError as e:
        return None, f"not JSON: {e}"


def duplicate_keys(doc, path=()):
    if isinstance(doc, dict):
        for k in getattr(doc, "duplicates", ()):
            yield path, f"key {k!r} appears more than once"
        for k, v in doc.items():
            yield from duplicate_keys(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from duplicate_keys(v, path + (i,))


# --- reporting ------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(path):
    out = "$"
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _IDENT.match(p):
            out += "." + p
        else:
            out += "[" + json.dumps(p) + "]"
    return out


def leaf_errors(err):
    """err, or what went wrong inside a nullable wrapper, for a non-null value."""
    if (err.validator == "anyOf" and isinstance(err.schema, dict)
            and err.schema.get("x-nullable") and err.context):
        for sub in err.context:
            if sub.relative_schema_path and sub.relative_schema_path[0] == 0:
                yield from leaf_errors(sub)
        return
    yield err


def short(msg):
    msg = " ".join(msg.split())
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE - 3] + "..."


def validate(spec, name, doc):
    """[(path, message)] for doc against components/schemas/name."""
    root = json_schema_document(spec)
    # The root is the whole document, so "#/components/..." resolves in it;
    # with "$ref" at the root, draft 4 ignores every other key there.
    root["$ref"] = "#/components/schemas/" + name
    validator = jsonschema.Draft4Validator(root, format_checker=format_checker())
    problems = [(tuple(p), m) for p, m in duplicate_keys(doc)]
    for err in validator.iter_errors(doc):
        for leaf in leaf_errors(err):
            problems.append((tuple(leaf.absolute_path), leaf.message))

    def key(problem):
        return ([(isinstance(p, str), str(p) if isinstance(p, str) else p)
                 for p in problem[0]], problem[1])
    return sorted(set(problems), key=key)


# --- the command ----------------------------------------------------------------

def close_names(name, names):
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    for n in names:
        if n not in close and (n.lower() == name.lower() or
                               (len(name) >= 3 and name.lower() in n.lower())):
            close.append(n)
    return close


def main(argv):
    ap = argparse.ArgumentParser(
        prog="check_schema.py",
        usage="%(prog)s SPEC.yaml SCHEMA FILE.json  |  %(prog)s --list SPEC.yaml",
        description="Validate a JSON document (FILE, '-' for stdin) against "
                    "#/components/schemas/SCHEMA of an OpenAPI 3.0 SPEC.")
    ap.add_argument("--list", action="store_true", help="print the schema names")
    ap.add_argument("spec", metavar="SPEC.yaml")
    ap.add_argument("schema", metavar="SCHEMA", nargs="?")
    ap.add_argument("file", metavar="FILE.json", nargs="?")
    args = ap.parse_args(argv)
    if args.list and args.schema is not None:
        ap.error("--list takes only SPEC.yaml")
    if not args.list and args.file is None:
        ap.error("SPEC.yaml, SCHEMA and FILE.json are all needed")

    try:
        spec = load_spec(args.spec)
        schemas = spec["components"]["schemas"]
        if args.list:
            for n in sorted(schemas):
                print(n)
            return 0
        if args.schema not in schemas:
            close = close_names(args.schema, sorted(schemas))
            hint = ("close names: " + ", ".join(close)) if close else \
                f"none close; --list shows all {len(schemas)}"
            raise UsageError(f"no schema {args.schema!r} in {args.spec}; {hint}")
        doc, why = read_document(args.file)
    except UsageError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 2

    if why is not None:
        problems = [((), why)]
    else:
        try:
            problems = validate(spec, args.schema, doc)
        except jsonschema.exceptions.RefResolutionError as e:
            sys.stderr.write(f"{PROG}: spec {args.spec}: {e}\n")
            return 2
    if problems:
        for path, msg in problems:
            print(f"{args.schema}: {json_path(path)}: {short(msg)}")
        return 1
    print(f"ok: {args.schema}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
