/*
 * A judge we did not write the checks of: Java 17's PKIX CertPathValidator
 * with its PKIXRevocationChecker, as every Java TLS client runs it.  Checks
 * LEAF (issued by ISSUER under the trust anchor ROOT) by OCSP alone or by
 * CRLs alone and prints one line:
 *
 *   good
 *   revoked reason=KEY_COMPROMISE date=2026-12-01T19:00:00Z
 *   unknown <Java's message>          (revocation status undetermined)
 *   error <Java's message>            (anything else: exit 1)
 *
 *   java RevocaJudge ocsp|crl ROOT.pem ISSUER.pem LEAF.pem [RESPONDER_URL]
 *
 * OCSP goes to RESPONDER_URL if given, else to the leaf's AIA; CRLs come from
 * the leaf's cRLDistributionPoints, which Java fetches only with
 * -Dcom.sun.security.enableCRLDP=true.  Only the leaf is checked
 * (ONLY_END_ENTITY): the demo CAs carry no revocation pointers.
 */
import java.io.FileInputStream;
import java.net.URI;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateRevokedException;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;

public class RevocaJudge {
    static X509Certificate load(CertificateFactory cf, String path)
            throws Exception {
        try (FileInputStream in = new FileInputStream(path)) {
            return (X509Certificate) cf.generateCertificate(in);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4 || !(args[0].equals("ocsp")
                                 || args[0].equals("crl"))) {
            System.err.println("usage: RevocaJudge ocsp|crl ROOT ISSUER LEAF"
                               + " [RESPONDER_URL]");
            System.exit(2);
        }
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        X509Certificate root = load(cf, args[1]);
        X509Certificate issuer = load(cf, args[2]);
        X509Certificate leaf = load(cf, args[3]);
        CertPath path = cf.generateCertPath(List.of(leaf, issuer));

        CertPathValidator cpv = CertPathValidator.getInstance("PKIX");
        PKIXRevocationChecker rc =
            (PKIXRevocationChecker) cpv.getRevocationChecker();
        EnumSet<PKIXRevocationChecker.Option> opts = EnumSet.of(
            PKIXRevocationChecker.Option.ONLY_END_ENTITY,
            PKIXRevocationChecker.Option.NO_FALLBACK);
        if (args[0].equals("crl")) {
            opts.add(PKIXRevocationChecker.Option.PREFER_CRLS);
        } else if (args.length > 4) {
            rc.setOcspResponder(new URI(args[4]));
        }
        rc.setOptions(opts);

        PKIXParameters params = new PKIXParameters(
            Collections.singleton(new TrustAnchor(root, null)));
        params.setRevocationEnabled(false); /* only our checker */
        params.addCertPathChecker(rc);
        try {
            cpv.validate(path, params);
            System.out.println("good");
        } catch (CertPathValidatorException e) {
            Throwable c = e.getCause();
            if (e.getReason()
                    == CertPathValidatorException.BasicReason.REVOKED
                && c instanceof CertificateRevokedException) {
                CertificateRevokedException r = (CertificateRevokedException) c;
                System.out.println("revoked reason=" + r.getRevocationReason()
                                   + " date="
                                   + r.getRevocationDate().toInstant());
            } else if (e.getReason() == CertPathValidatorException.BasicReason
                                            .UNDETERMINED_REVOCATION_STATUS) {
                System.out.println("unknown " + e.getMessage());
            } else {
                System.out.println("error " + e.getReason() + " "
                                   + e.getMessage());
                System.exit(1);
            }
        }
    }
}
