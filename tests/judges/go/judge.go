// A judge we did not write the checks of: Go's golang.org/x/crypto/ocsp and
// crypto/x509, as Kubernetes tooling, cert-manager, Caddy and most Go TLS
// servers use them.  It prints what Go makes of a response or a CRL as one
// JSON object on stdout; a response or CRL Go rejects exits 1 with Go's error
// in "error".
//
//	judge ocsp RESPONSE.der LEAF.pem ISSUER.pem
//	judge fetch URL LEAF.pem ISSUER.pem sha1|sha256   (POSTs Go's request)
//	judge crl CRL.der ISSUER.pem
//
// Built offline from Debian's packages (tests/judges/judges.py):
// GO111MODULE=off GOPATH=/usr/share/gocode go build -o judge judge.go
package main

import (
	"bytes"
	"crypto"
	_ "crypto/sha1"
	_ "crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/ocsp"
)

func loadCert(path string) *x509.Certificate {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		fail(fmt.Errorf("%s: %v", path, err))
	}
	return c
}

func emit(v map[string]interface{}) {
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
}

func fail(err error) {
	emit(map[string]interface{}{"error": err.Error()})
	os.Exit(1)
}

func stamp(t time.Time) interface{} {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

var statusName = map[int]string{ocsp.Good: "good", ocsp.Revoked: "revoked",
	ocsp.Unknown: "unknown"}

func judgeResponse(der []byte, leaf, issuer *x509.Certificate) {
	r, err := ocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		fail(err)
	}
	v := map[string]interface{}{
		"status":       statusName[r.Status],
		"serial":       r.SerialNumber.Text(16),
		"produced_at":  stamp(r.ProducedAt),
		"this_update":  stamp(r.ThisUpdate),
		"next_update":  stamp(r.NextUpdate),
		"revoked_at":   stamp(r.RevokedAt),
		"responder_id": hex.EncodeToString(r.ResponderKeyHash),
		"issuer_hash":  r.IssuerHash.String(),
		"embedded":     nil,
	}
	if r.Status == ocsp.Revoked {
		v["reason"] = r.RevocationReason
	}
	if r.Certificate != nil {
		// Go checked that the embedded certificate signed the response and
		// that the issuer signed it; the rest (RFC 6960 4.2.2.2) is the
		// caller's: a delegate must be issued by the CA and carry
		// id-kp-OCSPSigning.
		ocspSigning := false
		for _, u := range r.Certificate.ExtKeyUsage {
			ocspSigning = ocspSigning || u == x509.ExtKeyUsageOCSPSigning
		}
		v["embedded"] = map[string]interface{}{
			"subject":      r.Certificate.Subject.String(),
			"ocsp_signing": ocspSigning,
			"is_issuer":    bytes.Equal(r.Certificate.Raw, issuer.Raw),
		}
	}
	emit(v)
}

func fetch(url string, leaf, issuer *x509.Certificate, hash string) []byte {
	opts := &ocsp.RequestOptions{Hash: crypto.SHA1}
	if hash == "sha256" {
		opts.Hash = crypto.SHA256
	}
	req, err := ocsp.CreateRequest(leaf, issuer, opts)
	if err != nil {
		fail(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(url, "application/ocsp-request",
		bytes.NewReader(req))
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		fail(fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	return body
}

// RFC 5280 5.3.1: the reasonCode entry extension.
var oidReason = asn1.ObjectIdentifier{2, 5, 29, 21}

func judgeCRL(der []byte, issuer *x509.Certificate) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		fail(err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		fail(fmt.Errorf("signature: %v", err))
	}
	revoked := []map[string]interface{}{}
	for _, rc := range crl.RevokedCertificates {
		e := map[string]interface{}{
			"serial": rc.SerialNumber.Text(16),
			"time":   stamp(rc.RevocationTime),
		}
		for _, ext := range rc.Extensions {
			if ext.Id.Equal(oidReason) {
				var reason asn1.Enumerated
				if _, err := asn1.Unmarshal(ext.Value, &reason); err != nil {
					fail(fmt.Errorf("reasonCode: %v", err))
				}
				e["reason"] = int(reason)
			}
		}
		revoked = append(revoked, e)
	}
	v := map[string]interface{}{
		"issuer":      crl.Issuer.String(),
		"this_update": stamp(crl.ThisUpdate),
		"next_update": stamp(crl.NextUpdate),
		"revoked":     revoked,
	}
	if crl.Number != nil {
		v["number"] = crl.Number.String()
	}
	emit(v)
}

func main() {
	a := os.Args
	switch {
	case len(a) == 5 && a[1] == "ocsp":
		der, err := os.ReadFile(a[2])
		if err != nil {
			fail(err)
		}
		judgeResponse(der, loadCert(a[3]), loadCert(a[4]))
	case len(a) == 6 && a[1] == "fetch":
		leaf, issuer := loadCert(a[3]), loadCert(a[4])
		judgeResponse(fetch(a[2], leaf, issuer, a[5]), leaf, issuer)
	case len(a) == 4 && a[1] == "crl":
		der, err := os.ReadFile(a[2])
		if err != nil {
			fail(err)
		}
		judgeCRL(der, loadCert(a[3]))
	default:
		fmt.Fprintln(os.Stderr, "usage: judge ocsp RESP LEAF ISSUER | "+
			"fetch URL LEAF ISSUER sha1|sha256 | crl CRL ISSUER")
		os.Exit(2)
	}
}
