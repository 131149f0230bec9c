"""An error reply is not a reason to spin: a Redis that answers LOADING
(after a restart, while it reads its AOF) to every command is treated as a
lost connection by revoca-crlgen: it backs off before it reconnects, and
the failure is logged once per interval with a count, not once per retry;
once Redis serves again, the CRLs are published."""
import re
import socket
import threading
import time

from conftest import CrlStack, wait_for
from revoca_fixtures import LoopbackListener


class LoadingRedis(LoopbackListener):
    """Answers every command with -LOADING; counts connections and
    commands (a command is one RESP array)."""

    def __init__(self):
        self.connections = 0
        self.commands = 0
        super().__init__(backlog=16)

    def accepted(self, c):
        self.connections += 1
        threading.Thread(target=self.client, args=(c,), daemon=True).start()

    def client(self, c):
        c.settimeout(0.2)
        while not self.stop:
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            n = len(re.findall(rb"(?:^|\n)\*\d+\r\n", data))
            self.commands += n
            try:
                c.sendall(b"-LOADING Redis is loading the dataset in memory\r\n"
                          * max(n, 1))
            except OSError:
                break
        c.close()


def test_loading_replies_back_off_and_log_once(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    fake = LoadingRedis()
    try:
        with open(s.conf) as f:
            conf = f.read()
        bad = conf.replace("port = %d;" % s.redis.port, "port = %d;" % fake.port)
        assert bad != conf
        bad_conf = str(tmp_path / "loading.conf")
        with open(bad_conf, "w") as f:
            f.write(bad)
        g = s.start_crlgen(conf=bad_conf)
        wait_for(lambda: fake.connections >= 3, timeout=30,
                 what="three connections (two back-offs)")
        out = g.output()
        lost = [l for l in out.splitlines() if "LOADING" in l and
                len(l.split()) > 1 and l.split()[1] in ("warn", "error")]
        # the first failure is logged; the retries within the interval are
        # counted, not logged (the interval is 10 s)
        assert len(lost) == 1, out
        assert "redis lost" in lost[0] and "reconnect in" in lost[0], out
        # each connection got one reply and was dropped: no command is
        # repeated at once on a connection that answered LOADING
        assert fake.commands <= fake.connections + 1, \
            (fake.commands, fake.connections, out)
        g.stop()

        # the same generator against the real Redis publishes
        s.start_signer()
        revoked = s.issue_revoke("revoked")
        g2 = s.start_crlgen()
        wait_for(lambda: revoked in (s.serials("demo.crl")
                                     if s.number("demo.crl") else []),
                 what="a CRL with the revoked serial")
        assert "LOADING" not in g2.output()
    finally:
        fake.close()
        s.close()
