package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxSecretFile is the largest certificate, key, credentials or nkey file
// Load reads: such files are a few KB.
const maxSecretFile = 1 << 20

// bus decodes one entry of services.buses at p.
func (d *decoder) bus(p string, n *yaml.Node) Bus {
	var b Bus
	set := d.mapping(p, n, map[string]field{
		"driver":      into(&b.Driver, d.oneOf("nats")),
		"url":         into(&b.URL, d.busURL),
		"tls":         func(p string, v *yaml.Node) { b.TLS = d.busTLS(p, v) },
		"credentials": into(&b.Credentials, d.text("a file path")),
		"nkey":        into(&b.NKey, d.text("a file path")),
		"token": into(&b.Token, func(p string, n *yaml.Node) (Secret, bool) {
			s, ok := d.text("a token")(p, n)
			return Secret(s), ok
		}),
		"user":     into(&b.User, d.text("a user name")),
		"storeDir": into(&b.StoreDir, d.text("a directory path")),
		"password": into(&b.Password, func(p string, n *yaml.Node) (Secret, bool) {
			s, ok := d.text("a password")(p, n)
			return Secret(s), ok
		}),
	})
	d.required(p, set, map[string]string{
		"driver": `use "nats"`,
		"url":    `use "embedded" or nats:// URLs`,
	})
	d.busAuth(p, b)
	return b
}

// text returns a parser of any scalar, described as want in messages.
func (d *decoder) text(want string) func(string, *yaml.Node) (string, bool) {
	return func(p string, n *yaml.Node) (string, bool) { return d.scalar(p, n, want) }
}

// busTLS decodes services.buses.<name>.tls. insecureSkipVerify is refused
// with a reason rather than as an unknown key.
func (d *decoder) busTLS(p string, n *yaml.Node) BusTLS {
	var t BusTLS
	fields := map[string]field{
		"ca":         into(&t.CA, d.text("a file path")),
		"cert":       into(&t.Cert, d.text("a file path")),
		"key":        into(&t.Key, d.text("a file path")),
		"serverName": into(&t.ServerName, d.serverName),
	}
	d.pairs(p, n, `a mapping like { ca: ca.pem } (a tls:// URL alone already turns TLS on)`, func(kp string, k, v *yaml.Node) {
		f, ok := fields[k.Value]
		switch {
		case strings.EqualFold(k.Value, "insecureSkipVerify") || strings.EqualFold(k.Value, "insecure"):
			d.add(kp, "is not supported: mega always verifies the NATS servers' certificates; set tls.ca to the CA that signed them, and tls.serverName if they do not carry the host of the URL")
		case !ok:
			d.unknownKey(kp, k.Value, []string{"ca", "cert", "key", "serverName"})
		case !isNull(v):
			f(kp, v)
		}
	})
	return t
}

// serverName parses the name the servers' certificates must carry.
func (d *decoder) serverName(p string, n *yaml.Node) (string, bool) {
	s, ok := d.scalar(p, n, "a host name")
	if !ok || s == "" || net.ParseIP(s) != nil {
		return s, ok
	}
	if strings.ContainsAny(s, "/:@") || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		d.add(p, "must be a host name like \"nats.internal\", without scheme, port or spaces, got %q", s)
		return "", false
	}
	return s, true
}

// busAuth checks the TLS and authentication settings of the bus b at p
// against each other, against its URL, and on disk.
func (d *decoder) busAuth(p string, b Bus) {
	type setting struct{ key, value string }
	auth := []setting{
		{"credentials", b.Credentials},
		{"nkey", b.NKey},
		{"token", string(b.Token)},
		{"user", b.User},
		{"password", string(b.Password)},
	}
	if b.Embedded() {
		why := `the in-process server of url "embedded" listens on 127.0.0.1 without TLS or authentication; remove it, or set url to your NATS servers`
		if b.TLS.Enabled() {
			d.add(p+".tls", "%s", "is not used with url: embedded: "+why)
		}
		for _, s := range auth {
			if s.value != "" {
				d.add(p+"."+s.key, "%s", "is not used with url: embedded: "+why)
			}
		}
		return
	}
	if b.StoreDir != "" {
		d.add(p+".storeDir", "%s", `is only for url: embedded; an external NATS keeps JetStream's files where its own config says (jetstream { store_dir: ... })`)
	}

	// One way to authenticate: the first one set wins the blame.
	method := func(key string) string {
		if key == "password" {
			return "user"
		}
		return key
	}
	first := ""
	for _, s := range auth {
		switch {
		case s.value == "":
		case first == "" || method(s.key) == first:
			first = method(s.key)
		case first == "credentials":
			d.add(p+"."+s.key, "cannot be used with credentials: the credentials file already identifies the user (its JWT and nkey seed); remove one of them")
		default:
			d.add(p+"."+s.key, "cannot be used with %s: a connection authenticates one way; keep one of credentials, nkey, token or user and password", first)
		}
	}
	switch {
	case b.User != "" && b.Password == "":
		d.add(p+".password", "is required with user")
	case b.User == "" && b.Password != "":
		d.add(p+".user", "is required with password")
	}
	if userInfo := urlUserInfo(b.URL); userInfo != "" {
		for _, key := range []string{"credentials", "nkey"} {
			if (key == "credentials" && b.Credentials != "") || (key == "nkey" && b.NKey != "") {
				d.add(p+"."+key, "cannot be used with the %s in url; remove it from the URL", userInfo)
			}
		}
	}

	t := b.TLS
	switch {
	case t.Cert != "" && t.Key == "":
		d.add(p+".tls.key", "is required with tls.cert: the file with the client certificate's private key")
	case t.Cert == "" && t.Key != "":
		d.add(p+".tls.cert", "is required with tls.key: the file with the client certificate")
	}
	if t.CA != "" {
		if data, ok := d.readFile(p+".tls.ca", t.CA); ok && !x509.NewCertPool().AppendCertsFromPEM(data) {
			d.add(p+".tls.ca", "file %q holds no PEM certificate; want the CA certificate that signed the NATS servers' certificates (-----BEGIN CERTIFICATE-----)", t.CA)
		}
	}
	var certData, keyData []byte
	if t.Cert != "" {
		certData = d.clientCert(p+".tls.cert", t.Cert)
	}
	if t.Key != "" {
		if data, ok := d.readFile(p+".tls.key", t.Key); ok {
			if block := findPEM(data, "PRIVATE KEY"); block == nil {
				d.add(p+".tls.key", "file %q holds no PEM private key; want the client certificate's key (-----BEGIN PRIVATE KEY-----)", t.Key)
			} else {
				keyData = data
			}
		}
	}
	if certData != nil && keyData != nil {
		if _, err := tls.X509KeyPair(certData, keyData); err != nil {
			d.add(p+".tls.key", "file %q is not the key of the certificate in tls.cert (%q): %s", t.Key, t.Cert, strings.TrimPrefix(err.Error(), "tls: "))
		}
	}
	if b.Credentials != "" {
		if data, ok := d.readFile(p+".credentials", b.Credentials); ok {
			if msg := checkCreds(data); msg != "" {
				d.add(p+".credentials", "file %q %s; want the user's .creds file from nsc or nats (-----BEGIN NATS USER JWT----- ... -----BEGIN USER NKEY SEED-----)", b.Credentials, msg)
			}
		}
	}
	if b.NKey != "" {
		if data, ok := d.readFile(p+".nkey", b.NKey); ok {
			if msg := checkSeed(data); msg != "" {
				d.add(p+".nkey", "file %q %s", b.NKey, msg)
			}
		}
	}
}

// urlUserInfo says what the first URL of list that carries credentials
// carries: "user and password", "token", or "" for none.
func urlUserInfo(list string) string {
	for part := range strings.SplitSeq(list, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			return "user and password"
		}
		return "token"
	}
	return ""
}

// clientCert reads and checks the client certificate file at the key p.
// It returns the file's content when it holds a usable certificate.
func (d *decoder) clientCert(p, file string) []byte {
	data, ok := d.readFile(p, file)
	if !ok {
		return nil
	}
	block := findPEM(data, "CERTIFICATE")
	if block == nil {
		d.add(p, "file %q holds no PEM certificate; want the client certificate (-----BEGIN CERTIFICATE-----)", file)
		return nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		d.add(p, "file %q holds a certificate that cannot be parsed: %s", file, err)
		return nil
	}
	if time.Now().After(cert.NotAfter) {
		d.add(p, "the certificate in %q expired on %s; the servers will refuse it", file, cert.NotAfter.UTC().Format(time.DateOnly))
		return nil
	}
	return data
}

// findPEM returns the first PEM block of data whose type ends with suffix
// ("CERTIFICATE", "PRIVATE KEY"), or nil.
func findPEM(data []byte, suffix string) *pem.Block {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil
		}
		if strings.HasSuffix(block.Type, suffix) {
			return block
		}
	}
}

// linesWith counts the lines of data that start with prefix, ignoring
// surrounding spaces.
func linesWith(data []byte, prefix string) int {
	n := 0
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte(prefix)) {
			n++
		}
	}
	return n
}

// checkCreds says what is wrong with the content of a credentials file,
// or "". It checks the shape only; the bus parses the file when it
// connects.
func checkCreds(data []byte) string {
	switch {
	case !bytes.Contains(data, []byte("-----BEGIN")) || linesWith(data, "eyJ") == 0:
		return "holds no user JWT"
	case linesWith(data, "SU") == 0:
		return "holds a JWT but no user nkey seed (a line starting with SU)"
	}
	return ""
}

// checkSeed says what is wrong with the content of an nkey seed file, or "".
func checkSeed(data []byte) string {
	switch {
	case linesWith(data, "eyJ") > 0:
		return "holds a JWT too: it is a credentials file; set it as credentials instead of nkey"
	case linesWith(data, "SU") > 0:
		return ""
	case linesWith(data, "SO") > 0 || linesWith(data, "SA") > 0:
		return "holds an operator or account seed; want a user seed (a line starting with SU, from nk -gen user)"
	}
	return "holds no nkey seed; want a user seed (a line starting with SU, from nk -gen user)"
}

// readFile reads a certificate, key, credentials or nkey file named by the
// value of the key p, reporting why it cannot. Only regular files of at
// most 1 MiB are read.
func (d *decoder) readFile(p, file string) ([]byte, bool) {
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add(p, "file %q does not exist%s", file, whereHint(file))
	case err != nil:
		d.add(p, "cannot read %q: %s", file, pathErr(err))
	case fi.IsDir():
		d.add(p, "%q is a directory; want a file", file)
	case !fi.Mode().IsRegular():
		d.add(p, "%q is not a regular file", file)
	case fi.Size() == 0:
		d.add(p, "file %q is empty", file)
	case fi.Size() > maxSecretFile:
		d.add(p, "file %q is %d bytes; a certificate, key or credentials file is a few KB (at most 1MiB)", file, fi.Size())
	default:
		f, err := os.Open(file)
		if err != nil {
			d.add(p, "cannot read %q: %s", file, pathErr(err))
			return nil, false
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxSecretFile))
		if err != nil {
			d.add(p, "cannot read %q: %s", file, pathErr(err))
			return nil, false
		}
		return data, true
	}
	return nil, false
}

// pathErr returns the reason of a file error without the repeated path.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// whereHint says where a missing relative file was looked for.
func whereHint(file string) string {
	switch {
	case strings.HasPrefix(file, "~"):
		return ` (~ is not expanded; write "${HOME}/` + strings.TrimLeft(strings.TrimPrefix(file, "~"), `/\`) + `")`
	case filepath.IsAbs(file):
		return ""
	}
	if wd, err := os.Getwd(); err == nil {
		return " (relative paths are from the working directory, " + wd + ")"
	}
	return " (relative paths are from the working directory)"
}
