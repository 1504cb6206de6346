package bus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/bus"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// serverName is the only name on the test servers' certificates: the
// tests connect to 127.0.0.1, so they need tls.serverName.
const serverName = "nats.test"

// pki is a throwaway public key infrastructure written as PEM files: a
// CA, a server certificate for serverName and a client certificate signed
// by it, and a rogue CA with a client certificate of its own.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	rogueCA, rogueCert, rogueKey                     string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, block *pem.Block) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	serial := int64(0)
	// issue creates a key and a certificate from tmpl signed by parent
	// (self-signed when parent is nil), and writes both.
	issue := func(name string, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.Subject = pkix.Name{CommonName: name}
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key,
			write(name+".pem", &pem.Block{Type: "CERTIFICATE", Bytes: der}),
			write(name+"-key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	}
	caTmpl := func() *x509.Certificate {
		return &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	leaf := func(usage x509.ExtKeyUsage, dns ...string) *x509.Certificate {
		return &x509.Certificate{KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: dns}
	}
	var p pki
	ca, caKey, caFile, _ := issue("ca", caTmpl(), nil, nil)
	_, _, p.serverCert, p.serverKey = issue("server", leaf(x509.ExtKeyUsageServerAuth, serverName), ca, caKey)
	_, _, p.clientCert, p.clientKey = issue("client", leaf(x509.ExtKeyUsageClientAuth), ca, caKey)
	rogue, rogueKey, rogueFile, _ := issue("rogue-ca", caTmpl(), nil, nil)
	_, _, p.rogueCert, p.rogueKey = issue("rogue-client", leaf(x509.ExtKeyUsageClientAuth), rogue, rogueKey)
	p.ca, p.rogueCA = caFile, rogueFile
	return p
}

// startServer starts a nats-server on 127.0.0.1 with opts (a random port
// unless opts.Port is set), stopped by t.Cleanup.
func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host = "127.0.0.1"
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(wait) {
		t.Fatalf("nats-server not ready within %s", wait)
	}
	return s
}

// roundTrip checks that b can subscribe and receive what it publishes.
func roundTrip(t *testing.T, b *bus.Bus) {
	t.Helper()
	is := is.New(t)
	ch := subscribe(t, b, "mega.test.secure")
	is.NoErr(b.Conn().Publish("mega.test.secure", []byte("ok")))
	is.Equal(string(receive(t, ch).Data), "ok")
}

// openCase opens a bus with opts, bounded in time. On success it checks a
// round trip and closes the bus; on failure it returns the error.
func openCase(t *testing.T, opts bus.Options) (*bus.Bus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = wait
	}
	b, err := bus.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	roundTrip(t, b)
	return b, nil
}

// checkErr checks that err is a connect error holding every want and none
// of never.
func checkErr(t *testing.T, err error, want, never []string) {
	t.Helper()
	is := is.New(t)
	is.True(err != nil) // Open must fail
	t.Log(err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q", w)
		}
	}
	for _, n := range never {
		if strings.Contains(err.Error(), n) {
			t.Errorf("error shows %q", n)
		}
	}
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	mtls, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	secure := startServer(t, &server.Options{TLSConfig: mtls, TLSVerify: true, TLSTimeout: 2})
	plain := natstest.StartServer(t)
	good := bus.TLS{CA: p.ca, Cert: p.clientCert, Key: p.clientKey, ServerName: serverName}

	tests := []struct {
		name string
		url  string
		tls  bus.TLS
		want []string // in the error; none: Open succeeds
	}{
		{"private CA, client certificate and server name", secure.ClientURL(), good, nil},
		{"tls:// URL", strings.Replace(secure.ClientURL(), "nats://", "tls://", 1), good, nil},
		{"no TLS settings: the URL's host is not on the certificate", secure.ClientURL(), bus.TLS{}, []string{
			"x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
			"the servers' certificate is for nats.test, not for the host in the URL: use that name in services.buses.main.url, or set services.buses.main.tls.serverName to it"}},
		{"server name only: the server's CA is unknown", secure.ClientURL(), bus.TLS{ServerName: serverName}, []string{
			"x509: certificate signed by unknown authority",
			"set services.buses.main.tls.ca to the CA certificate that signed it"}},
		{"the wrong CA", secure.ClientURL(), bus.TLS{CA: p.rogueCA, Cert: p.clientCert, Key: p.clientKey, ServerName: serverName}, []string{
			"x509: certificate signed by unknown authority",
			"the servers' certificate is not signed by the CA in services.buses.main.tls.ca (" + p.rogueCA + ")"}},
		{"no server name: localhost is not on the certificate", strings.Replace(secure.ClientURL(), "127.0.0.1", "localhost", 1), bus.TLS{CA: p.ca, Cert: p.clientCert, Key: p.clientKey}, []string{
			"x509: certificate is valid for nats.test, not localhost",
			"the servers' certificate is for nats.test, not for the host in the URL",
			"set services.buses.main.tls.serverName to it"}},
		{"no client certificate", secure.ClientURL(), bus.TLS{CA: p.ca, ServerName: serverName}, []string{
			"the server ended the TLS session: it wants a client certificate (mutual TLS); set services.buses.main.tls.cert and .tls.key"}},
		{"a client certificate of another CA", secure.ClientURL(), bus.TLS{CA: p.ca, Cert: p.rogueCert, Key: p.rogueKey, ServerName: serverName}, []string{
			"the server ended the TLS session: it refused the client certificate in services.buses.main.tls.cert (" + p.rogueCert + ")"}},
		{"TLS settings for a server without TLS", natstest.URL(plain), good, []string{
			"nats: secure connection not available",
			"the server does not offer TLS: remove services.buses.main.tls, or enable TLS on the servers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			start := time.Now()
			b, err := openCase(t, bus.Options{URL: tt.url, BusName: "main", TLS: tt.tls})
			if tt.want == nil {
				is.NoErr(err)
				state, err := b.Conn().TLSConnectionState()
				is.NoErr(err)
				is.True(state.HandshakeComplete)
				is.Equal(len(state.VerifiedChains), 1) // the server was verified
				return
			}
			is.True(errors.Is(err, bus.ErrConnect))
			checkErr(t, err, tt.want, nil)
			is.True(time.Since(start) < wait) // it fails at once, not at the timeout
		})
	}
}

// creds is a throwaway decentralized-auth setup: an operator, an account
// it signed, and a user of the account, as nsc would make them.
type creds struct {
	operator         string // public key
	account, acctJWT string // public key and JWT
	userCreds        string // path of the user's .creds file
	strangerCreds    string // a user of an account the server does not know
}

func newCreds(t *testing.T) creds {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, err := okp.PublicKey()
	must(err)
	// account signs a new account with the operator key.
	account := func() (nkeys.KeyPair, string, string) {
		akp, err := nkeys.CreateAccount()
		must(err)
		apub, err := akp.PublicKey()
		must(err)
		ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
		must(err)
		return akp, apub, ajwt
	}
	// user writes the .creds file of a new user of the account akp.
	user := func(name string, akp nkeys.KeyPair) string {
		ukp, err := nkeys.CreateUser()
		must(err)
		upub, err := ukp.PublicKey()
		must(err)
		ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
		must(err)
		seed, err := ukp.Seed()
		must(err)
		data, err := jwt.FormatUserConfig(ujwt, seed)
		must(err)
		path := filepath.Join(dir, name+".creds")
		must(os.WriteFile(path, data, 0o600))
		return path
	}
	akp, apub, ajwt := account()
	other, _, _ := account()
	return creds{operator: opub, account: apub, acctJWT: ajwt, userCreds: user("app", akp), strangerCreds: user("stranger", other)}
}

// seedFile writes a new user nkey seed and returns its path and public key.
func seedFile(t *testing.T, dir, name string) (path, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ = kp.PublicKey()
	seed, _ := kp.Seed()
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pub
}

func TestAuthentication(t *testing.T) {
	const token, password = "tok-s3cr3t", "pw-s3cr3t"
	tokenSrv := startServer(t, &server.Options{Authorization: token})
	userSrv := startServer(t, &server.Options{Username: "app", Password: password})
	dir := t.TempDir()
	nkeyFile, nkeyPub := seedFile(t, dir, "app.nk")
	otherNKey, _ := seedFile(t, dir, "other.nk")
	nkeySrv := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: nkeyPub}}})
	c := newCreds(t)
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(c.account, c.acctJWT); err != nil {
		t.Fatal(err)
	}
	jwtSrv := startServer(t, &server.Options{TrustedKeys: []string{c.operator}, AccountResolver: resolver})
	withUser := func(s *server.Server, userinfo string) string {
		return strings.Replace(s.ClientURL(), "nats://", "nats://"+userinfo+"@", 1)
	}

	tests := []struct {
		name  string
		opts  bus.Options
		want  []string // in the error; none: Open succeeds
		never []string // never in the error
	}{
		{"token", bus.Options{URL: tokenSrv.ClientURL(), Token: token}, nil, nil},
		{"token in the URL", bus.Options{URL: withUser(tokenSrv, token)}, nil, nil},
		{"token in the URL wins over the key", bus.Options{URL: withUser(tokenSrv, token), Token: "wrong"}, nil, nil},
		{"wrong token", bus.Options{URL: tokenSrv.ClientURL(), Token: "wrong-" + token}, []string{
			"nats: Authorization Violation",
			"the server refused the credentials: check services.buses.main.token against the servers' authorization settings"}, []string{token}},
		{"wrong token in the URL", bus.Options{URL: withUser(tokenSrv, "wrong-"+token)}, []string{
			"nats://xxxxx@127.0.0.1:",
			"check the user or token in services.buses.main.url"}, []string{token}},
		{"no credentials", bus.Options{URL: tokenSrv.ClientURL()}, []string{
			"the server requires authentication: set services.buses.main.credentials, .nkey, .token, or .user and .password"}, nil},

		{"user and password", bus.Options{URL: userSrv.ClientURL(), User: "app", Password: password}, nil, nil},
		{"user and password in the URL win over the keys", bus.Options{URL: withUser(userSrv, "app:"+password), User: "app", Password: "wrong"}, nil, nil},
		{"wrong password", bus.Options{URL: userSrv.ClientURL(), User: "app", Password: "wrong-" + password}, []string{
			"nats: Authorization Violation",
			"check services.buses.main.user and services.buses.main.password"}, []string{password}},
		{"wrong password in the URL", bus.Options{URL: withUser(userSrv, "app:wrong-"+password)}, []string{
			"nats://app:xxxxx@127.0.0.1:", "check the user or token in services.buses.main.url"}, []string{password}},

		{"nkey", bus.Options{URL: nkeySrv.ClientURL(), NKey: nkeyFile}, nil, nil},
		{"an nkey the server does not know", bus.Options{URL: nkeySrv.ClientURL(), NKey: otherNKey}, []string{
			"nats: Authorization Violation", "check services.buses.main.nkey"}, nil},

		{"credentials", bus.Options{URL: jwtSrv.ClientURL(), Credentials: c.userCreds}, nil, nil},
		{"credentials of an unknown account", bus.Options{URL: jwtSrv.ClientURL(), Credentials: c.strangerCreds}, []string{
			"nats: Authorization Violation", "check services.buses.main.credentials"}, nil},
		{"a token for a server that wants credentials", bus.Options{URL: jwtSrv.ClientURL(), Token: token}, []string{
			"nats: Authorization Violation", "check services.buses.main.token"}, []string{token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			tt.opts.BusName = "main"
			b, err := openCase(t, tt.opts)
			if tt.want == nil {
				is.NoErr(err)
				is.True(b.Connected())
				is.True(!strings.Contains(b.RedactedURL(), token) && !strings.Contains(b.RedactedURL(), password))
				return
			}
			is.True(errors.Is(err, bus.ErrConnect))
			is.True(errors.Is(err, nats.ErrAuthorization))
			checkErr(t, err, tt.want, tt.never)
		})
	}
}

// TestSettingsCheckedBeforeConnecting: a file that cannot be used, or
// settings that do not go together, fail Open before any dial, with the
// key to fix.
func TestSettingsCheckedBeforeConnecting(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nkeyFile, _ := seedFile(t, dir, "app.nk")
	refused := fmt.Sprintf("nats://127.0.0.1:%d", testkit.FreePort(t))
	tests := []struct {
		name string
		opts bus.Options
		want []string
	}{
		{"missing CA", bus.Options{URL: refused, TLS: bus.TLS{CA: dir + "/none.pem"}}, []string{
			"bus: services.buses.main.tls.ca: nats: error loading or parsing rootCA file", "no such file or directory"}},
		{"CA that is not PEM", bus.Options{URL: refused, TLS: bus.TLS{CA: garbage}}, []string{
			"bus: services.buses.main.tls.ca: nats: failed to parse root certificate"}},
		{"key of another certificate", bus.Options{URL: refused, TLS: bus.TLS{Cert: p.clientCert, Key: p.rogueKey}}, []string{
			"bus: services.buses.main.tls.cert: nats: error loading client certificate: tls: private key does not match public key"}},
		{"cert without key", bus.Options{URL: refused, TLS: bus.TLS{Cert: p.clientCert}}, []string{
			"bus: services.buses.main.tls.key: required with tls.cert"}},
		{"missing credentials file", bus.Options{URL: refused, Credentials: dir + "/none.creds"}, []string{
			"bus: services.buses.main.credentials: nats: open " + dir + "/none.creds: no such file or directory"}},
		{"credentials file without a seed", bus.Options{URL: refused, Credentials: garbage}, []string{
			"bus: services.buses.main.credentials: unable to extract key pair from file " + fmt.Sprintf("%q", garbage) + ": nkeys: no nkey seed found"}},
		{"nkey file without a seed", bus.Options{URL: refused, NKey: garbage}, []string{
			"bus: services.buses.main.nkey: no usable user nkey seed in " + fmt.Sprintf("%q", garbage)}},
		{"credentials and a token", bus.Options{URL: refused, Credentials: garbage, Token: "t"}, []string{
			"bus: services.buses.main.token: cannot be used with credentials"}},
		{"embedded with TLS and a token", bus.Options{URL: "embedded", TLS: bus.TLS{CA: p.ca}, Token: "t", NKey: nkeyFile}, []string{
			`bus: services.buses.main: tls.ca, nkey, token not used with url "embedded"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			tt.opts.BusName = "main"
			_, err := bus.Open(context.Background(), tt.opts)
			is.True(!errors.Is(err, bus.ErrConnect)) // nothing was dialled
			checkErr(t, err, tt.want, nil)
		})
	}
}

// switchAuth accepts the token "tok-s3cr3t" while accept is true, and
// counts refusals.
type switchAuth struct {
	accept  atomic.Bool
	refused atomic.Int64
}

func (a *switchAuth) Check(c server.ClientAuthentication) bool {
	if a.accept.Load() && c.GetOpts().Token == "tok-s3cr3t" {
		return true
	}
	a.refused.Add(1)
	return false
}

// TestReconnectsWhileRefused: a server that refuses the credentials on
// reconnect (rotated on the server first, say) does not end the bus: it
// keeps trying, logs the refusal once without the secret, and is back when
// the server accepts again.
func TestReconnectsWhileRefused(t *testing.T) {
	is := is.New(t)
	auth := &switchAuth{}
	auth.accept.Store(true)
	s := startServer(t, &server.Options{CustomClientAuthentication: auth})
	logs := &testkit.Buffer{}
	reconnected := make(chan struct{}, 1)
	b := open(t, bus.Options{
		URL:         strings.Replace(s.ClientURL(), "nats://", "nats://tok-s3cr3t@", 1),
		BusName:     "main",
		Logger:      zerolog.New(logs),
		OnReconnect: func() { signal(reconnected) },
	})
	is.True(!strings.Contains(b.RedactedURL(), "tok-s3cr3t"))

	auth.accept.Store(false)
	cz, err := s.Connz(&server.ConnzOptions{})
	is.NoErr(err)
	is.Equal(len(cz.Conns), 1)
	is.NoErr(s.DisconnectClientByID(cz.Conns[0].Cid))
	// nats.go gives up after the same refusal twice, unless told not to.
	natstest.WaitFor(t, 4*wait, "three refused reconnects", func() bool { return auth.refused.Load() >= 3 })
	is.True(!b.Connected())
	is.True(!b.Conn().IsClosed()) // still trying

	auth.accept.Store(true)
	select {
	case <-reconnected:
	case <-time.After(wait):
		t.Fatalf("not reconnected within %s of the server accepting again", wait)
	}
	roundTrip(t, b)

	out := logs.String()
	t.Log(out)
	is.True(!strings.Contains(out, "tok-s3cr3t"))                                        // the token is never logged
	is.Equal(strings.Count(out, "refused the credentials"), 1)                           // once, not per attempt
	is.True(strings.Contains(out, "check the user or token in services.buses.main.url")) // says what to check
	is.True(strings.Contains(out, "nats://xxxxx@127.0.0.1:"))                            // the URL, redacted
}
