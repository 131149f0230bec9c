"""The list of log messages in docs/messages.md cannot drift from the code
(issue 15 part 3): every message at warning level and above that a
component can log is documented there, and a new one fails here until it is.

What counts as a message at warning and above:
  - the daemons and the core (responder/, crlgen/, feeds/):
    ocsp_log(OCSP_LOG_WARN | OCSP_LOG_ERR, FORMAT, ...);
  - the nginx module (ngx_module/): ngx_log_error(), ngx_conf_log_error()
    and ngx_ssl_error() at NGX_LOG_WARN, NGX_LOG_ERR, NGX_LOG_CRIT, NGX_LOG_ALERT or
    NGX_LOG_EMERG.

How a message is matched: FORMAT is read from the C source (adjacent string
literals concatenated, however the call is split over lines; a macro between
literals such as PRIu64 counts as part of a conversion), nginx's "revoca: "
prefix is dropped, whitespace is collapsed, and every printf conversion
(%s, %.*s, %zu, nginx's %V, %ui, %uz, %O, ...) becomes a wildcard. The
result must match, whole, one entry of docs/messages.md: a list item that
starts with the message in backticks, where each conversion is written as an
UPPERCASE placeholder, e.g.

    - `redis lost host=HOST port=PORT err="WHY" ...` (**warn**) ...

(the "revoca: " prefix may be shown or left out; a trailing " ..." in the
entry stands for any fields that follow). So a new message, or a changed
fixed text of an old one, fails until docs/messages.md has its entry; and an
entry that matches no message (removed, renamed) fails too.

Calls whose format is not a fixed text (a variable, a conditional, or only
"%s" passing on a message made elsewhere) cannot be matched this way; they
are listed in COMPUTED below with the reason, and docs/messages.md documents
where their text comes from (the entries named in COMPUTED). An entry in
COMPUTED that no longer matches a call fails too, so the list stays exact.

Not covered here: what the daemons and the CLI print to stderr before they
exit (usage, start-up and CLI errors); docs/messages.md describes those by
class and exit status, in items that do not start with a backtick.
"""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "messages.md")

# (name of the logging call, index of its level argument, index of its
# format argument, levels at warning and above, source directories)
LOGGERS = [
    ("ocsp_log", 0, 1, {"OCSP_LOG_WARN", "OCSP_LOG_ERR"},
     ("responder", "crlgen", "feeds")),
    ("ngx_log_error", 0, 3,
     {"NGX_LOG_WARN", "NGX_LOG_ERR", "NGX_LOG_CRIT", "NGX_LOG_ALERT",
      "NGX_LOG_EMERG"}, ("ngx_module",)),
    ("ngx_conf_log_error", 0, 3,
     {"NGX_LOG_WARN", "NGX_LOG_ERR", "NGX_LOG_CRIT", "NGX_LOG_ALERT",
      "NGX_LOG_EMERG"}, ("ngx_module",)),
    # nginx's logger that appends OpenSSL's error queue
    ("ngx_ssl_error", 0, 3,
     {"NGX_LOG_WARN", "NGX_LOG_ERR", "NGX_LOG_CRIT", "NGX_LOG_ALERT",
      "NGX_LOG_EMERG"}, ("ngx_module",)),
]
LOWER_LEVELS = {"OCSP_LOG_DEBUG", "OCSP_LOG_INFO", "NGX_LOG_INFO",
                "NGX_LOG_NOTICE", "NGX_LOG_DEBUG", "NGX_LOG_DEBUG_HTTP",
                "NGX_LOG_DEBUG_EVENT", "NGX_LOG_DEBUG_CORE"}

# (file, format argument as written, whitespace collapsed) -> (why it is
# not matched, the docs/messages.md entries that document its texts).
EXPIRY = ["responder certificate near its expiry issuer=ISSUER not_after=TIME",
          "responder certificate expired, signing refused issuer=ISSUER "
          "not_after=TIME"]
COMPUTED = {
    ("responder/log.c", "level"):
        ("ocsp_log_openssl(): the level and the text are its caller's, and "
         "it has no caller", []),
    ("responder/signer.c", '"%s"'):
        ("the responder certificate expiry line made by "
         "ocsp_registry_expiry_due() (issuer.c)", EXPIRY),
    ("ngx_module/ngx_http_revoca_lookup.c", '"revoca: %s"'):
        ("the same expiry line, logged by each worker", EXPIRY),
    ("ngx_module/ngx_http_revoca_module.c", '"revoca: %s"'):
        ("the error of ocsp_config_load() for revoca_config, passed on",
         ["WHY"]),
    ("ngx_module/ngx_http_revoca_module.c", '"revoca: %V: %s"'):
        ("the registry's error (issuer certificate, key, token) after the "
         "file's name", ["FILE: WHY"]),
    ("ngx_module/ngx_http_revoca_module.c", '"%s in \\"%V\\""'):
        ("nginx's own URL parser error (ngx_parse_url) for revoca_redis",
         ['WHY in "ADDRESS"']),
}

CONVERSION = re.compile(
    r"%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?"
    r"(?:hh|h|ll|l|z|j|t|L)?"
    r"(?:u[izlLAD]?|x[iL]?|X[iL]?|[diouxXeEfgGcspVOTMNrPS])")


def split_args(src, i):
    """Top-level arguments of the call whose '(' is at src[i - 1]; returns
    (list of argument texts, index after the closing ')')."""
    args, depth, start = [], 1, i
    while depth:
        c = src[i]
        if c == '"' or c == "'":
            q = c
            i += 1
            while src[i] != q:
                i += 2 if src[i] == "\\" else 1
        elif c == "/" and src[i + 1] == "*":
            i = src.index("*/", i) + 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(src[start:i])
                return [a.strip() for a in args], i + 1
        elif c == "," and depth == 1:
            args.append(src[start:i])
            start = i + 1
        i += 1
    raise AssertionError("unbalanced call")


LITERALS = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*))\s*')


def literal_format(arg):
    """The text of a format argument made only of string literals (and
    macros such as PRIu64 between them), or None if it is computed."""
    pos, parts, seen_literal = 0, [], False
    while pos < len(arg):
        m = LITERALS.match(arg, pos)
        if not m or m.end() == pos:
            return None
        if m.group(1) is not None:
            parts.append(m.group(1))
            seen_literal = True
        else:
            parts.append("d")  # PRIu64 and friends end a conversion
        pos = m.end()
    if not seen_literal:
        return None
    text = "".join(parts)
    return re.sub(r"\\(.)", lambda e: {"n": " ", "t": " "}.get(
        e.group(1), e.group(1)), text)


def normalise(text):
    text = re.sub(r"\s+", " ", text).strip()
    if text.startswith("revoca: "):
        text = text[len("revoca: "):]
    return text


def pattern(fmt):
    """A regex matching a documented entry of the format."""
    out, pos = [], 0
    fmt = normalise(fmt.replace("%%", "\0"))
    for m in CONVERSION.finditer(fmt):
        out.append(re.escape(fmt[pos:m.start()]))
        out.append(r"\S.*?")
        pos = m.end()
    out.append(re.escape(fmt[pos:]))
    rx = "".join(out).replace("\\\0", "%").replace("\0", "%")
    rx = rx.replace(r"\ ", " ").replace(" ", r"\s+")
    return re.compile(rx + r"(?:\s+\.\.\.)?\Z")


def fixed_text(fmt):
    return CONVERSION.sub("", normalise(fmt)).strip(" :")


def messages():
    """(file, line, level, format argument as written, format text or None)
    for each call at warning and above."""
    out = []
    for name, li, fi, levels, dirs in LOGGERS:
        call = re.compile(r"\b%s\s*\(" % name)
        for d in dirs:
            for path in sorted(glob.glob(os.path.join(ROOT, d, "*.c"))):
                rel = os.path.relpath(path, ROOT)
                src = open(path).read()
                for m in call.finditer(src):
                    line = src.count("\n", 0, m.start()) + 1
                    before = src[src.rfind("\n", 0, m.start()) + 1:m.start()]
                    if re.search(r"\b(void|static|int)\b", before):
                        continue  # its definition or a prototype
                    args, _ = split_args(src, m.end())
                    level = args[li]
                    if level in LOWER_LEVELS:
                        continue
                    fmt_arg = re.sub(r"\s+", " ", args[fi]) \
                        if len(args) > fi else ""
                    if level not in levels:
                        # a computed level: must be an explained exception
                        out.append((rel, line, level, level, None))
                        continue
                    fmt = literal_format(args[fi])
                    if fmt is not None and not re.search(
                            r"[A-Za-z]{3}", fixed_text(fmt)):
                        fmt = None  # no word of its own: text made elsewhere
                    out.append((rel, line, level, fmt_arg, fmt))
    return out


def entries():
    text = open(DOC).read()
    return [normalise(e) for e in
            re.findall(r"^\s*[-*] `([^`]+)`", text, re.M)]


def test_sources_have_messages():
    found = messages()
    # the extractor must see the calls, or this test proves nothing
    assert len([f for f in found if f[0].startswith("ngx_module/")]) >= 20
    assert len([f for f in found if f[0].startswith("responder/")]) >= 30
    assert len([f for f in found if f[0].startswith("crlgen/")]) >= 15


def test_every_message_is_documented():
    docs = entries()
    missing = []
    for rel, line, level, fmt_arg, fmt in messages():
        if fmt is None:
            continue
        rx = pattern(fmt)
        if not any(rx.match(e) for e in docs):
            missing.append("%s:%d %s %s" % (rel, line, level, fmt_arg))
    assert not missing, (
        "messages at warning and above not in docs/messages.md (add a list "
        "item starting with the message in backticks, each %%-conversion as "
        "an UPPERCASE placeholder):\n  " + "\n  ".join(missing))


def test_computed_messages_are_the_listed_exceptions():
    seen, unexplained = set(), []
    for rel, line, level, fmt_arg, fmt in messages():
        if fmt is not None:
            continue
        if (rel, fmt_arg) in COMPUTED:
            seen.add((rel, fmt_arg))
        else:
            unexplained.append("%s:%d %s %s" % (rel, line, level, fmt_arg))
    assert not unexplained, (
        "calls whose message is not a fixed text: list them in COMPUTED "
        "with the reason and document their texts:\n  " +
        "\n  ".join(unexplained))
    stale = set(COMPUTED) - seen
    assert not stale, "COMPUTED entries matching no call: %s" % sorted(stale)


def test_every_entry_is_a_message():
    """No entry stays for a message the code no longer logs."""
    rxs = [pattern(fmt) for _, _, _, _, fmt in messages() if fmt is not None]
    allowed = {normalise(e) for _, es in COMPUTED.values() for e in es}
    stale = [e for e in entries()
             if e not in allowed and not any(rx.match(e) for rx in rxs)]
    assert not stale, (
        "docs/messages.md entries that match no message at warning and "
        "above in the sources (removed, renamed, or a typo):\n  " +
        "\n  ".join(stale))


def test_matching_sees_through_split_literals():
    src = 'ocsp_log(OCSP_LOG_WARN, "a b " PRIu64 "\\n"\n   "c=%s", x)'
    args, _ = split_args(src, src.index("(") + 1)
    assert literal_format(args[1]) == "a b d c=%s"
    rx = pattern('revoca: redis %V %s: "%.*s" x=%ui')
    assert rx.match('redis ADDRESS WHAT: "REPLY" x=N')
    assert rx.match('redis ADDRESS WHAT: "REPLY" x=N ...')
    assert not rx.match('redis ADDRESS WHAT: "REPLY"')
    assert not pattern("lease lost issuer=%s").match("lease gone issuer=X")
