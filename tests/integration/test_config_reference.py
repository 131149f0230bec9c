"""The configuration reference cannot drift from the code (issue 15 part
4): every key a component accepts, read from the key lists the code hands
to ocsp_conf_known() (which refuses any other key), is documented in the
reference, and a new key list fails here until it is given its section."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (file, function) of each ocsp_conf_known() call -> where its keys are
# documented: ("config", "redis.") wants `redis.KEY` in
# docs/configuration.md; ("config-table", SECTION) and ("crl", SECTION)
# want a table row "| `KEY`" in that section of docs/configuration.md or
# docs/crl.md.
SECTIONS = {
    ("responder/config.c", "conf_pkcs11"): ("config", "pkcs11."),
    ("responder/config.c", "conf_issuer"): ("config-table", "## Issuers"),
    ("responder/config.c", "conf_redis"): ("config", "redis."),
    ("responder/config.c", "ocsp_config_load"): ("top", None),
    ("responder/purge.c", "ocsp_purge_conf_load"): ("config", "purge."),
    ("responder/signer.c", "signer_init"): ("config", "signer."),
    ("crlgen/crl_conf.c", "crl_issuer"): ("crl", "inside the issuer"),
    ("crlgen/crl_conf.c", "crl_conf_load"): ("crl", "top-level"),
    ("feeds/cli.c", "cli_settings"): ("config", "cli."),
    ("responder/audit_checkpoint.c", "audit_conf_read"): ("config", "audit."),
}
SOURCES = sorted({f for f, _ in SECTIONS} | {
    os.path.relpath(os.path.join(d, n), ROOT)
    for sub in ("responder", "crlgen", "feeds")
    for d, _, names in os.walk(os.path.join(ROOT, sub))
    for n in names if n.endswith(".c")})

FUNC = re.compile(r"^[A-Za-z_][\w \*]*?\b(\w+)\(")


def key_lists():
    """(file, function, [keys]) for each ocsp_conf_known() call."""
    out = []
    for f in SOURCES:
        src = open(os.path.join(ROOT, f)).read()
        lines = src.split("\n")
        for m in re.finditer(r"ocsp_conf_known\(\s*[^,]+,\s*(\w+)", src):
            if m.group(1) == "const":
                continue  # the function's own definition
            at = src[:m.start()].count("\n")
            fn = None
            for i in range(at, -1, -1):
                line = lines[i]
                fm = FUNC.match(line)
                if fm and not line.rstrip().endswith(";"):
                    fn = fm.group(1)
                    break
            # the array's definition: the nearest one above the call
            defs = [d for d in re.finditer(
                r"static const char \*const %s\[\]\s*=\s*\{(.*?)\}" %
                m.group(1), src, re.S) if d.start() < m.start()]
            assert defs, "%s: %s: no definition of %s" % (f, fn, m.group(1))
            keys = re.findall(r'"([^"]+)"', defs[-1].group(1))
            out.append((f, fn, keys))
    return out


def section(text, heading):
    """The part of TEXT from the heading containing HEADING to the next
    heading of the same level."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#") and heading.lower() in line.lower():
            level = len(line) - len(line.lstrip("#"))
            body = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("#") and \
                        len(nxt) - len(nxt.lstrip("#")) <= level:
                    break
                body.append(nxt)
            return "\n".join(body)
    raise AssertionError("no heading containing %r" % heading)


def test_every_key_list_has_a_section():
    found = {(f, fn) for f, fn, _ in key_lists()}
    unmapped = found - set(SECTIONS)
    assert not unmapped, ("key lists with no reference section (map them "
                          "in SECTIONS and document their keys): %s" %
                          sorted(unmapped))
    gone = set(SECTIONS) - found
    assert not gone, "SECTIONS names key lists that are gone: %s" % gone


def test_every_key_is_documented():
    conf = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    crl = open(os.path.join(ROOT, "docs", "crl.md")).read()
    missing = []
    for f, fn, keys in key_lists():
        kind, where = SECTIONS[(f, fn)]
        for k in keys:
            if kind == "config":
                ok = "`%s%s`" % (where, k) in conf
            elif kind == "config-table":
                ok = re.search(r"^\|[^|]*`%s`" % re.escape(k),
                               section(conf, where), re.M) is not None
            elif kind == "crl":
                ok = re.search(r"^\|[^|]*`%s`" % re.escape(k),
                               section(crl, where), re.M) is not None
            else:  # top level: a key of its own or a group of keys
                ok = "`%s`" % k in conf or "`%s." % k in conf
            if not ok:
                missing.append("%s (%s, %s)" % (k, f, fn))
    assert not missing, "undocumented configuration keys: %s" % missing


def test_the_check_can_fail():
    """A key that is surely not documented is reported (the check sees)."""
    conf = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    assert "`redis.no_such_key_ever`" not in conf
    assert re.search(r"^\|[^|]*`no_such_key_ever`",
                     section(conf, "## Issuers"), re.M) is None


def test_every_nginx_directive_is_documented():
    """The module's directives (its ngx_command_t table) each have their
    entry in docs/nginx.md (a "### revoca_x" heading, or named in one)."""
    src = "".join(open(os.path.join(ROOT, "ngx_module", n)).read()
                  for n in os.listdir(os.path.join(ROOT, "ngx_module"))
                  if n.endswith(".c"))
    names = set(re.findall(r'\{\s*ngx_string\("(revoca_\w+)"\)', src))
    assert len(names) > 10, names
    doc = open(os.path.join(ROOT, "docs", "nginx.md")).read()
    headings = [l for l in doc.split("\n") if l.startswith("###")]
    missing = sorted(n for n in names
                     if not any(re.search(r"\b%s\b" % n, h) for h in headings))
    assert not missing, "directives without an entry in docs/nginx.md: %s" % missing
