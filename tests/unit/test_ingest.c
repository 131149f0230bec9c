/* JSON ingest bodies (responder/ingest.c): accepted shapes, and every
 * refusal naming its field. */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "event.h"
#include "ingest.h"

static int parse(const char *s, struct ocsp_ingest_batch *b,
                 struct ocsp_ingest_error *e)
{
    return ocsp_ingest_parse_json(s, strlen(s), 1700000000, b, e);
}

static void refused(const char *s, const char *field)
{
    struct ocsp_ingest_batch b;
    struct ocsp_ingest_error e;
    CHECK(parse(s, &b, &e) == -1);
    CHECK_STR(e.field, field);
    CHECK(e.reason[0] != '\0');
    CHECK(b.n == 0 && b.ev == NULL);
}

int main(void)
{
    struct ocsp_ingest_batch b;
    struct ocsp_ingest_error e;

    CHECK(parse("{\"kind\":\"revoke\",\"issuer\":\"ca-1\",\"serial\":"
                "\"0x00:0A:bc\",\"reason\":\"keyCompromise\",\"id\":\"e1\","
                "\"time\":1700000100,\"invalidity_date\":1699999000}",
                &b, &e) == 0);
    CHECK(b.n == 1 && !b.wait);
    CHECK_STR(b.ev[0]->serial, "abc");
    CHECK_STR(b.ev[0]->id, "e1");
    CHECK(b.ev[0]->kind_case == REVOCA__EVENT__KIND_REVOKED);
    CHECK(b.ev[0]->revoked->reason == REVOCA__REASON__KEY_COMPROMISE);
    CHECK(b.ev[0]->revoked->revocation_time == 1700000100);
    CHECK(b.ev[0]->revoked->has_invalidity_date);
    CHECK(b.ev[0]->origin == NULL);
    ocsp_ingest_batch_free(&b);

    CHECK(parse("{\"wait\":true,\"events\":[{\"kind\":\"issue\",\"issuer\":"
                "\"ca-1\",\"serial\":\"01\",\"not_after\":1800000000},"
                "{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"02\"},"
                "{\"kind\":\"release\",\"issuer\":\"ca-1\",\"serial\":\"2\"}]}",
                &b, &e) == 0);
    CHECK(b.n == 3 && b.wait);
    CHECK(b.ev[0]->issued->not_before == 1700000000);
    CHECK(strlen(b.ev[0]->id) == 32); /* generated */
    CHECK(b.ev[1]->kind_case == REVOCA__EVENT__KIND_HOLD);
    CHECK(b.ev[2]->kind_case == REVOCA__EVENT__KIND_RELEASE);
    ocsp_ingest_batch_free(&b);

    CHECK(parse("[{\"kind\":\"release\",\"issuer\":\"ca-1\",\"serial\":\"2\"}]",
                &b, &e) == 0);
    CHECK(b.n == 1);
    ocsp_ingest_batch_free(&b);

    refused("{", "");
    refused("[]", "events");
    refused("7", "");
    refused("[[[[[[[[[[1]]]]]]]]]]", "");
    refused("{\"kind\":\"revoke\",\"issuer\":\"ca-1\",\"serial\":\"xyz\"}",
            "events[0].serial");
    refused("{\"kind\":\"revoke\",\"issuer\":\"ca-1\",\"serial\":\"1\","
            "\"reason\":\"certificateHold\"}",
            "events[0].reason");
    refused("{\"kind\":\"issue\",\"issuer\":\"ca-1\",\"serial\":\"1\"}",
            "events[0].not_after");
    refused("{\"kind\":\"zap\",\"issuer\":\"ca-1\",\"serial\":\"1\"}",
            "events[0].kind");
    refused("{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"1\","
            "\"origin\":{}}",
            "events[0].origin");
    refused("{\"kind\":\"hold\",\"issuer\":\"BAD NAME\",\"serial\":\"1\"}",
            "events[0]");
    refused("[{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"1\"},"
            "{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"1\","
            "\"time\":-5}]",
            "events[1].time");
    /* protobuf: one packed Event, its origin dropped */
    {
        Revoca__Event ev = REVOCA__EVENT__INIT;
        Revoca__Issued is = REVOCA__ISSUED__INIT;
        Revoca__Origin og = REVOCA__ORIGIN__INIT;
        unsigned char buf[512], der[3] = {1, 2, 3};
        ev.id = "p1";
        ev.issuer = "a-1";
        ev.serial = "1f";
        ev.time = 1700000000;
        ev.kind_case = REVOCA__EVENT__KIND_ISSUED;
        ev.issued = &is;
        is.not_before = 1700000000;
        is.not_after = 1800000000;
        is.has_cert_der = 1;
        is.cert_der.data = der;
        is.cert_der.len = sizeof der;
        og.via = "cli";
        ev.origin = &og;
        size_t n = revoca__event__pack(&ev, buf);
        CHECK(ocsp_ingest_parse_pb(buf, n, &b, &e) == 0);
        CHECK(b.n == 1 && b.ev[0]->origin == NULL);
        CHECK_STR(b.ev[0]->serial, "1f");
        CHECK(b.ev[0]->issued->cert_der.len == 3 &&
              b.ev[0]->issued->cert_der.data[2] == 3);
        CHECK(ocsp_ingest_stamp(&b, "CN=ca-front sha256:ab") == 0);
        CHECK(ocsp_ingest_stamp(&b, "CN=ca-front sha256:cd") == 0);
        CHECK_STR(b.ev[0]->origin->via, "ingest");
        CHECK_STR(b.ev[0]->origin->principal, "CN=ca-front sha256:cd");
        CHECK(ocsp_event_check(b.ev[0]) == NULL);
        CHECK(ocsp_ingest_stamp(&b, "bad\nline") == -1);

        /* issuers: a-1 is configured, ca-1 is not */
        static char path[] = "/tmp/revoca-test-ingest-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs("issuers = ( { name = \"a-1\"; cert = \"ca.pem\"; } );\n", f);
        fclose(f);
        ocsp_config_t cf;
        char cerr[OCSP_ERR_MAX];
        CHECK(ocsp_config_load(&cf, path, cerr) == 0);
        CHECK(ocsp_ingest_check_issuers(&cf, &b, &e) == 0);
        ocsp_ingest_batch_free(&b);
        CHECK(parse("{\"kind\":\"hold\",\"issuer\":\"ca-1\","
                    "\"serial\":\"1\"}",
                    &b, &e) == 0);
        CHECK(ocsp_ingest_check_issuers(&cf, &b, &e) == -1);
        CHECK_STR(e.field, "events[0].issuer");
        ocsp_ingest_batch_free(&b);
        ocsp_config_free(&cf);
        unlink(path);

        CHECK(ocsp_ingest_parse_pb(buf, n - 1, &b, &e) == -1);
        CHECK_STR(e.field, "events[0]");
        CHECK(b.n == 0 && b.ev == NULL);
    }
    CHECK_DONE();
}
