/* JSON ingest bodies (responder/ingest.c): accepted shapes, and every
 * refusal naming its field. */
#include <string.h>

#include "check.h"
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
    CHECK_DONE();
}
