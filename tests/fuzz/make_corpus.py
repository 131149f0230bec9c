#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz (corpus/NAME/seed-*), by hand-made
DER, protobuf and libconfig text: no key, no certificate, nothing secret.

    tests/fuzz/make_corpus.py          # rewrites every seed-* file

Inputs of crashes found are added beside the seeds as crash-* files (kept
forever: fuzz.replay.NAME replays them); this script leaves those alone.
"""
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


# --- DER ------------------------------------------------------------------
def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def integer(v):
    return tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big",
                                signed=True))


SHA1 = tlv(0x06, bytes.fromhex("2b0e03021a"))
SHA256 = tlv(0x06, bytes.fromhex("608648016503040201"))
NONCE_OID = tlv(0x06, bytes.fromhex("2b06010505073001 02".replace(" ", "")))
NAME = seq(tlv(0x31, seq(tlv(0x06, bytes.fromhex("550403")),
                         tlv(0x0c, b"Fuzz CA"))))
KEY = bytes(range(65))


def certid(alg, serial):
    h = hashlib.sha1 if alg is SHA1 else hashlib.sha256
    return seq(seq(alg, tlv(0x05, b"")), tlv(0x04, h(NAME).digest()),
               tlv(0x04, h(KEY).digest()), integer(serial))


def request(singles, exts=b"", before=b""):
    tbs = before + seq(*[seq(c) for c in singles])
    if exts:
        tbs += tlv(0xa2, seq(exts))
    return seq(seq(tbs))


def nonce_ext(n):
    return seq(NONCE_OID, tlv(0x04, tlv(0x04, b"\x5a" * n)))


def requests():
    one = certid(SHA1, 0x1234)
    yield "sha1", request([one])
    yield "sha256", request([certid(SHA256, 0x7f)])
    yield "nonce", request([one], nonce_ext(32))
    yield "two", request([one, certid(SHA256, 2 ** 159 - 1)])
    crit = seq(tlv(0x06, bytes.fromhex("2a0304")), tlv(0x01, b"\xff"),
               tlv(0x04, b"\x05\x00"))
    yield "critical-ext", request([one], crit)
    yield "requestor", request([one], before=tlv(0xa1, tlv(0xa4, NAME)))
    yield "version", request([one], before=tlv(0xa0, integer(0)))
    # BER-only forms of the first one: the decoder must refuse them
    good = request([one])
    yield "ber-indefinite", b"\x30\x80" + good[2:] + b"\x00\x00"
    yield "ber-long-length", b"\x30\x81" + good[1:]


# --- protobuf (revocation.proto) ----------------------------------------
def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pv(field, v):
    return varint(field << 3) + varint(v)


def pb(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def event(kind_field, kind, serial="1a2b"):
    return (pb(1, "0123456789abcdef0123456789abcdef") + pb(2, "demo") +
            pb(3, serial) + pv(4, 1700000000) + pb(kind_field, kind))


def events():
    yield "issued", event(5, pv(1, 1700000000) + pv(2, 1800000000))
    yield "issued-shard", event(5, pv(1, 1700000000) + pv(2, 1800000000) +
                                pv(3, 3) + pb(4, b"\x30\x03\x02\x01\x01"))
    yield "revoked", event(6, pv(1, 1700000100))
    yield "revoked-kc", event(6, pv(1, 1700000100) + pv(2, 1) +
                              pv(3, 1690000000))
    yield "hold", event(7, pv(1, 1700000200) + pv(2, 1690000000))
    yield "release", event(8, pv(1, 1700000300))


def histories():
    """HistoryEntry (revocation.proto): stream id, event id, kind,
    reported, at, ..., origin."""
    head = pb(1, "1700000000000-0") + pb(2, "0123456789abcdef")
    origin = pb(9, pb(1, "cli") + pb(2, "ca@host") + pb(3, "/var/index.txt"))
    yield "issued", head + pv(3, 1) + pv(4, 1700000000) + \
        pv(5, 1690000000) + pv(6, 1800000000) + origin + pv(10, 1700000001)
    yield "revoked", head + pv(3, 2) + pv(4, 1700000000) + \
        pv(5, 1700000000) + pv(7, 1) + pv(8, 1690000000) + origin
    yield "hold", head + pv(3, 3) + pv(4, 1700000000) + pv(5, 1700000000)
    yield "release", head + pv(3, 4) + pv(4, 1700000000) + pv(5, 1700000000)


def records():
    yield "good", pb(1, "1a2b") + pv(2, 0) + pv(3, 1700000000) + \
        pv(4, 1800000000) + pv(5, 2) + pv(10, 1700000000)
    yield "revoked", pb(1, "1a2b") + pv(2, 1) + pv(4, 1800000000) + \
        pv(6, 1700000100) + pv(7, 1) + pv(8, 1690000000)
    yield "held", pb(1, "ff") + pv(2, 2) + pv(4, 1800000000) + \
        pv(6, 1700000200) + pv(7, 6) + pv(9, 1690000000)
    yield "unissued", pb(1, "7") + pv(2, 0)
    # unknown fields of each wire type: protobuf-c keeps them, and so must
    # the hand-written decoder (issue 10)
    yield "unknown-fields", pb(1, "1a2b") + pv(2, 0) + pv(11, 5) + \
        varint(12 << 3 | 1) + bytes(8) + pb(13, b"ab") + \
        varint(15 << 3 | 5) + bytes(4) + pv(4, 1800000000)


# --- revoked log (revlog.h) ---------------------------------------------
def revlog_rec(serial, value=None):
    s = serial.encode()
    if value is None:
        return b"D" + bytes([len(s)]) + b"\0\0" + s
    return b"A" + bytes([len(s)]) + struct.pack(">H", len(value)) + s + value


def revlogs():
    header = b"RVLOG\x01\x00\x00" + bytes(range(8))
    rebuilt = b"RVLOG\x01\x00\x01" + bytes(range(8, 16))
    recs = dict(records())
    yield "started", header + revlog_rec("1a2b", recs["revoked"]) + \
        revlog_rec("ff", recs["held"]) + revlog_rec("1a2b")
    yield "rebuilt", rebuilt + revlog_rec("ff", recs["held"])
    yield "cut", header + revlog_rec("1a2b", recs["revoked"])[:-3]
    yield "header-only", header


# --- configuration (docs/configuration.md) ------------------------------
CONF = """redis = { host = "127.0.0.1"; port = 6380; db = 0; };
prefix = "revoca";
signer = { batch = 256; claim_idle = "30s"; };
issuers = (
  {
    name = "demo";
    cert = "demo/issuer.pem";
    key = "demo/issuer.key";
    responder_cert = "demo/responder.pem";
    responder_key = "demo/responder.key";
    profile = "private";
    validity = "4d";
    resign_after = "2d";
    backdate = "1h";
    unissued = "unknown";
    expired_retention = "7d";
    shards = 4;
  }
);
"""


def configs():
    yield "dev", CONF
    yield "minimal", 'issuers = ( { name = "a"; cert = "/ca.pem"; } );\n'
    yield "cabf-socket", """redis = { host = "/run/redis.sock"; user = "u";
  password = "p"; };
issuers = ( { name = "ca-1"; cert = "ca.pem"; profile = "cabf";
  validity = "7d"; resign_after = "3d"; unissued = "revoked"; },
  { name = "ca-2"; cert = "ca2.pem"; unissued = "unauthorized";
    validity = 86400; backdate = 600; } );
"""


def ders():
    """Values of every universal type and form der_read_strict() knows."""
    yield "request", request([certid(SHA1, 0x1234)], nonce_ext(16))
    yield "long-lengths", seq(tlv(0x04, b"x" * 200), tlv(0x04, b"y" * 300))
    yield "types", seq(tlv(0x01, b"\xff"), integer(-129), tlv(0x05, b""),
                       tlv(0x03, b"\x03\xa8"), SHA256, tlv(0x0a, b"\x01"),
                       tlv(0x31, integer(1) + integer(2)),
                       tlv(0xa0, integer(0)), tlv(0x80, b"\x01\x02"),
                       tlv(0x18, b"20500101000000Z"))
    yield "ber-indefinite", b"\x30\x80\x05\x00\x00\x00"
    yield "ber-constructed", tlv(0x24, tlv(0x04, b"ab") + tlv(0x04, b"cd"))


# the issuer of fuzz_stored.c: made-up CertID hashes and responder key id
STORED_HASHES = {"sha1": (SHA1, b"\x21" * 20, b"\x22" * 20),
                 "sha256": (SHA256, b"\x31" * 32, b"\x32" * 32)}


def stored_response(hash="sha1", key_id=b"\x11" * 20, sig=72, certs=b"",
                    name=False, singles=1):
    """A cert-less OCSPResponse of the signer's shape (stored.h)."""
    alg, nh, kh = STORED_HASHES[hash]
    basic_oid = tlv(0x06, bytes.fromhex("2b0601050507300101"))
    rid = tlv(0xa1, NAME) if name else tlv(0xa2, tlv(0x04, key_id))
    cid = seq(seq(alg, tlv(0x05, b"")), tlv(0x04, nh), tlv(0x04, kh),
              integer(0x1234))
    single = seq(cid, tlv(0x80, b""), tlv(0x18, b"20261201000000Z"),
                 tlv(0xa0, tlv(0x18, b"20261202000000Z")))
    tbs = seq(rid, tlv(0x18, b"20261201010000Z"), seq(*[single] * singles))
    alg = seq(tlv(0x06, bytes.fromhex("2a8648ce3d040302")))
    basic = seq(tbs, alg, tlv(0x03, b"\x00" + b"\x5a" * sig), certs)
    return seq(tlv(0x0a, b"\x00"),
               tlv(0xa0, seq(basic_oid, tlv(0x04, basic))))


def stored_value(r, sig=tlv(0x03, b"\x00" + b"\x6b" * 71), status=0,
                 this=1764547200, next_=1764633600, version=1):
    return (bytes([version, status]) + struct.pack(">qq", this, next_) +
            struct.pack(">H", len(r)) + r + sig)


def storeds():
    """Values of P:ocsp:ISSUER:SERIAL (stored.h), as the signer writes them
    and as it does not."""
    r = stored_response()
    yield "good", stored_value(r)
    yield "revoked", stored_value(r, status=1)
    yield "long-signatures", stored_value(stored_response(sig=256),
                                          tlv(0x03, b"\x00" + b"\x6b" * 512))
    yield "with-certs", stored_value(
        stored_response(certs=tlv(0xa0, seq(seq(b"\x01" * 300)))))
    yield "by-name", stored_value(stored_response(name=True))
    yield "other-key", stored_value(stored_response(key_id=b"\x12" * 20))
    yield "two-singles", stored_value(stored_response(singles=2))
    yield "sha256-stored", stored_value(stored_response(hash="sha256"))
    yield "sig-not-bit-string", stored_value(r, sig=tlv(0x04, b"\x00"))
    yield "version-2", stored_value(r, version=2)
    yield "times-reversed", stored_value(r, this=2, next_=1)
    yield "error-response", stored_value(b"\x30\x03\x0a\x01\x03")


def ingests():
    ev = '{"kind":"%s","issuer":"ca-1","serial":"0a:BC"%s}'
    yield "issue", ev % ("issue", ',"not_after":1800000000,"shard":3')
    yield "revoke", ev % ("revoke", ',"reason":"keyCompromise","id":"e1",'
                          '"time":1700000100,"invalidity_date":1699999000')
    yield "hold", ev % ("hold", "")
    yield "release", ev % ("release", ',"wait":true')
    yield "array", "[" + ev % ("hold", "") + "," + ev % ("release", "") + "]"
    yield "events", '{"wait":true,"events":[' + ev % ("hold", "") + "]}"
    yield "bad-reason", ev % ("revoke", ',"reason":"certificateHold"')
    yield "certificate", ('{"kind":"issue","issuer":"ca-1","certificate":%s}'
                          % json.dumps(pem(certificate())))


# A certificate by hand (RFC 5280 4.1): P-256's generator as the key (a
# valid point, no private key anyone holds), a signature of no one.
P256_G = bytes.fromhex(
    "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
ECDSA_SHA256 = seq(tlv(0x06, bytes.fromhex("2a8648ce3d040302")))


def certificate(serial=0x1f2e):
    spki = seq(seq(tlv(0x06, bytes.fromhex("2a8648ce3d0201")),
                   tlv(0x06, bytes.fromhex("2a8648ce3d030107"))),
               tlv(0x03, b"\x00" + P256_G))
    validity = seq(tlv(0x17, b"231114221320Z"), tlv(0x17, b"231115221320Z"))
    tbs = seq(tlv(0xa0, integer(2)), integer(serial), ECDSA_SHA256, NAME,
              validity, NAME, spki)
    return seq(tbs, ECDSA_SHA256,
               tlv(0x03, b"\x00" + seq(integer(1), integer(1))))


def pem(der):
    import base64
    b = base64.b64encode(der).decode()
    return ("-----BEGIN CERTIFICATE-----\n" +
            "".join(b[i:i + 64] + "\n" for i in range(0, len(b), 64)) +
            "-----END CERTIFICATE-----\n")


def certs():
    import base64
    der = certificate()
    yield "der", der
    yield "pem", pem(der)
    yield "base64", base64.b64encode(der)
    yield "zero-serial", certificate(0)


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.unlink(os.path.join(d, f))
    for label, data in seeds:
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, "seed-" + label), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("fuzz_request", requests())
    write("fuzz_event", events())
    write("fuzz_record", records())
    write("fuzz_history", histories())
    write("fuzz_revlog", revlogs())
    write("fuzz_config", configs())
    write("fuzz_der", ders())
    write("fuzz_stored", storeds())
    write("fuzz_ingest_json", ingests())
    write("fuzz_cert_parse", certs())
