// One fetch with Jakarta Mail's POP3 provider, for tests/interop/run.sh,
// which compiles it at test time against Debian's libjakarta-mail-java.
//
//   java JakartaFetch MODE PORT USER PASSWORD WHICH STORE UIDS CA
//
// MODE is plain, stls or pop3s; WHICH is keep (fetch only the messages
// whose UIDL is not in the file UIDS, leave everything on the server, add
// the new UIDLs to UIDS) or all (fetch everything, then delete it with
// setFlag(DELETED) and close(true), which sends DELE and QUIT). It logs
// in with USER and PASS in clear text and with AUTH PLAIN under TLS. Each
// message is written with writeTo, as the provider received it, to a file
// of its own in the Maildir STORE. With TLS the server's certificate must
// verify against the PEM file CA and nothing else, and must name
// localhost.
//
// It checks what a Jakarta Mail application relies on: getSize is the
// size LIST gave less the header's, the octets writeTo writes are the
// size LIST gave, and getSubject, which the provider fetches with
// TOP n 0 before the message, is the Subject of the message RETR sent.
// Exits with status 1 and one line on standard error on any failure.

import com.sun.mail.pop3.POP3Folder;
import jakarta.mail.Flags;
import jakarta.mail.Folder;
import jakarta.mail.Message;
import jakarta.mail.Session;
import jakarta.mail.Store;
import jakarta.mail.internet.MimeMessage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class JakartaFetch {
    public static void main(String[] args) throws Exception {
        if (args.length != 8) {
            fail("usage: JakartaFetch MODE PORT USER PASSWORD WHICH STORE UIDS CA");
        }
        String mode = args[0], port = args[1], user = args[2], password = args[3], which = args[4];
        Path store = Path.of(args[5]), uidsFile = Path.of(args[6]), ca = Path.of(args[7]);
        boolean keep = which.equals("keep");

        Properties props = new Properties();
        String protocol = mode.equals("pop3s") ? "pop3s" : "pop3";
        String prefix = "mail." + protocol + ".";
        // The provider's own check of the server's name reads only the
        // certificate's DNS names, never its IP addresses; "localhost" is
        // 127.0.0.1, the JVM being told to use IPv4 alone.
        props.put(prefix + "host", "localhost");
        props.put(prefix + "port", port);
        props.put(prefix + "connectiontimeout", "20000");
        props.put(prefix + "timeout", "20000");
        if (!mode.equals("plain")) {
            props.put(prefix + "ssl.socketFactory", trusting(ca).getSocketFactory());
            props.put(prefix + "ssl.checkserveridentity", "true");
            // A failure with this factory must not be retried with the JVM's.
            props.put(prefix + "socketFactory.fallback", "false");
        }
        if (mode.equals("stls")) {
            props.put(prefix + "starttls.enable", "true");
            props.put(prefix + "starttls.required", "true");
        }
        // By default the provider logs in with USER and PASS (its "LOGIN");
        // under TLS it is told to use SASL PLAIN (RFC 5034 AUTH) instead.
        if (!mode.equals("plain")) {
            props.put(prefix + "auth.mechanisms", "PLAIN");
        }
        Session session = Session.getInstance(props);
        session.setDebug(System.getenv("JAKARTA_DEBUG") != null);

        Set<String> seen = new HashSet<>();
        if (Files.exists(uidsFile)) {
            seen.addAll(Files.readAllLines(uidsFile));
        }

        Store mailStore = session.getStore(protocol);
        mailStore.connect(user, password);
        POP3Folder inbox = (POP3Folder) mailStore.getFolder("INBOX");
        inbox.open(Folder.READ_WRITE);
        Message[] messages = inbox.getMessages();
        int[] listed = inbox.getSizes();
        if (listed.length != messages.length) {
            fail("getSizes gave " + listed.length + " sizes for " + messages.length + " messages");
        }
        for (int i = 0; i < messages.length; i++) {
            MimeMessage message = (MimeMessage) messages[i];
            String uid = inbox.getUID(message);
            if (uid == null) {
                fail("no UIDL for message " + message.getMessageNumber());
            }
            if (keep && seen.contains(uid)) {
                continue;
            }
            // Headers first, as a mail reader's list does: TOP n 0.
            String subject = message.getSubject();
            int size = message.getSize();
            ByteArrayOutputStream raw = new ByteArrayOutputStream();
            message.writeTo(raw);
            byte[] octets = raw.toByteArray();
            if (octets.length != listed[i]) {
                fail(uid + ": writeTo wrote " + octets.length + " octets, LIST said " + listed[i]);
            }
            int header = headerLength(octets);
            if (size != listed[i] - header) {
                fail(uid + ": getSize is " + size + ", LIST less the header is " + (listed[i] - header));
            }
            String retrSubject = new MimeMessage(session, new ByteArrayInputStream(octets)).getSubject();
            if (subject == null ? retrSubject != null : !subject.equals(retrSubject)) {
                fail(uid + ": TOP gave the subject " + subject + ", RETR " + retrSubject);
            }
            Files.write(Files.createTempFile(store.resolve("new"), "jakarta.", ""), octets);
            if (keep) {
                Files.write(uidsFile, List.of(uid), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            } else {
                message.setFlag(Flags.Flag.DELETED, true);
            }
        }
        // close(true) expunges: DELE for each message flagged, then QUIT.
        inbox.close(!keep);
        mailStore.close();
    }

    /** The octets before the empty line that ends the header, that line included. */
    static int headerLength(byte[] octets) {
        for (int i = 0; i + 3 < octets.length; i++) {
            if (octets[i] == '\r' && octets[i + 1] == '\n' && octets[i + 2] == '\r' && octets[i + 3] == '\n') {
                return i + 4;
            }
        }
        return octets.length;
    }

    /** A TLS context that trusts the certificates in the PEM file CA and no others. */
    static SSLContext trusting(Path ca) throws Exception {
        KeyStore trusted = KeyStore.getInstance(KeyStore.getDefaultType());
        trusted.load(null, null);
        try (InputStream in = new FileInputStream(ca.toFile())) {
            int n = 0;
            for (var certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                trusted.setCertificateEntry("ca" + n++, certificate);
            }
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trusted);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        return context;
    }

    static void fail(String why) {
        System.err.println("JakartaFetch: " + why);
        System.exit(1);
    }
}
