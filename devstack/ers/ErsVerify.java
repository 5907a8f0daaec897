// An independent check of our RFC 4998 evidence records with Bouncy Castle's org.bouncycastle.tsp.ers.
// Usage: java -cp 'LIBS/*' ErsVerify.java CA.pem DATA1 ERS1 [DATA2 ERS2 ...]
// Prints "OK <ers>" or "FAIL <ers>: <reason>" per record; exit code 0 only when every record is OK.
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Date;

import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.ers.ERSByteData;
import org.bouncycastle.tsp.ers.ERSEvidenceRecord;

public class ErsVerify {
    public static void main(String[] args) throws Exception {
        X509CertificateHolder ca;
        try (PEMParser pem = new PEMParser(new FileReader(args[0]))) {
            ca = (X509CertificateHolder) pem.readObject();
        }
        int failed = 0;
        for (int i = 1; i + 1 < args.length; i += 2) {
            try {
                check(ca, Files.readAllBytes(Path.of(args[i])), Files.readAllBytes(Path.of(args[i + 1])));
                System.out.println("OK " + args[i + 1]);
            } catch (Exception e) {
                failed++;
                System.out.println("FAIL " + args[i + 1] + ": " + e);
            }
        }
        System.exit(failed == 0 ? 0 : 1);
    }

    static void check(X509CertificateHolder ca, byte[] data, byte[] ers) throws Exception {
        ERSEvidenceRecord record = new ERSEvidenceRecord(ers, new JcaDigestCalculatorProviderBuilder().build());
        record.validatePresent(new ERSByteData(data), new Date());
        X509CertificateHolder signer = record.getSigningCertificate();
        if (signer == null) {
            throw new IllegalStateException("no signing certificate in the time-stamp");
        }
        if (!signer.isSignatureValid(new JcaContentVerifierProviderBuilder().build(ca))) {
            throw new IllegalStateException("the TSA certificate is not signed by the CA");
        }
        record.validate(new JcaSimpleSignerInfoVerifierBuilder().build(signer));
    }
}
