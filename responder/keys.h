/*
 * The Redis key scheme, in one place.  Every key is built here from values
 * that were validated first (issuer names by ocsp_issuer_name_valid(),
 * serials in canonical form); callers pass keys as binary-safe arguments.
 *
 *   P:events                 stream, field "e" = protobuf Event
 *   P:cert:ISSUER:SERIAL     protobuf CertRecord
 *   P:ocsp:ISSUER:SERIAL     string: the pre-signed responses for both
 *                            CertID hashes, without certs, of the SHA-256
 *                            one only its signature; their status and
 *                            times; versioned (stored.h)
 *   P:due:ISSUER             zset serial -> unix time of next work
 *   P:revoked:ISSUER:SHARD   hash serial -> protobuf CertRecord
 *   P:revlog:ISSUER:SHARD    string: the hash's changes, appended (revlog.h)
 *   P:changes:ISSUER         zset serial -> unix ms of last CRL change
 *   P:history:ISSUER:SERIAL  list of protobuf HistoryEntry: the events the
 *                            signer applied, newest last, the newest
 *                            OCSP_HISTORY_MAX kept (history.h); deleted
 *                            with the record
 *   P:crlnumber:ISSUER       integer, only ever raised (crlgen/crl_gen.c)
 *   P:crlgen-lease:ISSUER    string: the id of the generator holding the
 *                            issuer's CRL lease, with a time to live
 *   P:crlgen-state:ISSUER    hash: what the CRLs last published cover
 *                            (crlgen/crl_state.h), written under the lease
 *   P:revlog:ISSUER:SHARD:rebuild:PID:MS
 *                            string: a revoked log being rebuilt aside (by
 *                            process PID, started at MS), renamed over the
 *                            log when whole; with a time to live
 *   P:invalidate             pub/sub channel: "ISSUER:SERIAL" of every
 *                            certificate whose answer a committed signer
 *                            transaction changed (ocsp_cert_ref())
 *   P:purge                  stream, field "c" = "ISSUER:SERIAL": the CDN
 *                            purges still to run (purge.h), consumer
 *                            group "purger"
 *
 * Nothing else builds a key: a new key gets its builder here and a line
 * above.
 */
#ifndef REVOCA_KEYS_H
#define REVOCA_KEYS_H

#include <stddef.h>

/* Room for the longest key of the scheme. */
#define OCSP_KEY_MAX 192

/* The name of a certStatus OCSP_CERT_GOOD..UNKNOWN (response.h): "good",
 * "revoked", "unknown" (and "unknown" for any other value), as the CLI
 * prints a stored response's. */
const char *ocsp_status_field(int status);

/* Stream field holding the encoded Event. */
#define OCSP_STREAM_FIELD "e"

/*
 * Each writes the key and its NUL into buf (size OCSP_KEY_MAX) and returns
 * its length, or -1 if it would not fit.
 */
int ocsp_key_events(char *buf, const char *prefix);
int ocsp_key_cert(char *buf, const char *prefix, const char *issuer,
                  const char *serial);
int ocsp_key_ocsp(char *buf, const char *prefix, const char *issuer,
                  const char *serial);
/* The SCAN MATCH pattern of every P:cert:ISSUER:SERIAL of ISSUER (the
 * prefix's glob characters escaped), and in *serial_at where a matching
 * key's serial starts.  Its length, or -1. */
int ocsp_key_cert_match(char *buf, const char *prefix, const char *issuer,
                        size_t *serial_at);
int ocsp_key_due(char *buf, const char *prefix, const char *issuer);
int ocsp_key_revoked(char *buf, const char *prefix, const char *issuer,
                     unsigned shard);
int ocsp_key_revlog(char *buf, const char *prefix, const char *issuer,
                    unsigned shard);
int ocsp_key_changes(char *buf, const char *prefix, const char *issuer);
int ocsp_key_history(char *buf, const char *prefix, const char *issuer,
                     const char *serial);
int ocsp_key_crlnumber(char *buf, const char *prefix, const char *issuer);
/* P:import:ISSUER:KIND:H, H the first 16 octets of SHA-256(SOURCE) in hex:
 * what an importer of KIND ("cfssl", "crl") last reported from SOURCE (a
 * database's real path, a CRL's file or URL), so that a restart resumes. */
int ocsp_key_import(char *buf, const char *prefix, const char *issuer,
                    const char *kind, const char *source);
int ocsp_key_crl_lease(char *buf, const char *prefix, const char *issuer);
int ocsp_key_crl_state(char *buf, const char *prefix, const char *issuer);
/* The fields of P:crlgen-state:ISSUER, in this order: written by crlgen
 * under its lease (crlgen/crl_state.c), read by `revoca health` and the
 * signer's metrics (health.c). */
enum {
    OCSP_CRLST_FULL_NUMBER,
    OCSP_CRLST_FULL_THIS_UPDATE,
    OCSP_CRLST_FULL_CUTOFF_MS,
    OCSP_CRLST_FULL_MAX_MS,
    OCSP_CRLST_DELTA_NUMBER,
    OCSP_CRLST_DELTA_THIS_UPDATE,
    OCSP_CRLST_DELTA_BASE,
    OCSP_CRLST_DELTA_MAX_MS,
    OCSP_CRLST_FULL_NEXT_UPDATE,
    OCSP_CRLST_DELTA_NEXT_UPDATE,
    OCSP_CRLST_N
};
extern const char *const ocsp_crl_state_fields[OCSP_CRLST_N];
int ocsp_key_revlog_rebuild(char *buf, const char *prefix, const char *issuer,
                            unsigned shard, long pid, long ms);
int ocsp_key_invalidate(char *buf, const char *prefix);
int ocsp_key_purge(char *buf, const char *prefix);

/* Stream field of a purge job (P:purge). */
#define OCSP_PURGE_FIELD "c"

/*
 * "ISSUER:SERIAL" (canonical lower-case hex serial, serial.h): how one
 * certificate is named in an invalidation message (P:invalidate, the
 * contract with the nginx module, which drops its cached answers for it)
 * and in a purge job.  Written with its NUL into buf (OCSP_KEY_MAX);
 * returns its length, or -1.
 */
int ocsp_cert_ref(char *buf, const char *issuer, const char *serial);

/*
 * Reads the LEN bytes at P as ocsp_cert_ref() writes them: a valid issuer
 * name, ':', a canonical serial, nothing else.  Writes both with their NUL
 * into issuer (OCSP_ISSUER_NAME_MAX + 1) and serial (OCSP_SERIAL_HEX_MAX +
 * 1).  0, or -1 (nothing else is promised about the outputs).
 */
int ocsp_cert_ref_parse(const char *p, size_t len, char *issuer, char *serial);

#endif
