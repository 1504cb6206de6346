package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/config"
)

// busFiles writes the files a secured bus refers to into a temporary
// directory and returns it: ca.pem, cert.pem and key.pem (a client
// certificate signed by the CA and its key), other-key.pem (a key of no
// certificate), expired.pem (an expired certificate, key key.pem), and
// user.creds, user.nk and operator.nk shaped like their NATS
// counterparts.
func busFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyPEM := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	caKey, key := newKey(), newKey()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, notAfter time.Time) []byte {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "client"},
			NotBefore:    notAfter.Add(-2 * time.Hour),
			NotAfter:     notAfter,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	write("cert.pem", leaf(2, time.Now().Add(time.Hour)))
	write("expired.pem", leaf(3, time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)))
	write("key.pem", keyPEM(key))
	write("other-key.pem", keyPEM(newKey()))
	write("user.creds", []byte("-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJVQSJ9.c2ln\n------END NATS USER JWT------\n\n"+
		"-----BEGIN USER NKEY SEED-----\nSUAEXAMPLE\n------END USER NKEY SEED------\n"))
	write("user.nk", []byte("SUAEXAMPLE\n"))
	write("operator.nk", []byte("SOAEXAMPLE\n"))
	write("empty", nil)
	write("text", []byte("hello\n"))
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBusSecuritySettings(t *testing.T) {
	dir := busFiles(t)
	vars := map[string]string{"D": dir, "TOKEN": "s3cr3t-token", "PASS": "s3cr3t-pass"}
	const url = `url: "nats://n1:4222"`
	bus := func(keys string) string {
		return "services: {buses: {main: {driver: nats, " + keys + "}}}\n"
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keys string
		want []string
	}{
		// What works.
		{"private CA and client certificate", url + `, tls: {ca: "${D}/ca.pem", cert: "${D}/cert.pem", key: "${D}/key.pem", serverName: nats.internal}`, nil},
		{"CA only", `url: "tls://10.0.0.1:4222", tls: {ca: "${D}/ca.pem"}`, nil},
		{"server name only", url + `, tls: {serverName: 10.0.0.1}`, nil},
		{"credentials", url + `, credentials: "${D}/user.creds"`, nil},
		{"nkey", url + `, nkey: "${D}/user.nk"`, nil},
		{"token", url + `, token: "${TOKEN}"`, nil},
		{"user and password", url + `, user: app, password: "${PASS}"`, nil},
		{"credentials in the URL win over the keys", `url: "nats://u:p@n1:4222", user: app, password: "${PASS}"`, nil},
		{"token in the URL with a token key", `url: "nats://tok@n1:4222", token: other`, nil},
		{"empty values count as unset with embedded", `url: embedded, token: "${NO_TOKEN:-}", user: "", password: "", tls: {ca: "${NO_CA:-}"}, credentials: "", nkey: ""`, nil},

		// url: embedded.
		{"embedded refuses tls", `url: embedded, tls: {ca: "${D}/ca.pem"}`, []string{
			`services.buses.main.tls: is not used with url: embedded: the in-process server of url "embedded" listens on 127.0.0.1 without TLS or authentication; remove it, or set url to your NATS servers`}},
		{"embedded refuses every auth key, files unread", `url: embedded, credentials: nope.creds, token: t, user: u, password: p, nkey: nope.nk`, []string{
			`services.buses.main.credentials: is not used with url: embedded: the in-process server of url "embedded" listens on 127.0.0.1 without TLS or authentication; remove it, or set url to your NATS servers`,
			`services.buses.main.nkey: is not used with url: embedded: the in-process server of url "embedded" listens on 127.0.0.1 without TLS or authentication; remove it, or set url to your NATS servers`,
			`services.buses.main.password: is not used with url: embedded: the in-process server of url "embedded" listens on 127.0.0.1 without TLS or authentication; remove it, or set url to your NATS servers`,
			`services.buses.main.token: is not used with url: embedded: the in-process server of url "embedded" listens on 127.0.0.1 without TLS or authentication; remove it, or set url to your NATS servers`,
			`services.buses.main.user: is not used with url: embedded: the in-process server of url "embedded" listens on 127.0.0.1 without TLS or authentication; remove it, or set url to your NATS servers`}},

		// One way to authenticate.
		{"credentials excludes the others", url + `, credentials: "${D}/user.creds", nkey: "${D}/user.nk", token: t, user: u, password: p`, []string{
			`services.buses.main.nkey: cannot be used with credentials: the credentials file already identifies the user (its JWT and nkey seed); remove one of them`,
			`services.buses.main.password: cannot be used with credentials: the credentials file already identifies the user (its JWT and nkey seed); remove one of them`,
			`services.buses.main.token: cannot be used with credentials: the credentials file already identifies the user (its JWT and nkey seed); remove one of them`,
			`services.buses.main.user: cannot be used with credentials: the credentials file already identifies the user (its JWT and nkey seed); remove one of them`}},
		{"token and user", url + `, token: t, user: u, password: p`, []string{
			`services.buses.main.password: cannot be used with token: a connection authenticates one way; keep one of credentials, nkey, token or user and password`,
			`services.buses.main.user: cannot be used with token: a connection authenticates one way; keep one of credentials, nkey, token or user and password`}},
		{"user without password", url + `, user: u`, []string{`services.buses.main.password: is required with user`}},
		{"password without user", url + `, password: "${PASS}"`, []string{`services.buses.main.user: is required with password`}},
		{"credentials with a user in the URL", `url: "nats://n0:4222, nats://u:p@n1:4222", credentials: "${D}/user.creds"`, []string{
			`services.buses.main.credentials: cannot be used with the user and password in url; remove it from the URL`}},
		{"nkey with a token in the URL", `url: "nats://tok@n1:4222", nkey: "${D}/user.nk"`, []string{
			`services.buses.main.nkey: cannot be used with the token in url; remove it from the URL`}},

		// TLS keys.
		{"cert without key", url + `, tls: {cert: "${D}/cert.pem"}`, []string{
			`services.buses.main.tls.key: is required with tls.cert: the file with the client certificate's private key`}},
		{"key without cert", url + `, tls: {key: "${D}/key.pem"}`, []string{
			`services.buses.main.tls.cert: is required with tls.key: the file with the client certificate`}},
		{"key of another certificate", url + `, tls: {cert: "${D}/cert.pem", key: "${D}/other-key.pem"}`, []string{
			fmt.Sprintf(`services.buses.main.tls.key: file %q is not the key of the certificate in tls.cert (%q): private key does not match public key`, dir+"/other-key.pem", dir+"/cert.pem")}},
		{"expired client certificate", url + `, tls: {cert: "${D}/expired.pem", key: "${D}/key.pem"}`, []string{
			fmt.Sprintf(`services.buses.main.tls.cert: the certificate in %q expired on 2020-01-02; the servers will refuse it`, dir+"/expired.pem")}},
		{"CA that is not PEM, key that is a certificate", url + `, tls: {ca: "${D}/text", cert: "${D}/cert.pem", key: "${D}/cert.pem"}`, []string{
			fmt.Sprintf(`services.buses.main.tls.ca: file %q holds no PEM certificate; want the CA certificate that signed the NATS servers' certificates (-----BEGIN CERTIFICATE-----)`, dir+"/text"),
			fmt.Sprintf(`services.buses.main.tls.key: file %q holds no PEM private key; want the client certificate's key (-----BEGIN PRIVATE KEY-----)`, dir+"/cert.pem")}},
		{"cert that is a key", url + `, tls: {cert: "${D}/key.pem", key: "${D}/key.pem"}`, []string{
			fmt.Sprintf(`services.buses.main.tls.cert: file %q holds no PEM certificate; want the client certificate (-----BEGIN CERTIFICATE-----)`, dir+"/key.pem")}},
		{"insecureSkipVerify is refused", url + `, tls: {insecureSkipVerify: true}`, []string{
			`services.buses.main.tls.insecureSkipVerify: is not supported: mega always verifies the NATS servers' certificates; set tls.ca to the CA that signed them, and tls.serverName if they do not carry the host of the URL`}},
		{"unknown tls key", url + `, tls: {servername: x}`, []string{`services.buses.main.tls.servername: unknown key (did you mean "serverName"?)`}},
		{"tls: true", url + `, tls: true`, []string{
			`services.buses.main.tls: must be a mapping like { ca: ca.pem } (a tls:// URL alone already turns TLS on), got "true"`}},
		{"server name with a port", url + `, tls: {serverName: "nats.internal:4222"}`, []string{
			`services.buses.main.tls.serverName: must be a host name like "nats.internal", without scheme, port or spaces, got "nats.internal:4222"`}},

		// Files.
		{"missing relative file", url + `, tls: {ca: certs/ca.pem}`, []string{
			`services.buses.main.tls.ca: file "certs/ca.pem" does not exist (relative paths are from the working directory, ` + wd + `)`}},
		{"missing absolute file", url + `, credentials: "${D}/nope.creds"`, []string{
			fmt.Sprintf(`services.buses.main.credentials: file %q does not exist`, dir+"/nope.creds")}},
		{"tilde is not expanded", url + `, nkey: "~/.nkeys/app.nk"`, []string{
			`services.buses.main.nkey: file "~/.nkeys/app.nk" does not exist (~ is not expanded; write "${HOME}/.nkeys/app.nk")`}},
		{"directory and empty file", url + `, tls: {ca: "${D}/subdir"}, nkey: "${D}/empty"`, []string{
			fmt.Sprintf(`services.buses.main.nkey: file %q is empty`, dir+"/empty"),
			fmt.Sprintf(`services.buses.main.tls.ca: %q is a directory; want a file`, dir+"/subdir")}},
		{"credentials without a JWT", url + `, credentials: "${D}/user.nk"`, []string{
			fmt.Sprintf(`services.buses.main.credentials: file %q holds no user JWT; want the user's .creds file from nsc or nats (-----BEGIN NATS USER JWT----- ... -----BEGIN USER NKEY SEED-----)`, dir+"/user.nk")}},
		{"nkey that is an operator seed", url + `, nkey: "${D}/operator.nk"`, []string{
			fmt.Sprintf(`services.buses.main.nkey: file %q holds an operator or account seed; want a user seed (a line starting with SU, from nk -gen user)`, dir+"/operator.nk")}},
		{"nkey that is a credentials file", url + `, nkey: "${D}/user.creds"`, []string{
			fmt.Sprintf(`services.buses.main.nkey: file %q holds a JWT too: it is a credentials file; set it as credentials instead of nkey`, dir+"/user.creds")}},
		{"nkey that is text", url + `, nkey: "${D}/text"`, []string{
			fmt.Sprintf(`services.buses.main.nkey: file %q holds no nkey seed; want a user seed (a line starting with SU, from nk -gen user)`, dir+"/text")}},
		{"unset variable", url + `, token: "${NATS_TOKEN}"`, []string{
			`services.buses.main.token: environment variable NATS_TOKEN is not set (use ${NATS_TOKEN:-default} to give a default)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(problems(t, bus(tt.keys), vars), tt.want)
		})
	}
}

func TestBusSecuritySettingsDecoded(t *testing.T) {
	is := is.New(t)
	dir := busFiles(t)
	src := `services:
  buses:
    main:
      driver: nats
      url: "nats://n1:4222,nats://n2:4222"
      tls: { ca: "${D}/ca.pem", cert: "${D}/cert.pem", key: "${D}/key.pem", serverName: nats.internal }
      user: app
      password: "${PASS}"
    jwt: { driver: nats, url: "tls://n1:4222", credentials: "${D}/user.creds" }
    nk: { driver: nats, url: "tls://n1:4222", nkey: "${D}/user.nk" }
    tok: { driver: nats, url: "tls://n1:4222", token: "${TOKEN}" }
`
	c, err := config.Parse([]byte(src), env(map[string]string{"D": dir, "TOKEN": "s3cr3t-token", "PASS": "s3cr3t-pass"}))
	is.NoErr(err)
	is.Equal(c.Services.Buses["main"], config.Bus{
		Driver: "nats",
		URL:    "nats://n1:4222,nats://n2:4222",
		TLS:    config.BusTLS{CA: dir + "/ca.pem", Cert: dir + "/cert.pem", Key: dir + "/key.pem", ServerName: "nats.internal"},
		User:   "app", Password: "s3cr3t-pass",
	})
	is.True(c.Services.Buses["main"].TLS.Enabled())
	is.Equal(c.Services.Buses["jwt"].Credentials, dir+"/user.creds")
	is.True(!c.Services.Buses["jwt"].TLS.Enabled())
	is.Equal(c.Services.Buses["nk"].NKey, dir+"/user.nk")
	is.Equal(string(c.Services.Buses["tok"].Token), "s3cr3t-token")
}

// TestSecretsNeverPrinted: a config printed or encoded for a log line shows
// no password or token.
func TestSecretsNeverPrinted(t *testing.T) {
	is := is.New(t)
	b := config.Bus{Driver: "nats", URL: "nats://n1:4222", User: "app", Password: "s3cr3t-pass", Token: "s3cr3t-token"}
	js, err := json.Marshal(b)
	is.NoErr(err)
	for _, s := range []string{fmt.Sprintf("%v", b), fmt.Sprintf("%+v", b), fmt.Sprintf("%#v", b), fmt.Sprint(b.Password), string(js)} {
		is.True(!strings.Contains(s, "s3cr3t")) // no secret in the output
		is.True(strings.Contains(s, "xxxxx"))   // the secret is shown as set
	}
	is.Equal(config.Secret("").String(), "")
	is.Equal(string(b.Password), "s3cr3t-pass")
}

// TestLoadReportsEveryBusFileProblem: Load, as a process and mega config
// check use it, reports every file problem at once with key paths and
// lines.
func TestLoadReportsEveryBusFileProblem(t *testing.T) {
	is := is.New(t)
	dir := busFiles(t)
	path := filepath.Join(dir, "mega.yaml")
	src := fmt.Sprintf(`services:
  buses:
    main:
      driver: nats
      url: "tls://n1:4222"
      tls:
        ca: %[1]s/missing-ca.pem
        cert: %[1]s/cert.pem
      credentials: %[1]s/user.creds
      token: abc
wsCluster: { bus: main }
`, dir)
	is.NoErr(os.WriteFile(path, []byte(src), 0o600))
	c, err := config.Load(path)
	is.True(c == nil)
	is.True(errors.Is(err, config.ErrInvalid))
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		fmt.Sprintf(`services.buses.main.tls.ca: file "%s/missing-ca.pem" does not exist (line 7)`, dir),
		`services.buses.main.tls.key: is required with tls.cert: the file with the client certificate's private key (line 6)`,
		`services.buses.main.token: cannot be used with credentials: the credentials file already identifies the user (its JWT and nkey seed); remove one of them (line 10)`,
	} {
		is.True(strings.Contains(msg, want)) // every problem is listed
	}
	is.True(!strings.Contains(msg, "abc")) // the token is not shown
}

func TestBusFileNotReadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	is := is.New(t)
	dir := busFiles(t)
	is.NoErr(os.Chmod(filepath.Join(dir, "key.pem"), 0))
	got := problems(t, `services: {buses: {main: {driver: nats, url: "nats://n1:4222", tls: {cert: "${D}/cert.pem", key: "${D}/key.pem"}}}}`, map[string]string{"D": dir})
	is.Equal(got, []string{fmt.Sprintf(`services.buses.main.tls.key: cannot read %q: permission denied`, dir+"/key.pem")})
}

// TestOneFileForDevelopmentAndProduction: the bus of docs/deploy.md
// ("TLS and credentials") runs embedded when its variables are unset, and
// is a secured cluster bus when they are set.
func TestOneFileForDevelopmentAndProduction(t *testing.T) {
	const src = `services:
  buses:
    main:
      driver: nats
      url: "${NATS_URL:-embedded}"
      tls:
        ca: "${NATS_CA:-}"                    # PEM CA that signed the servers' certificates
        cert: "${NATS_CERT:-}"                # client certificate and key, if the servers
        key: "${NATS_KEY:-}"                  #   verify clients (mutual TLS)
        serverName: "${NATS_SERVER_NAME:-}"   # if the certificates do not name the URL's host
      credentials: "${NATS_CREDS:-}"          # or nkey, token, or user and password
`
	dir := busFiles(t)
	tests := []struct {
		name string
		env  map[string]string
		want config.Bus
	}{
		{"development", nil, config.Bus{Driver: "nats", URL: "embedded"}},
		{"production", map[string]string{
			"NATS_URL": "tls://nats-0.nats:4222,tls://nats-1.nats:4222", "NATS_CA": dir + "/ca.pem",
			"NATS_CERT": dir + "/cert.pem", "NATS_KEY": dir + "/key.pem", "NATS_CREDS": dir + "/user.creds",
		}, config.Bus{
			Driver: "nats", URL: "tls://nats-0.nats:4222,tls://nats-1.nats:4222",
			TLS:         config.BusTLS{CA: dir + "/ca.pem", Cert: dir + "/cert.pem", Key: dir + "/key.pem"},
			Credentials: dir + "/user.creds",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			c, err := config.Parse([]byte(src), env(tt.env))
			is.NoErr(err)
			is.Equal(c.Services.Buses["main"], tt.want)
		})
	}
}
